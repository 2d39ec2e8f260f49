"""Landing zone: files dropped by upstream systems under ``<landing>/<dataset>/<dim>=<value>/...``.

A drop is every CSV or Parquet file in one partition folder, read into one frame. Files whose
name starts with ``.`` or ``_`` (temporary uploads, ``_SUCCESS`` markers) are ignored. The landing
zone may be a local folder or any fsspec URL; on S3 listings are never cached (see
``storage.as_upath``), so a drop that arrives while a process runs is seen by its next listing.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
from collections.abc import Mapping

import pandas as pd
from pyarrow import ArrowException
from upath import UPath

from shelfcast.errors import UserError
from shelfcast.platform.storage import (
    frame_to_parquet_bytes,
    object_store_errors,
    write_bytes_atomic,
)

DROP_FORMATS = {".csv", ".parquet"}


class MissingDropError(UserError, FileNotFoundError):
    """No landing files where a partition's drop should be."""


def is_drop_file(name: str) -> bool:
    """A data file of a drop (not a temporary upload or a marker)."""
    return posixpath.splitext(name)[1].lower() in DROP_FORMATS and name[:1] not in ("", ".", "_")


def drop_files(folder: UPath) -> list[UPath]:
    """The data files of one drop, sorted by name (none when the folder does not exist).

    A landing bucket that does not exist, or a store that cannot be reached, is a StorageError:
    it must not look like a drop that has not arrived yet.
    """
    try:
        with object_store_errors(folder, "list"):
            entries = list(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        entries = []
    return sorted((p for p in entries if is_drop_file(p.name)), key=lambda p: p.name)


def drop_versions(objects: Mapping[str, str]) -> dict[str, str]:
    """Each drop folder with one version string, from ``{file key: ETag or mtime}``.

    A drop's version changes whenever one of its data files is added, replaced or removed, so a
    re-delivered drop is noticed; markers and temporary uploads do not count.
    """
    files: dict[str, list[str]] = {}
    for key, version in objects.items():
        folder, name = posixpath.split(key.strip("/"))
        if folder and is_drop_file(name):
            files.setdefault(folder, []).append(f"{name}:{version}")
    return {
        folder: hashlib.sha256("\n".join(sorted(entries)).encode()).hexdigest()[:16]
        for folder, entries in files.items()
    }


class DropReadError(UserError, ValueError):
    """A landing file cannot be read: empty, corrupt, or not the format its name says."""


def read_drop(folder: UPath) -> pd.DataFrame:
    """Read all files of a drop into one frame.

    CSV cells are read as text, exactly as written (``000103`` stays ``000103``, ``2.5`` stays
    ``2.5``), so that cleaning types each column by its contract instead of pandas guessing;
    Parquet keeps its own types. An empty or unreadable file is refused by name.
    """
    files = drop_files(folder)
    if not files:
        raise MissingDropError(
            f"no landing files under {folder} (expected *.csv or *.parquet); "
            "upload the drop or generate demo data with `shelfcast data generate`"
        )
    frames = []
    for file in files:
        with object_store_errors(file, "read"):
            data = file.read_bytes()
        frames.append(_read_file(file, data))
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _read_file(file: UPath, data: bytes) -> pd.DataFrame:
    if not data:
        raise DropReadError(f"landing file {file} is empty (0 bytes); upload it again")
    try:
        if file.suffix.lower() == ".csv":
            return pd.read_csv(
                io.BytesIO(data), dtype=str, keep_default_na=False, skipinitialspace=True
            )
        return pd.read_parquet(io.BytesIO(data))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DropReadError(f"landing file {file} is not readable CSV ({error})") from None
    except (ArrowException, OSError, ValueError) as error:
        raise DropReadError(
            f"landing file {file} is not a readable Parquet file ({error})"
        ) from None


def landed_months(root: UPath, dataset: str, market: str) -> list[str]:
    """The months (``YYYY-MM``) with a drop folder for ``market``, from one listing."""
    folder = root / dataset / f"market={market}"
    try:
        with object_store_errors(folder, "list"):
            names = [entry.name for entry in folder.iterdir()]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(n.split("=", 1)[1] for n in names if n.startswith("month=") and len(n) == 13)


def write_drop(
    folder: UPath, name: str, frame: pd.DataFrame, file_format: str = "parquet"
) -> UPath:
    """Write one drop file atomically (used by the demo data generator and tests)."""
    if file_format not in ("csv", "parquet"):
        raise ValueError(f"unknown landing format {file_format!r}: use csv or parquet")
    path = folder / f"{name}.{file_format}"
    if file_format == "csv":
        data = frame.to_csv(index=False, date_format="%Y-%m-%d").encode()
    else:
        data = frame_to_parquet_bytes(frame)
    write_bytes_atomic(path, data)
    return path
