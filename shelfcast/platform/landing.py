"""Landing zone: files dropped by upstream systems under ``<landing>/<dataset>/<dim>=<value>/...``.

A drop is every CSV or Parquet file in one partition folder, read into one frame. Files whose
name starts with ``.`` or ``_`` (temporary uploads, ``_SUCCESS`` markers) are ignored.
"""

from __future__ import annotations

import io

import pandas as pd
from upath import UPath

from shelfcast.platform.storage import frame_to_parquet_bytes, write_bytes_atomic

DROP_FORMATS = {".csv", ".parquet"}


class MissingDropError(FileNotFoundError):
    """No landing files where a partition's drop should be."""


def drop_files(folder: UPath) -> list[UPath]:
    """The data files of one drop, sorted by name."""
    try:
        entries = list(folder.iterdir()) if folder.exists() else []
    except FileNotFoundError:
        entries = []
    return sorted(
        (p for p in entries if p.suffix.lower() in DROP_FORMATS and p.name[0] not in "._"),
        key=lambda p: p.name,
    )


def read_drop(folder: UPath) -> pd.DataFrame:
    """Read all files of a drop into one frame (columns as written; cleaning types them)."""
    files = drop_files(folder)
    if not files:
        raise MissingDropError(
            f"no landing files under {folder} (expected *.csv or *.parquet); "
            "upload the drop or generate demo data with `shelfcast data generate`"
        )
    frames = []
    for file in files:
        with file.open("rb") as handle:
            data = handle.read()
        if file.suffix.lower() == ".csv":
            frames.append(pd.read_csv(io.BytesIO(data)))
        else:
            frames.append(pd.read_parquet(io.BytesIO(data)))
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


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
