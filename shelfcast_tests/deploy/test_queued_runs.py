"""Queued runs on the production instance: `shelfcast run --submit` and a backfill through the
GraphQL API, launched by a dagster-daemon the test starts, two runs at a time.

The webserver and the daemon run in empty working directories with the production instance
(PostgreSQL, S3 compute logs, QueuedRunCoordinator with ``max_concurrent_runs: 2``); landing
zone, lake and outbox are on the S3 server. Every partition's outputs are compared with
`shelfcast run`'s in-process run of the same partitions on the same drops.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from dagster import DagsterInstance, DagsterRunStatus

from shelfcast.pipeline.runner import run_partitions
from shelfcast_tests.deploy.stack import BIN, base_env, production_home
from shelfcast_tests.s3_server import S3Workspace, assert_same_outputs, forget_s3_clients, free_port
from shelfcast_tests.services import wait_for_webserver

MARKETS = ["US", "GB"]
MONTHS = ["2024-01", "2024-02", "2024-03"]
PARTITIONS = [(m, mo) for m in MARKETS for mo in MONTHS]
DERIVED = [
    "product_performance",
    "demand_forecast",
    "price_recommendations",
    "partner_export",
]
BACKFILL = """
mutation ($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
  }
}"""
REPOSITORIES = """
query { repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }"""
BACKFILL_STATUS = """
query ($id: String!) {
  partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status } }
}"""


@pytest.fixture(scope="module")
def reference(s3_server, s3_reference_run) -> S3Workspace:
    """The six partitions through `shelfcast run` in-process, on the reference's drops."""
    space = S3Workspace(s3_server, s3_server.make_bucket(), prefix="queued-reference")
    env = space.env() | {"SHELFCAST_LANDING": s3_reference_run.url("landing")}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        for name in ("DAGSTER_HOME", "SHELFCAST_CONFIG_URL", "AWS_PROFILE", "AWS_ENDPOINT_URL_S3"):
            patch.delenv(name, raising=False)
        forget_s3_clients()
        outcomes = run_partitions(MARKETS, MONTHS, [], workers=2)
        forget_s3_clients()
    assert [o.error for o in outcomes if not o.success] == []
    return space


class QueuedDeployment:
    def __init__(self, space: S3Workspace, home: Path, env: dict, url: str) -> None:
        self.space, self.home, self.env, self.url = space, home, env, url

    def instance(self) -> DagsterInstance:
        return DagsterInstance.from_config(str(self.home))

    def graphql(self, query: str, variables: dict) -> dict:
        response = httpx.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=60
        )
        response.raise_for_status()
        return response.json()["data"]


@pytest.fixture(scope="module")
def deployment(s3_reference_run, postgres_db, tmp_path_factory):
    root = tmp_path_factory.mktemp("queued")
    space = S3Workspace(
        s3_reference_run.server, s3_reference_run.server.make_bucket(), prefix=root.name
    )
    home = production_home(root / "dagster_home", max_concurrent_runs=2)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # Each run in one process: the steps' processes are the Celery test's subject, not this one's.
    env = base_env(space, postgres_db, home, SHELFCAST_UI_URL=url, SHELFCAST_EXECUTOR="in_process")
    env["SHELFCAST_LANDING"] = s3_reference_run.url("landing")
    env["PATH"] = f"{BIN}:{env['PATH']}"
    processes = []
    for name, command in (
        ("webserver", ["dagster-webserver", "-h", "127.0.0.1", "-p", str(port)]),
        ("daemon", ["dagster-daemon", "run"]),
    ):
        cwd = root / f"{name}_cwd"
        cwd.mkdir()
        processes.append(
            subprocess.Popen(
                [str(BIN / command[0]), *command[1:], "-m", "shelfcast.definitions"],
                cwd=cwd,
                env=env,
                stdout=(root / f"{name}.log").open("w"),
                stderr=subprocess.STDOUT,
            )
        )
    try:
        wait_for_webserver(url, processes)
        with pytest.MonkeyPatch.context() as patch:  # this process reads the instance too
            for name in (*postgres_db, "SHELFCAST_LOG_BUCKET", *s3_reference_run.server.env()):
                patch.setenv(name, env[name])
            yield QueuedDeployment(space, home, env, url)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()


def pricing_runs(instance: DagsterInstance, **tags: str) -> list:
    return [
        record
        for record in instance.get_run_records()
        if record.dagster_run.job_name == "monthly_pricing"
        and all(record.dagster_run.tags.get(k) == v for k, v in tags.items())
    ]


