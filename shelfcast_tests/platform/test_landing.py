"""Landing drops: CSV and Parquet files of one partition folder, read as one frame."""

from pathlib import Path

import pandas as pd
import pytest

from shelfcast.platform.landing import DropReadError, MissingDropError, read_drop, write_drop
from shelfcast.platform.storage import as_upath


def test_csv_and_parquet_files_of_a_drop_are_read_together(tmp_path: Path):
    folder = as_upath(tmp_path / "sales" / "market=US" / "month=2024-03")
    write_drop(folder, "part-1", pd.DataFrame({"product_id": ["A"], "units": [1]}), "csv")
    write_drop(folder, "part-2", pd.DataFrame({"product_id": ["B"], "units": [2]}), "parquet")
    (tmp_path / "sales" / "market=US" / "month=2024-03" / "_SUCCESS").write_text("")
    drop = read_drop(folder)
    assert sorted(drop["product_id"]) == ["A", "B"]
    assert sorted(drop["units"].astype(str)) == ["1", "2"]  # CSV cells stay text until typed


def test_csv_cells_are_read_as_written_so_ids_keep_their_zeros(tmp_path: Path):
    folder = as_upath(tmp_path / "sales" / "market=US" / "month=2024-03")
    (tmp_path / "sales" / "market=US" / "month=2024-03").mkdir(parents=True)
    (tmp_path / "sales" / "market=US" / "month=2024-03" / "a.csv").write_text(
        "product_id,units\n000103,2.5\n"
    )
    drop = read_drop(folder)
    assert drop.loc[0, "product_id"] == "000103" and drop.loc[0, "units"] == "2.5"


@pytest.mark.parametrize(
    "content, expected",
    [(b"", r"is empty \(0 bytes\)"), (b"PAR1 garbage", "is not a readable Parquet file")],
)
def test_an_empty_or_corrupt_file_is_refused_by_name(tmp_path: Path, content, expected):
    folder = tmp_path / "sales" / "market=US" / "month=2024-03"
    folder.mkdir(parents=True)
    (folder / "part-1.parquet").write_bytes(content)
    with pytest.raises(DropReadError, match=expected) as refused:
        read_drop(as_upath(folder))
    assert "part-1.parquet" in str(refused.value)


def test_a_missing_drop_says_where_it_looked(tmp_path: Path):
    folder = as_upath(tmp_path / "sales" / "market=US" / "month=2024-03")
    with pytest.raises(MissingDropError, match="no landing files under .*market=US/month=2024-03"):
        read_drop(folder)
