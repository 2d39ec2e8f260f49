"""Atomic writes and Parquet round trips on a local folder."""

from pathlib import Path

import pandas as pd
import pytest

from shelfcast.platform.storage import (
    as_upath,
    read_parquet,
    write_bytes_atomic,
    write_parquet_atomic,
)


def test_parquet_round_trip_keeps_dtypes(tmp_path: Path):
    frame = pd.DataFrame(
        {
            "a": [1, 2],
            "b": [0.5, 1.5],
            "c": ["x", "y"],
            "d": pd.to_datetime(["2024-01-01", "2024-01-02"]),
        }
    )
    path = as_upath(tmp_path / "t" / "frame.parquet")
    size = write_parquet_atomic(path, frame)
    assert size == (tmp_path / "t" / "frame.parquet").stat().st_size
    back = read_parquet(path)
    assert back["c"].dtype == pd.StringDtype("pyarrow")  # text comes back Arrow-backed
    pd.testing.assert_frame_equal(back, frame.astype({"c": "string[pyarrow]"}))


def test_atomic_write_replaces_whole_and_leaves_no_temporary_file(tmp_path: Path):
    path = as_upath(tmp_path / "object.bin")
    write_bytes_atomic(path, b"old")
    write_bytes_atomic(path, b"new content")
    assert (tmp_path / "object.bin").read_bytes() == b"new content"
    assert [p.name for p in tmp_path.iterdir()] == ["object.bin"]


def test_a_failed_write_keeps_the_previous_object(tmp_path: Path, monkeypatch):
    path = as_upath(tmp_path / "object.bin")
    write_bytes_atomic(path, b"good")

    def broken_replace(*_):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_bytes_atomic(path, b"half")
    assert (tmp_path / "object.bin").read_bytes() == b"good"
    assert [p.name for p in tmp_path.iterdir()] == ["object.bin"]
