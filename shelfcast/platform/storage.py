"""Object-storage paths and writes that a reader never sees half-done.

Any fsspec URL works: a local folder, ``s3://bucket/prefix``, ``gs://``, ``az://``. On object
stores a PUT becomes visible only when complete, so writing the whole object at once is atomic;
on a local disk the bytes go to a hidden temporary file in the same folder first and are renamed
into place.
"""

from __future__ import annotations

import io
import os
import uuid

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from upath import UPath

PARQUET_COMPRESSION = "zstd"


def as_upath(url: str | os.PathLike[str]) -> UPath:
    """A UPath for a URL or local path; local paths are made absolute."""
    text = os.fspath(url)
    if "://" not in text:
        return UPath(os.path.abspath(os.path.expanduser(text)))
    return UPath(text)


def is_local(path: UPath) -> bool:
    return path.protocol in ("", "file", "local")


def write_bytes_atomic(path: UPath, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old object or the new one, never a part."""
    if is_local(path):
        target = path.path
        os.makedirs(os.path.dirname(target), exist_ok=True)
        temporary = os.path.join(
            os.path.dirname(target), f".{os.path.basename(target)}.{uuid.uuid4().hex}.tmp"
        )
        try:
            with open(temporary, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        finally:
            if os.path.exists(temporary):
                os.remove(temporary)
    else:
        # One PUT (or one completed multipart upload): the object appears only when whole.
        path.fs.pipe_file(path.path, data)


def frame_to_parquet_bytes(frame: pd.DataFrame) -> bytes:
    """Parquet (zstd) bytes of a frame, without the pandas index."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression=PARQUET_COMPRESSION)
    return sink.getvalue()


def write_parquet_atomic(path: UPath, frame: pd.DataFrame) -> int:
    """Store a frame as one Parquet object; returns the bytes written."""
    data = frame_to_parquet_bytes(frame)
    write_bytes_atomic(path, data)
    return len(data)


def read_parquet(path: UPath) -> pd.DataFrame:
    """Read one Parquet object; raises FileNotFoundError when it does not exist."""
    with path.open("rb") as handle:
        return pq.read_table(handle).to_pandas()
