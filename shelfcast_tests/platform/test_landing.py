"""Landing drops: CSV and Parquet files of one partition folder, read as one frame."""

from pathlib import Path

import pandas as pd
import pytest

from shelfcast.platform.landing import MissingDropError, read_drop, write_drop
from shelfcast.platform.storage import as_upath


def test_csv_and_parquet_files_of_a_drop_are_read_together(tmp_path: Path):
    folder = as_upath(tmp_path / "sales" / "market=US" / "month=2024-03")
    write_drop(folder, "part-1", pd.DataFrame({"product_id": ["A"], "units": [1]}), "csv")
    write_drop(folder, "part-2", pd.DataFrame({"product_id": ["B"], "units": [2]}), "parquet")
    (tmp_path / "sales" / "market=US" / "month=2024-03" / "_SUCCESS").write_text("")
    drop = read_drop(folder)
    assert sorted(drop["product_id"]) == ["A", "B"]
    assert drop["units"].sum() == 3


def test_a_missing_drop_says_where_it_looked(tmp_path: Path):
    folder = as_upath(tmp_path / "sales" / "market=US" / "month=2024-03")
    with pytest.raises(MissingDropError, match="no landing files under .*market=US/month=2024-03"):
        read_drop(folder)
