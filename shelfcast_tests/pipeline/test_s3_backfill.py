"""A single-run backfill from the shell writes one S3 object per partition."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_dagster_partition_range_writes_one_object_per_month_on_s3(s3_workspace, tmp_path):
    space = s3_workspace
    home = tmp_path / "dagster_home"
    home.mkdir()
    completed = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            *("asset", "materialize", "-m", "shelfcast.definitions", "--select", "sales"),
            *("--partition-range", "US|2024-01-01...US|2024-03-01"),
        ],
        env={**os.environ, "DAGSTER_HOME": str(home)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "RUN_SUCCESS" in completed.stderr + completed.stdout
    months = ["2024-01", "2024-02", "2024-03"]
    assert sorted(k for k in space.lake_keys() if not k.startswith("_")) == [
        f"sales/market=US/month={month}.parquet" for month in months
    ]
    for month in months:
        frame = space.read("sales", "US", month)
        assert frame["month"].unique().tolist() == [month]
        assert frame["date"].dt.strftime("%Y-%m").eq(month).all()
        assert len(frame) > 0
