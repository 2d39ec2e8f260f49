"""Object-storage paths and writes that a reader never sees half-done.

Any fsspec URL works: a local folder, ``s3://bucket/prefix``, ``gs://``, ``az://``. On object
stores an object becomes visible only when complete (one PUT, or a multipart upload at its
completion), so a reader never sees half an object; on a local disk the bytes go to a hidden
temporary file in the same folder first and are renamed into place.

S3 is configured only by the standard AWS settings: the endpoint from ``AWS_ENDPOINT_URL`` (or
``AWS_ENDPOINT_URL_S3``), which the installed botocore honours, and credentials from the standard
chain (environment, ``~/.aws``, instance or pod role). Nothing here reads a key from a file of
ours. Failures of the store itself become one StorageError that names the endpoint and the
bucket, never a credential.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import uuid
from collections.abc import Iterator
from typing import BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from upath import UPath

from shelfcast.errors import UserError
from shelfcast.platform.multipart import MultipartWriter

if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
    # Arrow's default allocator (mimalloc) keeps the pages it frees: after a 24-month window of
    # 20,000 products was read and converted, the process held ~0.5 GB it no longer used, which
    # the next step could not give back. jemalloc returns them (peak RSS 3.05 → 2.66 GB warm),
    # at once with no decay delay (a loaded history is freed before the partition runs).
    with contextlib.suppress(NotImplementedError):
        pa.set_memory_pool(pa.jemalloc_memory_pool())
        pa.jemalloc_set_decay_ms(0)

PARQUET_COMPRESSION = "zstd"


class StorageError(UserError, OSError):
    """The object store refused or could not be reached: a setup problem, not a bug."""


def as_upath(url: str | os.PathLike[str]) -> UPath:
    """A UPath for a URL or local path; local paths are made absolute."""
    text = os.fspath(url)
    if "://" not in text:
        return UPath(os.path.abspath(os.path.expanduser(text)))
    if text.startswith("file://"):
        return UPath(text)
    # fsspec caches directory listings per process: a long-lived process (the sensor, a code
    # server) would not see a drop that arrived after its first listing.
    return UPath(text, use_listings_cache=False)


def is_local(path: UPath) -> bool:
    return path.protocol in ("", "file", "local")


@contextlib.contextmanager
def atomic_writer(path: UPath) -> Iterator[BinaryIO]:
    """A binary file whose bytes appear at ``path`` all at once when the block ends without error.

    Readers see the old object or the new one, never a part, and a failure inside the block
    leaves the old object (or none) in place. Locally the bytes go to a hidden temporary file in
    the same folder, which is renamed into place. On S3 they stream into a multipart upload that
    is completed at the end or aborted; on other object stores they are sent in one PUT. No
    "directory" is created on an object store: on S3 that would create a missing bucket instead
    of failing.
    """
    if is_local(path):
        with _local_atomic_writer(path.path) as handle:
            yield handle
        return
    if path.protocol not in ("s3", "s3a"):
        buffer = io.BytesIO()
        yield buffer
        with object_store_errors(path, "write", missing_is_error=True):
            path.fs.pipe_file(path.path, buffer.getvalue())
        return
    writer = MultipartWriter(path.fs, path.path)
    try:
        yield writer  # type: ignore[misc]  # a binary sink: write(), like a file
        with object_store_errors(path, "write", missing_is_error=True):
            writer.complete()
    except BaseException as error:
        writer.abort()
        if writer.failure is not None and _caused_by(error, writer.failure):
            # The store failed under the caller's write(): report it as the store's failure.
            with object_store_errors(path, "write", missing_is_error=True):
                raise writer.failure from None
        raise


def _caused_by(error: BaseException, cause: BaseException) -> bool:
    """``error`` is ``cause``, or was raised while handling it or because of it."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if current is cause:
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


# A local disk's own refusals: the user fixes these (free space, permissions), not the code.
_DISK_ERRORS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
}


@contextlib.contextmanager
def _local_atomic_writer(target: str) -> Iterator[BinaryIO]:
    temporary = os.path.join(
        os.path.dirname(target), f".{os.path.basename(target)}.{uuid.uuid4().hex}.tmp"
    )
    try:
        with _disk_errors(target):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(temporary, "wb") as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


@contextlib.contextmanager
def _disk_errors(target: str) -> Iterator[None]:
    try:
        yield
    except OSError as error:
        reason = _DISK_ERRORS.get(error.errno or 0)
        if reason is None or isinstance(error, StorageError):
            raise
        raise StorageError(
            f"cannot write {target}: {reason}; nothing was written (the previous version, if "
            "any, is intact). Free space or fix the permissions, or point the location elsewhere"
        ) from None