def most_at_once(records) -> int:
    """The largest number of runs that were executing at the same moment."""
    moments = sorted(
        [(r.start_time, 1) for r in records] + [(r.end_time, -1) for r in records],
        key=lambda m: (m[0], m[1]),
    )
    running = peak = 0
    for _, step in moments:
        running += step
        peak = max(peak, running)
    return peak


def test_submitted_runs_queue_and_the_daemon_runs_them_two_at_a_time(deployment, reference):
    arguments = [f"--market={m}" for m in MARKETS] + [f"--month={mo}" for mo in MONTHS]
    completed = subprocess.run(
        [str(BIN / "shelfcast"), "run", *arguments, "--submit", "--wait"],
        env=deployment.env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    # The history each market's windows need went first, one single-run backfill per market;
    # then each partition, each printed with its run id and its link in the UI.
    submitted = re.findall(r"submitted (.+?): run ([0-9a-f-]{36})  (\S+)", completed.stdout)
    assert [label for label, _, _ in submitted][:2] == [
        # From the landing zone's first month to the month before the last partition's.
        "US sales 2022-03 … 2024-02",
        "GB sales 2022-03 … 2024-02",
    ]
    assert [label for label, _, _ in submitted][2:] == [f"{m} {mo}" for m, mo in PARTITIONS]
    assert all(link == f"{deployment.url}/runs/{run_id}" for _, run_id, link in submitted)

    instance = deployment.instance()
    records = pricing_runs(instance)
    assert {r.dagster_run.run_id for r in records} == {run_id for _, run_id, _ in submitted[2:]}
    assert {r.dagster_run.status for r in records} == {DagsterRunStatus.SUCCESS}
    # The queue held them: never more than max_concurrent_runs at once, and it used both.
    assert most_at_once(records) == 2
    assert_same_outputs(
        deployment.space, reference, PARTITIONS, ["sales", *DERIVED, "partner_delivery"]
    )


def test_a_job_backfill_launched_through_graphql_like_the_ui_reruns_the_partitions(
    deployment, reference
):
    """The UI's Launch backfill of the monthly_pricing job: one run per partition chosen.

    (A backfill of the assets from the asset graph is another thing: Dagster extends it to every
    later month whose window holds a chosen month of sales.)"""
    # The derived objects of the six partitions are removed, so the backfill must write them.
    client = deployment.space.server.client()
    for market, month in PARTITIONS:
        for asset in DERIVED:
            key = f"{deployment.space.prefix}/lake/{asset}/market={market}/month={month}.parquet"
            client.delete_object(Bucket=deployment.space.bucket, Key=key)
    [repository] = deployment.graphql(REPOSITORIES, {})["repositoriesOrError"]["nodes"]
    result = deployment.graphql(
        BACKFILL,
        {
            "params": {
                "selector": {
                    "partitionSetName": "monthly_pricing_partition_set",
                    "repositorySelector": {
                        "repositoryName": repository["name"],
                        "repositoryLocationName": repository["location"]["name"],
                    },
                },
                "partitionNames": [f"{m}|{mo}-01" for m, mo in PARTITIONS],
            }
        },
    )["launchPartitionBackfill"]
    assert result["__typename"] == "LaunchBackfillSuccess", result
    backfill_id = result["backfillId"]

    deadline = time.monotonic() + 900
    while True:
        status = deployment.graphql(BACKFILL_STATUS, {"id": backfill_id})
        state = status["partitionBackfillOrError"]["status"]
        if state not in ("REQUESTED", "CANCELING"):
            break
        assert time.monotonic() < deadline, "the backfill did not finish"
        time.sleep(2)
    assert state in ("COMPLETED", "COMPLETED_SUCCESS"), state

    instance = deployment.instance()
    backfill_runs = [
        r
        for r in instance.get_run_records()
        if r.dagster_run.tags.get("dagster/backfill") == backfill_id
    ]
    assert {r.dagster_run.status for r in backfill_runs} == {DagsterRunStatus.SUCCESS}
    assert sorted(r.dagster_run.tags["dagster/partition"] for r in backfill_runs) == sorted(
        f"{m}|{mo}-01" for m, mo in PARTITIONS
    )
    assert most_at_once(backfill_runs) <= 2
    assert_same_outputs(deployment.space, reference, PARTITIONS, ["sales", *DERIVED])
    # Delivered once: the partitions' batches were already in the outbox.
    for market, month in PARTITIONS:
        delivery = deployment.space.read("partner_delivery", market, month)
        assert set(delivery["status"]) == {"already_delivered"}, (market, month)
