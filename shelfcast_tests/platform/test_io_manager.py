"""The Parquet IO manager: Hive-style paths, validation on load, clear errors on bad objects."""

from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pytest
from dagster import (
    AssetIn,
    DagsterInstance,
    MonthlyPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
    StaticPartitionsDefinition,
    asset,
    materialize,
)
from pandera.typing.pandas import Series

from shelfcast.platform.io_manager import ParquetIOManager
from shelfcast.platform.storage import as_upath

partitions = MultiPartitionsDefinition(
    {
        "market": StaticPartitionsDefinition(["US", "GB"]),
        "month": MonthlyPartitionsDefinition(start_date="2024-01-01"),
    }
)
KEY = MultiPartitionKey({"market": "US", "month": "2024-03-01"})


class Numbers(pa.DataFrameModel):
    n: Series[int] = pa.Field(ge=0)

    class Config:
        strict = True
        coerce = True


@asset(partitions_def=partitions)
def numbers() -> pd.DataFrame:
    return pd.DataFrame({"n": [1, 2, 3]})


@asset(partitions_def=partitions, ins={"numbers": AssetIn()})
def doubled(numbers: pd.DataFrame) -> pd.DataFrame:
    return numbers * 2


def run(tmp_path: Path, selection, instance=None):
    manager = ParquetIOManager(as_upath(tmp_path / "lake"), {"numbers": Numbers})
    return materialize(
        selection,
        partition_key=str(KEY),
        resources={"io_manager": manager},
        instance=instance or DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def test_each_partition_is_one_parquet_object_at_a_hive_style_key(tmp_path: Path):
    assert run(tmp_path, [numbers, doubled]).success
    stored = sorted(
        str(p.relative_to(tmp_path / "lake")) for p in (tmp_path / "lake").rglob("*") if p.is_file()
    )
    assert stored == [
        "doubled/market=US/month=2024-03.parquet",
        "numbers/market=US/month=2024-03.parquet",
    ]
    assert pd.read_parquet(tmp_path / "lake/doubled/market=US/month=2024-03.parquet")[
        "n"
    ].tolist() == [2, 4, 6]


def test_an_input_that_breaks_its_contract_fails_the_downstream_load(tmp_path: Path):
    instance = DagsterInstance.ephemeral()
    assert run(tmp_path, [numbers, doubled], instance).success
    stored = tmp_path / "lake/numbers/market=US/month=2024-03.parquet"
    pd.DataFrame({"n": [1, -5]}).to_parquet(stored)  # drifted upstream data
    result = run(tmp_path, [numbers.to_source_asset(), doubled], instance)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    description = failure.step_failure_data.user_failure_data.description
    assert "numbers loaded from" in description and "market=US/month=2024-03" in description
    assert "column 'n' fails check greater_than_or_equal_to(0)" in description


def test_an_object_that_is_not_parquet_fails_with_asset_and_path(tmp_path: Path):
    instance = DagsterInstance.ephemeral()
    assert run(tmp_path, [numbers, doubled], instance).success
    (tmp_path / "lake/numbers/market=US/month=2024-03.parquet").write_bytes(b"not parquet")
    result = run(tmp_path, [numbers.to_source_asset(), doubled], instance)
    failure = next(e for e in result.all_events if e.is_step_failure)
    description = failure.step_failure_data.user_failure_data.description
    assert "numbers at" in description and "is not a readable Parquet file" in description


def test_a_non_frame_output_is_refused(tmp_path: Path):
    @asset(partitions_def=partitions, name="numbers")
    def not_a_frame():
        return {"n": 1}

    with pytest.raises(Exception, match="stores pandas DataFrames only"):
        materialize(
            [not_a_frame],
            partition_key=str(KEY),
            resources={"io_manager": ParquetIOManager(as_upath(tmp_path), {})},
        )