def write_bytes_atomic(path: UPath, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old object or the new one, never a part."""
    with atomic_writer(path) as handle:
        handle.write(data)


def write_parquet(frame: pd.DataFrame, sink) -> None:
    """Parquet (zstd) of a frame, without the pandas index, encoded straight into ``sink``."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, sink, compression=PARQUET_COMPRESSION)


def frame_to_parquet_bytes(frame: pd.DataFrame) -> bytes:
    """Parquet (zstd) bytes of a frame, without the pandas index."""
    sink = pa.BufferOutputStream()
    write_parquet(frame, sink)
    return sink.getvalue().to_pybytes()


def write_parquet_atomic(path: UPath, frame: pd.DataFrame) -> int:
    """Store a frame as one Parquet object, streamed as it is encoded; returns the bytes written."""
    with atomic_writer(path) as handle:
        write_parquet(frame, handle)
        return handle.tell()


def read_parquet(path: UPath, columns: list[str] | None = None) -> pd.DataFrame:
    """Read one Parquet object (or some of its columns); FileNotFoundError when it does not exist.

    From an object store the whole object comes in one GET and is parsed from memory, so a
    network failure (StorageError) is never confused with a corrupt file (pyarrow's error).
    """
    return arrow_to_pandas(read_arrow(path, columns))


def read_arrow(path: UPath, columns: list[str] | None = None) -> pa.Table:
    """:func:`read_parquet`, as the Arrow table: tables of a window are concatenated without
    a copy and converted to pandas once (:func:`tables_to_pandas`)."""
    if is_local(path):
        with open(path.path, "rb") as handle:
            return pq.read_table(handle, columns=columns)
    with object_store_errors(path, "read"):
        data = path.fs.cat_file(path.path)
    return pq.read_table(pa.BufferReader(data), columns=columns)


def tables_to_pandas(tables: dict[str, pa.Table]) -> pd.DataFrame | None:
    """Tables of one schema as one frame, in order, each column converted once and its Arrow
    memory freed as it is, so the tables and the frame are never in memory together; empties
    ``tables`` (their buffers are the frame's now). None, leaving ``tables`` as they are, when
    the tables' columns differ or some table alone would convert to other dtypes (the pandas
    metadata of one table cannot describe the others' rows, so it is dropped)."""
    listed = list(tables.values())
    if not listed:
        return None
    bare = [_large_strings(t.replace_schema_metadata(None)) for t in listed]
    if any(not t.schema.equals(bare[0].schema) for t in bare[1:]):
        return None
    expected = arrow_to_pandas(bare[0].slice(0, 0)).dtypes
    if any(not arrow_to_pandas(t.slice(0, 0)).dtypes.equals(expected) for t in listed):
        return None
    joined = pa.concat_tables(bare)
    del listed, bare
    tables.clear()
    return arrow_to_pandas(joined)


def _large_strings(table: pa.Table) -> pa.Table:
    """Text columns as ``large_string``, the type pandas' Arrow strings hold: a writer may
    store ``string`` or ``large_string`` for the same column, and the two do not concatenate."""
    schema = pa.schema(
        [f.with_type(pa.large_string()) if f.type == pa.string() else f for f in table.schema]
    )
    return table if schema.equals(table.schema) else table.cast(schema)


def arrow_to_pandas(table: pa.Table) -> pd.DataFrame:
    # One block per column, each Arrow column freed once converted: about a fifth faster than
    # the default and without a second full copy of the frame in memory. Text stays in Arrow
    # (pandas' "string[pyarrow]"): no Python object per value, vectorised string operations.
    return table.to_pandas(split_blocks=True, self_destruct=True, types_mapper=_arrow_strings)


_ARROW_STRING = pd.StringDtype("pyarrow")


def _arrow_strings(arrow_type: pa.DataType):
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return _ARROW_STRING
    return None


# -- errors ---------------------------------------------------------------------------------


@contextlib.contextmanager
def object_store_errors(path: UPath, action: str, missing_is_error: bool = False) -> Iterator[None]:
    """Turn what the store raises into one StorageError naming endpoint and bucket.

    A missing object stays a FileNotFoundError (callers treat it as "not materialized yet")
    unless ``missing_is_error`` (a write: nothing should be missing); a missing bucket is a
    StorageError, so it is never mistaken for a missing partition.
    """
    if is_local(path):
        yield
        return
    try:
        yield
    except StorageError:
        raise
    except (FileNotFoundError, NotADirectoryError):
        if not _bucket_exists(path):
            raise StorageError(_message(path, action, "the bucket does not exist")) from None
        if missing_is_error:
            raise StorageError(
                _message(path, action, "the store lost the upload (aborted from outside?)")
            ) from None
        raise
    except Exception as error:  # noqa: BLE001 - everything the store raises is reported alike
        raise StorageError(_message(path, action, _reason(error))) from None


def endpoint_of(path: UPath) -> str:
    """The endpoint the client of ``path`` talks to, for messages."""
    if path.protocol not in ("s3", "s3a"):
        return f"{path.protocol}://"
    client = getattr(path.fs, "s3", None)  # set once s3fs has connected
    endpoint = getattr(getattr(client, "meta", None), "endpoint_url", None)
    return (
        endpoint
        or os.environ.get("AWS_ENDPOINT_URL_S3")
        or os.environ.get("AWS_ENDPOINT_URL")
        or "the AWS default endpoint"
    )


def bucket_of(path: UPath) -> str:
    return path.path.split("/", 1)[0]


def _bucket_exists(path: UPath) -> bool:
    try:
        return bool(path.fs.exists(bucket_of(path)))
    except Exception:  # noqa: BLE001 - unreachable or forbidden: report the original error
        return True


def _message(path: UPath, action: str, reason: str) -> str:
    return (
        f"cannot {action} {path.protocol}://{path.path}: {reason} "
        f"(endpoint {endpoint_of(path)}, bucket {bucket_of(path)})"
    )


def _reason(error: Exception) -> str:
    text = _redact(str(error))
    name = type(error).__name__
    if name in ("EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError") or (
        isinstance(error, ConnectionError)
    ):
        return "the object store is unreachable (is the server running, is the endpoint right?)"
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        return (
            "no credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "AWS_PROFILE, or give the machine a role"
        )
    if isinstance(error, PermissionError):
        return f"access denied ({text}): check the credentials and the bucket's policy"
    return f"{name}: {text}"


def _redact(text: str) -> str:
    """Belt and braces: no error text leaves here with a secret in it."""
    for variable in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        secret = os.environ.get(variable)
        if secret:
            text = text.replace(secret, "***")
    return text
