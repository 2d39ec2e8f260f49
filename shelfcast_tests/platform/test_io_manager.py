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
    SourceAsset,
    StaticPartitionsDefinition,
    asset,
    materialize,
)
from pandera.typing.pandas import Series

from shelfcast.pipeline.partitions import trailing_months
from shelfcast.platform.io_manager import CONTRACT_KEY, ParquetIOManager, contract_name
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


@asset(partitions_def=partitions, metadata={CONTRACT_KEY: contract_name(Numbers)})
def numbers() -> pd.DataFrame:
    return pd.DataFrame({"n": [1, 2, 3]})


@asset(partitions_def=partitions, ins={"numbers": AssetIn()})
def doubled(numbers: pd.DataFrame) -> pd.DataFrame:
    return numbers * 2


def run(tmp_path: Path, selection, instance=None):
    manager = ParquetIOManager(as_upath(tmp_path / "lake"))
    return materialize(
        selection,
        partition_key=str(KEY),
        resources={"io_manager": manager},
        instance=instance or DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def first_failure(result) -> str:
    """The failed run's first step failure, as the user reads it."""
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    return failure.step_failure_data.user_failure_data.description


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
    description = first_failure(result)
    assert "numbers loaded from" in description and "market=US/month=2024-03" in description
    assert "column 'n' fails check greater_than_or_equal_to(0)" in description


def test_an_object_that_is_not_parquet_fails_with_asset_and_path(tmp_path: Path):
    instance = DagsterInstance.ephemeral()
    assert run(tmp_path, [numbers, doubled], instance).success
    (tmp_path / "lake/numbers/market=US/month=2024-03.parquet").write_bytes(b"not parquet")
    result = run(tmp_path, [numbers.to_source_asset(), doubled], instance)
    description = first_failure(result)
    assert "numbers at" in description and "is not a readable Parquet file" in description


def test_a_non_frame_output_is_refused(tmp_path: Path):
    @asset(partitions_def=partitions, name="numbers")
    def not_a_frame():
        return {"n": 1}

    with pytest.raises(Exception, match="stores pandas DataFrames only"):
        materialize(
            [not_a_frame],
            partition_key=str(KEY),
            resources={"io_manager": ParquetIOManager(as_upath(tmp_path))},
        )


# -- windows of partitions ----------------------------------------------------------------------


class Monthly(pa.DataFrameModel):
    """Row checks and a uniqueness over rows only: a window may be validated as one frame."""

    month: Series[str]
    n: Series[int] = pa.Field(ge=0)
    flag: Series[bool]

    class Config:
        strict = True
        coerce = True
        unique = ["n"]
        metadata = {"rows_checked_alone": True}


@asset(
    partitions_def=partitions,
    ins={
        "window": AssetIn(
            "monthly",
            partition_mapping=trailing_months(3),
            metadata={"allow_missing_partitions": True},
        )
    },
)
def window_summary(window: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "partition": list(window),
            "months": [",".join(frame["month"].unique()) for frame in window.values()],
            "n": [",".join(map(str, frame["n"])) for frame in window.values()],
            "dtype": [str(frame["n"].dtype) for frame in window.values()],
        }
    )


def store_months(tmp_path: Path, rows: dict[str, list]) -> None:
    """The upstream `monthly` partitions of market US, written as a drifting producer would."""
    for month, values in rows.items():
        folder = tmp_path / "lake" / "monthly" / "market=US"
        folder.mkdir(parents=True, exist_ok=True)
        frame = pd.DataFrame({"month": month, "n": [float(v) for v in values], "flag": False})
        frame.to_parquet(folder / f"month={month}.parquet")


