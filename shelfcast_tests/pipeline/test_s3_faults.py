"""Faults of the object store end a run with one message naming endpoint and bucket, leave no
object behind, and a re-run succeeds once the fault is gone; bad objects fail the load."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance
from typer.testing import CliRunner

from shelfcast.cli import app
from shelfcast.pipeline.jobs import MONTHLY_PRICING, partition_tags
from shelfcast.pipeline.partitions import partition_key
from shelfcast.pipeline.runner import run_partitions
from shelfcast_tests.s3_server import forget_s3_clients

ASSET_COUNT = 7


def assert_names_store_not_secret(message: str, server, bucket: str) -> None:
    assert server.endpoint in message and f"bucket {bucket}" in message, message
    assert server.secret_key not in message and server.access_key not in message


def run_job(market: str, month: str, *assets: str) -> tuple[bool, dict[str, str]]:
    """One run of the monthly job (or of some of its assets); each failed step's message."""
    from shelfcast.definitions import defs

    result = defs.resolve_job_def(MONTHLY_PRICING).execute_in_process(
        instance=DagsterInstance.ephemeral(),
        partition_key=str(partition_key(market, month)),
        tags=partition_tags(market, month),
        asset_selection=[AssetKey(a) for a in assets] or None,
        raise_on_error=False,
    )
    failures = {}
    for event in result.all_events:
        if event.is_step_failure:
            data = event.step_failure_data
            user = data.user_failure_data
            failures[event.step_key] = (
                user.description if user is not None else data.error.to_string()
            )
    return result.success, failures


@pytest.mark.slow
def test_with_the_server_stopped_a_run_fails_clearly_and_a_rerun_succeeds(s3_workspace):
    # A Dagster run of the partition: `shelfcast run` would first list the landing zone for
    # the sales history, outside any run.
    space = s3_workspace
    space.server.stop()
    try:
        success, failures = run_job("US", "2024-03")
    finally:
        space.server.start()
    assert not success
    assert "the object store is unreachable" in failures["sales"]
    assert_names_store_not_secret(failures["sales"], space.server, space.bucket)
    assert not any(space.server.secret_key in text for text in failures.values())
    assert space.lake_keys() == {}

    outcomes = run_partitions(["US"], ["2024-03"], [])
    assert [o.error for o in outcomes if not o.success] == []
    assert len([k for k in space.lake_keys() if "month=2024-03.parquet" in k]) == ASSET_COUNT


@pytest.mark.slow
def test_the_cli_with_the_server_stopped_prints_one_message_and_no_traceback(s3_workspace):
    # `shelfcast run` lists the landing zone for the sales history before any Dagster run.
    space = s3_workspace
    space.server.stop()
    try:
        results = [
            CliRunner().invoke(app, ["run", "--market", "US", "--month", "2024-03"]),
            CliRunner().invoke(app, ["data", "generate", "--markets", "US"]),
            CliRunner().invoke(app, ["demo", "--markets", "US", "--months", "2024-03"]),
        ]
    finally:
        space.server.start()
    for result in results:
        assert result.exit_code == 1, result.output
        assert "the object store is unreachable" in result.output
        assert_names_store_not_secret(result.output, space.server, space.bucket)
        assert isinstance(result.exception, SystemExit)  # typer's exit, not an uncaught error
        assert "Traceback" not in result.output
    assert space.lake_keys() == {}


@pytest.mark.slow
def test_with_the_lake_bucket_missing_a_run_fails_clearly_and_a_rerun_succeeds(
    s3_workspace, monkeypatch
):
    space = s3_workspace
    missing = f"{space.bucket}-lake"
    monkeypatch.setenv("SHELFCAST_STORAGE", f"s3://{missing}/lake")
    forget_s3_clients()
    [outcome] = run_partitions(["US"], ["2024-03"], [])
    assert not outcome.success
    assert "the bucket does not exist" in outcome.error
    assert_names_store_not_secret(outcome.error, space.server, missing)
    assert not space.server.bucket_exists(missing)  # never created behind the operator's back

    space.server.make_bucket(missing)
    outcomes = run_partitions(["US"], ["2024-03"], [])
    assert [o.error for o in outcomes if not o.success] == []
    stored = space.server.keys(missing, "lake/")
    assert "lake/price_recommendations/market=US/month=2024-03.parquet" in stored


@pytest.mark.slow
def test_a_corrupted_object_fails_the_downstream_load_naming_asset_partition_column(
    s3_workspace,
):
    space = s3_workspace
    assert run_partitions(["US"], ["2024-03"], [])[0].success
    client = space.server.client()
    key = f"{space.prefix}/lake/sales/market=US/month=2024-03.parquet"
    good = client.get_object(Bucket=space.bucket, Key=key)["Body"].read()

    client.put_object(Bucket=space.bucket, Key=key, Body=b"<html>not parquet</html>")
    success, failures = run_job("US", "2024-03", "product_performance")
    error = failures["product_performance"]
    assert not success
    assert f"sales at s3://{space.bucket}/{key}" in error
    assert "is not a readable Parquet file" in error

    drifted = pd.read_parquet(io.BytesIO(good)).rename(columns={"units": "quantity"})
    drifted["price"] = drifted["price"].astype(str) + " EUR"
    client.put_object(Bucket=space.bucket, Key=key, Body=drifted.to_parquet())
    success, failures = run_job("US", "2024-03", "product_performance")
    error = failures["product_performance"]
    assert not success
    assert "sales loaded from" in error and "market=US/month=2024-03" in error
    assert "missing column" in error and "units" in error
    assert "column 'price' fails check coerce_dtype('float64')" in error
