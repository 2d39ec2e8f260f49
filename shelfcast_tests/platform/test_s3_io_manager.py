"""The Parquet IO manager, unchanged, on a real S3 server: keys, backfills, bad objects, no bucket."""

import io

import pandas as pd
import pandera.pandas as pa
from dagster import (
    AssetIn,
    BackfillPolicy,
    DagsterInstance,
    Definitions,
    MonthlyPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
    StaticPartitionsDefinition,
    asset,
    define_asset_job,
    materialize,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from dagster_aws.s3 import S3PickleIOManager, S3Resource
from pandera.typing.pandas import Series

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


@asset(partitions_def=partitions, backfill_policy=BackfillPolicy.single_run())
def monthly(context) -> pd.DataFrame:
    """One frame for every partition of the run, with a column per partition dimension."""
    rows = []
    for key in context.partition_keys:
        dims = key.keys_by_dimension
        rows.append({"market": dims["market"], "month": dims["month"][:7], "n": len(rows)})
    return pd.DataFrame(rows)


def lake(bucket: str) -> ParquetIOManager:
    return ParquetIOManager(as_upath(f"s3://{bucket}/lake"))


def run(io_manager, selection, instance=None):
    return materialize(
        selection,
        partition_key=str(KEY),
        resources={"io_manager": io_manager},
        instance=instance or DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def failure_text(result) -> str:
    failure = next(e for e in result.all_events if e.is_step_failure)
    data = failure.step_failure_data
    if data.user_failure_data is not None:
        return data.user_failure_data.description
    return data.error.to_string()


def test_each_partition_is_one_parquet_object_at_a_hive_style_key(s3_env, s3_server):
    assert run(lake(s3_env), [numbers, doubled]).success
    keys = s3_server.keys(s3_env)
    assert sorted(keys) == [
        "lake/doubled/market=US/month=2024-03.parquet",
        "lake/numbers/market=US/month=2024-03.parquet",
    ]
    body = s3_server.client().get_object(Bucket=s3_env, Key=sorted(keys)[0])["Body"].read()
    assert body[:4] == body[-4:] == b"PAR1"
    assert pd.read_parquet(io.BytesIO(body))["n"].tolist() == [2, 4, 6]


def backfill(io_manager, months: tuple[str, str]):
    defs = Definitions(
        assets=[monthly],
        jobs=[define_asset_job("load_months", selection=[monthly], partitions_def=partitions)],
        resources={"io_manager": io_manager},
    )
    start, end = (MultiPartitionKey({"market": "US", "month": f"{m}-01"}) for m in months)
    return defs.resolve_job_def("load_months").execute_in_process(
        instance=DagsterInstance.ephemeral(),
        tags={ASSET_PARTITION_RANGE_START_TAG: str(start), ASSET_PARTITION_RANGE_END_TAG: str(end)},
        raise_on_error=False,
    )


def test_a_single_run_backfill_writes_one_object_per_partition(s3_env, s3_server):
    result = backfill(lake(s3_env), ("2024-01", "2024-03"))
    assert result.success
    assert sorted(s3_server.keys(s3_env, "lake/")) == [
        f"lake/monthly/market=US/month=2024-0{m}.parquet" for m in (1, 2, 3)
    ]
    march = pd.read_parquet(
        io.BytesIO(
            s3_server.client()
            .get_object(Bucket=s3_env, Key="lake/monthly/market=US/month=2024-03.parquet")["Body"]
            .read()
        )
    )
    assert march.to_dict("records") == [{"market": "US", "month": "2024-03", "n": 2}]


def test_the_pickle_io_manager_of_dagster_aws_cannot_store_a_single_run_backfill(s3_env, s3_server):
    pickles = S3PickleIOManager(s3_resource=S3Resource(), s3_bucket=s3_env, s3_prefix="pickles")
    result = backfill(pickles, ("2024-01", "2024-03"))
    assert not result.success
    assert "does not support persisting an output associated with multiple partitions" in (
        failure_text(result)
    )
    assert s3_server.keys(s3_env) == {}


def test_an_object_that_is_not_parquet_fails_the_downstream_load(s3_env, s3_server):
    instance = DagsterInstance.ephemeral()
    assert run(lake(s3_env), [numbers, doubled], instance).success
    key = "lake/numbers/market=US/month=2024-03.parquet"
    s3_server.client().put_object(Bucket=s3_env, Key=key, Body=b"\x80\x04not parquet")
    result = run(lake(s3_env), [numbers.to_source_asset(), doubled], instance)
    text = failure_text(result)
    assert f"numbers at s3://{s3_env}/{key}" in text and "is not a readable Parquet file" in text


def test_an_object_whose_schema_drifted_fails_naming_asset_partition_and_column(s3_env, s3_server):
    instance = DagsterInstance.ephemeral()
    assert run(lake(s3_env), [numbers, doubled], instance).success
    drifted = io.BytesIO()
    pd.DataFrame({"n": ["one", "two"]}).to_parquet(drifted)
    s3_server.client().put_object(
        Bucket=s3_env, Key="lake/numbers/market=US/month=2024-03.parquet", Body=drifted.getvalue()
    )
    result = run(lake(s3_env), [numbers.to_source_asset(), doubled], instance)
    text = failure_text(result)
    assert "numbers loaded from" in text and "market=US/month=2024-03" in text
    assert "column 'n' fails check coerce_dtype('int64')" in text


def test_a_missing_bucket_fails_the_step_naming_endpoint_and_bucket(s3_env, s3_server):
    result = run(lake("no-such-lake-bucket"), [numbers])
    text = failure_text(result)
    assert (
        "numbers: cannot write s3://no-such-lake-bucket/lake/numbers/market=US/month=2024-03"
        in text
    )
    assert "the bucket does not exist" in text and s3_server.endpoint in text
    assert not s3_server.bucket_exists("no-such-lake-bucket")


def test_another_fsspec_store_needs_no_code_change():
    """gs:// and az:// are not available here; memory:// takes the same object-store path."""
    import fsspec

    manager = ParquetIOManager(as_upath("memory://shelfcast-lake"))
    assert run(manager, [numbers, doubled]).success
    store = fsspec.filesystem("memory")
    assert sorted(store.find("/shelfcast-lake")) == [
        "/shelfcast-lake/doubled/market=US/month=2024-03.parquet",
        "/shelfcast-lake/numbers/market=US/month=2024-03.parquet",
    ]


@asset(partitions_def=partitions, backfill_policy=BackfillPolicy.single_run())
def interleaved(context) -> pd.DataFrame:
    """Rows of every partition of the run, the partitions interleaved and in reverse."""
    rows = []
    for repeat in range(3):
        for key in reversed(context.partition_keys):
            month = key.keys_by_dimension["month"][:7]
            rows.append({"market": "US", "month": month, "n": repeat})
    return pd.DataFrame(rows)


def test_a_backfill_frame_in_any_row_order_writes_each_partition_its_own_rows(tmp_path):
    defs = Definitions(
        assets=[interleaved],
        jobs=[define_asset_job("load", selection=[interleaved], partitions_def=partitions)],
        resources={"io_manager": ParquetIOManager(as_upath(tmp_path))},
    )
    start, end = (
        MultiPartitionKey({"market": "US", "month": f"{m}-01"}) for m in ("2024-01", "2024-03")
    )
    result = defs.resolve_job_def("load").execute_in_process(
        instance=DagsterInstance.ephemeral(),
        tags={ASSET_PARTITION_RANGE_START_TAG: str(start), ASSET_PARTITION_RANGE_END_TAG: str(end)},
        raise_on_error=False,
    )
    assert result.success
    for month in ("2024-01", "2024-02", "2024-03"):
        stored = pd.read_parquet(tmp_path / "interleaved" / "market=US" / f"month={month}.parquet")
        assert stored.to_dict("records") == [
            {"market": "US", "month": month, "n": n} for n in range(3)
        ]