def run_window(tmp_path: Path):
    monthly = SourceAsset(
        "monthly", partitions_def=partitions, metadata={CONTRACT_KEY: contract_name(Monthly)}
    )
    manager = ParquetIOManager(as_upath(tmp_path / "lake"))
    return materialize(
        [monthly, window_summary],
        partition_key=str(KEY),
        resources={"io_manager": manager},
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def summary(tmp_path: Path) -> pd.DataFrame:
    return pd.read_parquet(tmp_path / "lake/window_summary/market=US/month=2024-03.parquet")


def test_a_window_is_validated_once_and_each_partition_gets_its_own_coerced_rows(
    tmp_path: Path, monkeypatch
):
    store_months(tmp_path, {"2024-01": [1, 2], "2024-02": [3], "2024-03": [4, 5, 6]})
    calls = []
    original = pa.DataFrameSchema.validate

    def counted(schema, df, *args, **kwargs):
        if schema.name == "Monthly":
            calls.append(len(df))
        return original(schema, df, *args, **kwargs)

    monkeypatch.setattr(pa.DataFrameSchema, "validate", counted)
    assert run_window(tmp_path).success
    assert calls == [6]  # one validation of the whole window, not one per month
    rows = summary(tmp_path).set_index("months")
    assert rows["n"].to_dict() == {"2024-01": "1,2", "2024-02": "3", "2024-03": "4,5,6"}
    assert set(rows["dtype"]) == {"int64"}  # stored as floats, coerced by the contract


def test_a_bad_month_in_a_window_fails_naming_that_month(tmp_path: Path):
    store_months(tmp_path, {"2024-01": [1, 2], "2024-02": [3, -1], "2024-03": [4]})
    result = run_window(tmp_path)
    description = first_failure(result)
    assert "monthly loaded from" in description and "market=US/month=2024-02" in description
    assert "column 'n' fails check greater_than_or_equal_to(0): 1 failing value(s)" in description


def test_a_window_that_fails_only_as_a_whole_still_loads_month_by_month(tmp_path: Path):
    # n is unique within each month but repeats across months: each partition keeps its contract.
    store_months(tmp_path, {"2024-01": [1, 2], "2024-02": [1], "2024-03": [2, 3]})
    assert run_window(tmp_path).success
    assert summary(tmp_path).set_index("months")["n"].to_dict() == {
        "2024-01": "1,2",
        "2024-02": "1",
        "2024-03": "2,3",
    }


def test_missing_months_of_a_window_are_skipped_when_the_input_allows_it(tmp_path: Path):
    store_months(tmp_path, {"2024-01": [1], "2024-03": [2]})
    assert run_window(tmp_path).success
    assert sorted(summary(tmp_path)["months"]) == ["2024-01", "2024-03"]


def test_a_month_missing_a_column_fails_even_where_the_window_could_fill_it(tmp_path: Path):
    # Concatenated, the gap would be NaN, which the contract's bool coercion turns into True.
    store_months(tmp_path, {"2024-01": [1], "2024-02": [2], "2024-03": [3]})
    stored = tmp_path / "lake/monthly/market=US/month=2024-02.parquet"
    pd.read_parquet(stored).drop(columns="flag").to_parquet(stored)
    description = first_failure(run_window(tmp_path))
    assert "market=US/month=2024-02" in description and "missing column flag" in description


def test_months_this_process_wrote_are_not_read_again_until_their_object_changes(
    tmp_path: Path, monkeypatch
):
    """What the IO manager validated and wrote is what a window step gets, with no read, as
    long as the object is the version written; a changed object is read and validated."""
    from shelfcast.platform import io_manager

    @asset(
        partitions_def=partitions,
        name="monthly",
        metadata={CONTRACT_KEY: contract_name(Monthly)},
    )
    def monthly_writer(context) -> pd.DataFrame:
        month = context.partition_key.keys_by_dimension["month"][:7]
        first = int(month[-2:]) * 10
        return pd.DataFrame({"month": month, "n": [first, first + 1], "flag": False})

    manager = ParquetIOManager(as_upath(tmp_path / "lake"))
    instance = DagsterInstance.ephemeral()
    for month in ("2024-01", "2024-02", "2024-03"):
        key = MultiPartitionKey({"market": "US", "month": f"{month}-01"})
        assert materialize(
            [monthly_writer], partition_key=str(key), resources={"io_manager": manager},
            instance=instance,
        ).success  # fmt: skip
    reads = []
    original = io_manager._read_table
    monkeypatch.setattr(
        io_manager, "_read_table", lambda asset, path: reads.append(path) or original(asset, path)
    )
    monthly = SourceAsset(
        "monthly", partitions_def=partitions, metadata={CONTRACT_KEY: contract_name(Monthly)}
    )
    window = materialize(
        [monthly, window_summary], partition_key=str(KEY), resources={"io_manager": manager},
        instance=instance,
    )  # fmt: skip
    assert window.success and reads == []
    assert summary(tmp_path).set_index("months")["n"].to_dict() == {
        "2024-01": "10,11",
        "2024-02": "20,21",
        "2024-03": "30,31",
    }

    stored = tmp_path / "lake/monthly/market=US/month=2024-02.parquet"
    pd.read_parquet(stored).assign(n=[20, -1]).to_parquet(stored)  # another writer's version
    description = first_failure(run_window(tmp_path))
    assert "market=US/month=2024-02" in description
    assert "greater_than_or_equal_to(0)" in description
    assert any(str(path).endswith("month=2024-02.parquet") for path in reads)
