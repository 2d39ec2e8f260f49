"""The whole pipeline on a real S3 server: only Parquet at Hive-style keys, readable by DuckDB, and
the same outputs when every step runs in its own process with nothing shared but S3."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import s3fs
from dagster import DagsterEventType, DagsterInstance
from dagster._core.instance.ref import InstanceRef

from shelfcast.pipeline.resources import CONFIG_DIR
from shelfcast_tests.s3_server import (
    PIPELINE_ASSETS,
    REFERENCE_MARKETS,
    REFERENCE_MONTH,
    S3Workspace,
    assert_same_outputs,
)

MARKETS = REFERENCE_MARKETS
MONTH = REFERENCE_MONTH
ASSETS = PIPELINE_ASSETS
HIVE_KEY = re.compile(
    r"^(?P<asset>[a-z_]+)/market=(?P<market>[A-Z]{2})/month=(?P<month>\d{4}-\d{2})\.parquet$"
)


@pytest.fixture
def in_process_run(s3_reference_run) -> S3Workspace:
    """Both markets for MONTH, in-process, with landing, lake and outbox all on S3."""
    return s3_reference_run


@pytest.mark.slow
def test_every_object_of_the_lake_is_parquet_at_its_hive_style_key(in_process_run):
    space = in_process_run
    keys = space.lake_keys()
    assets = [k for k in keys if not k.startswith("_")]
    # The lake's own records (each run's frozen parameters) sit under "_" folders, which Hive,
    # Spark and DuckDB globs skip; they are JSON.
    records = [k for k in keys if k.startswith("_")]
    assert all(HIVE_KEY.match(k) for k in assets), [k for k in assets if not HIVE_KEY.match(k)]
    assert {f"{a}/market={m}/month={MONTH}.parquet" for a in ASSETS for m in MARKETS} <= set(assets)
    # The runner loaded each market's sales history in one single-run backfill: one object each.
    for market in MARKETS:
        months = [k for k in assets if k.startswith(f"sales/market={market}/")]
        assert len(months) >= 13, months
    assert records and all(
        k.startswith(("_params/", "_runs/")) and k.endswith(".json") for k in records
    )

    client = space.server.client()
    for key in keys:
        body = client.get_object(Bucket=space.bucket, Key=f"{space.prefix}/lake/{key}")[
            "Body"
        ].read()
        assert not body.startswith(b"\x80"), f"{key} is a pickle"
        if key in assets:
            assert body[:4] == b"PAR1" and body[-4:] == b"PAR1", key
    # Nothing else anywhere in the bucket: the drops we uploaded, the lake, the outbox's JSON.
    others = {
        k for k in space.server.keys(space.bucket) if not k.startswith(f"{space.prefix}/lake/")
    }
    assert {k.split("/")[1] for k in others} == {"landing", "outbox"}
    assert all(k.endswith((".parquet", ".json")) for k in others)


@pytest.mark.slow
def test_duckdb_reads_the_lake_on_s3_directly_with_the_partition_columns(in_process_run):
    space = in_process_run
    connection = duckdb.connect()
    connection.register_filesystem(
        s3fs.S3FileSystem(
            key=space.server.access_key,
            secret=space.server.secret_key,
            endpoint_url=space.server.endpoint,
            skip_instance_cache=True,
        )
    )
    lake = f"s3://{space.bucket}/{space.prefix}/lake"
    counts = connection.sql(
        f"""SELECT market, month, count(*) AS products, sum(is_change::INT) AS changes
            FROM read_parquet('{lake}/price_recommendations/*/*.parquet', hive_partitioning=true)
            GROUP BY ALL ORDER BY market"""
    ).df()
    assert counts["market"].tolist() == ["GB", "US"]
    assert counts["month"].tolist() == [MONTH, MONTH]
    for row in counts.itertuples():
        frame = space.read("price_recommendations", row.market, MONTH)
        assert row.products == len(frame) and row.changes == frame["is_change"].sum()
    # Every asset: `market` from the Hive folder, the month from the key's last segment (a file
    # name, which Hive partitioning does not read; the contracts carry the month as a column).
    for asset in ASSETS:
        frame = connection.sql(
            f"""SELECT market, regexp_extract(filename, 'month=([0-9-]+)[.]parquet$', 1) AS month
                FROM read_parquet('{lake}/{asset}/*/month={MONTH}.parquet',
                                  hive_partitioning=true, filename=true)"""
        ).df()
        assert sorted(frame["market"].unique()) == ["GB", "US"], asset
        assert set(frame["month"]) == {MONTH}, asset
        assert len(frame) == sum(len(space.read(asset, m, MONTH)) for m in MARKETS), asset


@pytest.mark.slow
def test_steps_in_separate_processes_sharing_only_s3_give_the_same_outputs(
    in_process_run, tmp_path
):
    """`dagster job execute` with the multiprocess executor, with a fresh DAGSTER_HOME and the
    landing zone, lake and outbox on S3 only; every Python process it starts (the orchestrator
    and each step) moves at start-up into an empty working directory of its own."""
    reference = in_process_run
    space = S3Workspace(reference.server, reference.bucket, prefix="multiprocess")
    home, cwd, own_cwds = tmp_path / "dagster_home", tmp_path / "empty_cwd", tmp_path / "cwds"
    for folder in (home, cwd, own_cwds, tmp_path / "startup"):
        folder.mkdir()
    shutil.copy(CONFIG_DIR / "dagster" / "local.yaml", home / "dagster.yaml")
    (tmp_path / "startup" / "sitecustomize.py").write_text(
        "import os, tempfile\n"
        f"os.chdir(tempfile.mkdtemp(prefix=f'{{os.getpid()}}-', dir={str(own_cwds)!r}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHELFCAST_", "AWS_"))}
    env |= space.env() | {"DAGSTER_HOME": str(home), "PYTHONPATH": str(tmp_path / "startup")}
    env["SHELFCAST_LANDING"] = reference.url("landing")  # the same drops, read-only
    # The sales history the runner loaded before its runs, copied object by object on the
    # server: `dagster job execute` runs only the partition itself.
    client = space.server.client()
    for key in reference.lake_keys():
        if key.startswith("sales/") and f"month={MONTH}" not in key:
            client.copy_object(
                Bucket=space.bucket,
                Key=f"{space.prefix}/lake/{key}",
                CopySource={"Bucket": reference.bucket, "Key": f"{reference.prefix}/lake/{key}"},
            )
    tags = {
        "dagster/partition": f"US|{MONTH}-01",
        "dagster/partition/market": "US",
        "dagster/partition/month": f"{MONTH}-01",
    }
    completed = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            *("job", "execute", "-m", "shelfcast.definitions", "-j", "monthly_pricing"),
            *("--tags", json.dumps(tags)),
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]

    # Every step ran in a process of its own, none in the orchestrating one.
    instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    [run] = instance.get_runs()
    events = instance.all_logs(run.run_id)
    orchestrator = {
        e.dagster_event.pid for e in events if e.dagster_event_type == DagsterEventType.RUN_START
    }
    step_pids = {
        e.step_key: e.dagster_event.pid
        for e in events
        if e.dagster_event_type == DagsterEventType.STEP_START
    }
    assert set(step_pids) >= set(ASSETS)
    assert len(set(step_pids.values())) == len(step_pids)
    assert not set(step_pids.values()) & orchestrator
    # Each step ran in a working directory of its own, and nothing was left on a local disk: every
    # working directory is empty, the home holds no data.
    cwd_of_pid = {int(folder.name.split("-")[0]): folder for folder in own_cwds.iterdir()}
    assert set(step_pids.values()) <= set(cwd_of_pid)
    assert [folder for folder in [cwd, *cwd_of_pid.values()] if any(folder.iterdir())] == []
    assert not [p for p in home.rglob("*") if p.suffix in (".parquet", ".json", ".pkl")]

    assert {f"{asset}/market=US/month={MONTH}.parquet" for asset in ASSETS} <= set(
        space.lake_keys()
    )
    assert_same_outputs(space, reference, [("US", MONTH)])
