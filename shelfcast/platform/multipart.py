"""A write-only file that streams into one S3 multipart upload while the caller is still writing.

Parquet is encoded row group by row group; handing each full part to the store while the next
is being encoded overlaps the two, and no complete copy of the encoded object is ever held in
memory. The object appears only when :meth:`MultipartWriter.complete` succeeds (S3 makes a
multipart object visible whole, at completion); :meth:`MultipartWriter.abort` throws every
uploaded part away. An object smaller than one part is sent as a single PUT.

Only s3fs's public ``call_s3`` is used, so the endpoint, the credentials and the retries are
the same as for every other call shelfcast makes to the store.
"""

from __future__ import annotations

import concurrent.futures
import io
import logging

PART_BYTES = 8 * 1024 * 1024  # S3 parts must be at least 5 MiB, except the last
PARTS_IN_FLIGHT = 4  # bounds memory at about PART_BYTES * (PARTS_IN_FLIGHT + 1)

log = logging.getLogger(__name__)


class MultipartWriter(io.RawIOBase):
    """``write()`` bytes, then ``complete()`` to publish the object or ``abort()`` to drop it."""

    def __init__(
        self,
        fs,
        path: str,
        part_bytes: int = PART_BYTES,
        parts_in_flight: int = PARTS_IN_FLIGHT,
    ):
        super().__init__()
        self._fs = fs
        self._bucket, self._key, _ = fs.split_path(path)
        self._part_bytes = part_bytes
        self._parts_in_flight = parts_in_flight
        self._buffer = bytearray()
        self._position = 0
        self._upload_id: str | None = None
        self._parts: list[concurrent.futures.Future] = []
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self.failure: Exception | None = None  # what the store raised inside write()

    # -- the file protocol pyarrow writes through --------------------------------------------
    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def write(self, data) -> int:
        if self.failure is not None:  # pyarrow still writes its footer after a failed write
            raise self.failure
        view = memoryview(data).cast("B")
        self._buffer += view
        self._position += len(view)
        while len(self._buffer) >= self._part_bytes:
            part = bytes(self._buffer[: self._part_bytes])
            del self._buffer[: self._part_bytes]
            try:
                self._send(part)
            except Exception as error:
                # Whoever called write() (pyarrow) may wrap this; the owner finds it here.
                self.failure = error
                raise
        return len(view)

    # -- outcome -----------------------------------------------------------------------------
    def complete(self) -> int:
        """Publish the object; returns its size in bytes. Raises what the store raised."""
        if self.failure is not None:  # never publish what is left after a failed write
            raise self.failure
        if self._upload_id is None:
            self._call("put_object", Body=bytes(self._buffer))
        else:
            if self._buffer:
                self._send(bytes(self._buffer))
            etags = [future.result()["ETag"] for future in self._parts]
            self._call(
                "complete_multipart_upload",
                UploadId=self._upload_id,
                MultipartUpload={
                    "Parts": [{"PartNumber": n, "ETag": etag} for n, etag in enumerate(etags, 1)]
                },
            )
            self._upload_id = None
        self._release()
        return self._position

    def abort(self) -> None:
        """Drop everything uploaded so far; never raises (the caller is already failing)."""
        for future in self._parts:
            future.cancel()
        concurrent.futures.wait(self._parts)
        if self._upload_id is not None:
            try:
                self._call("abort_multipart_upload", UploadId=self._upload_id)
            except Exception as error:  # noqa: BLE001 - the original failure is what matters
                # An unfinished upload is invisible to readers; a bucket lifecycle rule
                # ("AbortIncompleteMultipartUpload") reclaims its parts.
                log.warning("could not abort the upload of s3://%s/%s: %s", *self._target(), error)
            self._upload_id = None
        self._release()

    # -- internals ---------------------------------------------------------------------------
    def _send(self, part: bytes) -> None:
        if self._upload_id is None:
            self._upload_id = self._call("create_multipart_upload")["UploadId"]
            self._pool = concurrent.futures.ThreadPoolExecutor(
                self._parts_in_flight, thread_name_prefix="shelfcast-upload"
            )
        self._raise_failed_part()
        assert self._pool is not None  # created with the upload, above
        self._parts.append(
            self._pool.submit(
                self._call,
                "upload_part",
                UploadId=self._upload_id,
                PartNumber=len(self._parts) + 1,
                Body=part,
            )
        )
        pending = [future for future in self._parts if not future.done()]
        if len(pending) > self._parts_in_flight:
            concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)

    def _raise_failed_part(self) -> None:
        """Stop writing at the first failed part instead of encoding the rest for nothing."""
        for future in self._parts:
            failure = future.exception() if future.done() else None
            if failure is not None:
                raise failure

    def _call(self, method: str, **kwargs):
        return self._fs.call_s3(method, Bucket=self._bucket, Key=self._key, **kwargs)

    def _target(self) -> tuple[str, str]:
        return self._bucket, self._key

    def _release(self) -> None:
        self._buffer = bytearray()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
