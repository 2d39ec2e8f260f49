"""Steps on Celery workers (SHELFCAST_EXECUTOR=celery, Redis as broker and result backend), with
the production instance in PostgreSQL and compute logs in S3.

Two workers, each in an empty working directory with a DAGSTER_HOME of its own, share nothing
with each other or with the orchestrating `dagster job execute` but the S3 server and the
database. A partition run through them gives the in-process run's outputs; a worker process
killed in the middle of a step fails the run naming that step, and a second run completes with
the same outputs and delivers once. With RabbitMQ as the broker, a worker lost whole mid-step
hands the step to the other worker and the run completes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import psycopg2
import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus

from shelfcast_tests.deploy.stack import (
    PG,
    Workers,
    base_env,
    copy_history,
    dagster_command,
    production_home,
)
from shelfcast_tests.s3_server import (
    PIPELINE_ASSETS,
    REFERENCE_MONTH,
    S3Workspace,
    assert_same_outputs,
)

MONTH = REFERENCE_MONTH
TAGS = {
    "dagster/partition": f"US|{MONTH}-01",
    "dagster/partition/market": "US",
    "dagster/partition/month": f"{MONTH}-01",
}


class CeleryDeployment:
    """A lake on S3 with the reference's sales history, two workers, and an orchestrator."""

    def __init__(self, reference: S3Workspace, prefix: str, root: Path, env: dict) -> None:
        self.space = S3Workspace(reference.server, reference.server.make_bucket(), prefix=prefix)
        copy_history(reference, self.space, but=[MONTH])
        self.root = root
        self.home = production_home(root / "orchestrator_home")
        (root / "orchestrator_cwd").mkdir()
        self.env = base_env(self.space, env["database"], self.home, **env["celery"])
        self.env["SHELFCAST_LANDING"] = reference.url("landing")  # the same drops, read-only
        self.workers = Workers(self.env, root / "workers")

    def instance(self) -> DagsterInstance:
        return DagsterInstance.from_config(str(self.home))

    def execute(self) -> subprocess.Popen:
        """`dagster job execute` of US MONTH, in the background."""
        return subprocess.Popen(
            dagster_command(
                *("job", "execute", "-m", "shelfcast.definitions", "-j", "monthly_pricing"),
                *("--tags", json.dumps(TAGS)),
            ),
            cwd=self.root / "orchestrator_cwd",
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def outbox(self) -> dict[str, bytes]:
        client = self.space.server.client()
        start = f"{self.space.prefix}/outbox/"
        return {
            key[len(start) :]: client.get_object(Bucket=self.space.bucket, Key=key)["Body"].read()
            for key in self.space.server.keys(self.space.bucket, start)
        }


RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"


def two_workers(name: str, reference: S3Workspace, env: dict, folder: Path, monkeypatch):
    """A deployment with workers w1 and w2 running, until the generator is closed."""
    deployment = CeleryDeployment(reference, f"{name}-{folder.name}", folder, env)
    # This process reads the instance too (run status, the event log): same database and S3.
    for variable in (*env["database"], "SHELFCAST_LOG_BUCKET", *reference.server.env()):
        monkeypatch.setenv(variable, deployment.env[variable])
    try:
        deployment.workers.start("w1")
        deployment.workers.start("w2")
        yield deployment
    finally:
        deployment.workers.stop()


@pytest.fixture
def deployment(s3_reference_run, postgres_db, celery_env, tmp_path, monkeypatch):
    env = {"database": postgres_db, "celery": celery_env}
    yield from two_workers("celery", s3_reference_run, env, tmp_path, monkeypatch)


@pytest.fixture
def rabbitmq_deployment(s3_reference_run, postgres_db, celery_env, tmp_path, monkeypatch):
    """The same deployment with RabbitMQ as the broker (Redis stays the result backend)."""
    from kombu import Connection

    with Connection(RABBITMQ) as connection:  # no task of an earlier session may be waiting
        connection.channel().queue_delete("dagster")  # the workers declare it afresh
    env = {"database": postgres_db, "celery": {**celery_env, "SHELFCAST_CELERY_BROKER": RABBITMQ}}
    yield from two_workers("rabbitmq", s3_reference_run, env, tmp_path, monkeypatch)


def worker_of_each_step(instance: DagsterInstance, run_id: str) -> dict[str, str]:
    """step key → the Celery worker that executed it, from the run's engine events."""
    found = {}
    for record in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        event = record.dagster_event
        data = event.engine_event_data.metadata if event.engine_event_data else {}
        if "Celery worker" in data:
            found[event.step_key] = data["Celery worker"].value.split("@")[0]
    return found


def test_a_partition_through_two_celery_workers_equals_the_in_process_run(
    deployment, s3_reference_run, postgres_db
):
    process = deployment.execute()
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output[-4000:]

    instance = deployment.instance()
    [run] = instance.get_runs(limit=1)
    assert run.status == DagsterRunStatus.SUCCESS
    # Every step was a task of one of the two workers and ran in that worker's pool process.
    # (Which worker takes which step is the broker's choice; the RabbitMQ test below shows one
    # worker finishing the other's step.)
    workers = worker_of_each_step(instance, run.run_id)
    assert set(workers) >= set(PIPELINE_ASSETS), workers
    assert set(workers.values()) <= {"w1", "w2"}, workers
    step_pids = {
        r.dagster_event.step_key: r.dagster_event.pid
        for r in instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_START)
    }
    pids_of = {w.name: w.pids() for w in deployment.workers.running}
    assert all(step_pids[step] in pids_of[worker] for step, worker in workers.items()), (
        step_pids,
        workers,
    )
    assert_same_outputs(deployment.space, s3_reference_run, [("US", MONTH)])

    # The instance is PostgreSQL's: the run and its events are rows of the test's database.
    with psycopg2.connect(dbname=postgres_db["DAGSTER_PG_DB"], **PG) as db, db.cursor() as cur:
        cur.execute("SELECT count(*) FROM runs WHERE run_id = %s", (run.run_id,))
        assert cur.fetchone() == (1,)
        cur.execute("SELECT count(*) FROM event_logs WHERE run_id = %s", (run.run_id,))
        assert cur.fetchone()[0] > 50
    # Step logs went to S3, under the instance's prefix; nothing stayed on any local disk.
    logs = deployment.space.server.keys(deployment.space.bucket, "dagster-compute-logs/")
    assert any(run.run_id in key for key in logs), sorted(logs)[:5]
    local = [p for p in deployment.root.rglob("*") if p.suffix in (".parquet", ".json", ".pkl")]
    assert local == []
    for worker in deployment.workers.running:
        assert list((worker.folder / "cwd").iterdir()) == []


def new_runs(instance: DagsterInstance, before: set[str]) -> list:
    return [run for run in instance.get_runs() if run.run_id not in before]


def wait_for_step_start(
    instance: DagsterInstance, before: set[str], step: str, seconds: float = 300
) -> int:
    """The pid of the process that started ``step`` in the first run not in ``before``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for run in new_runs(instance, before):
            for record in instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_START):
                if record.dagster_event.step_key == step:
                    return record.dagster_event.pid
        time.sleep(0.05)
    raise AssertionError(f"step {step} did not start")


def test_a_worker_killed_mid_step_fails_the_run_naming_the_step_and_a_rerun_delivers_once(
    deployment, s3_reference_run
):
    instance = deployment.instance()
    before = {run.run_id for run in instance.get_runs()}
    process = deployment.execute()
    pid = wait_for_step_start(instance, before, "demand_forecast")
    os.kill(pid, signal.SIGKILL)  # the worker process running the step, mid-step
    output, _ = process.communicate(timeout=600)
    assert process.returncode != 0
    [failed] = new_runs(instance, before)
    assert failed.status == DagsterRunStatus.FAILURE
    failure = [
        r.dagster_event.event_specific_data.error.to_string()
        for r in instance.all_logs(failed.run_id, of_type=DagsterEventType.RUN_FAILURE)
        if r.dagster_event.event_specific_data and r.dagster_event.event_specific_data.error
    ]
    assert any("[demand_forecast]" in text and "WorkerLost" in text for text in failure), failure
    # Nothing downstream of the killed step ran, and nothing was delivered.
    done = {
        r.dagster_event.step_key
        for r in instance.all_logs(failed.run_id, of_type=DagsterEventType.STEP_SUCCESS)
    }
    assert done <= {"sales", "products", "product_performance"}, done
    assert deployment.outbox() == {}

    # The worker whose process was killed goes on with a new one; a second run completes.
    again = deployment.execute()
    output, _ = again.communicate(timeout=600)
    assert again.returncode == 0, output[-4000:]
    assert_same_outputs(deployment.space, s3_reference_run, [("US", MONTH)])
    delivered = deployment.outbox()
    assert delivered
    # Exactly once: a third run finds the batch delivered and writes nothing to the outbox.
    third = deployment.execute()
    output, _ = third.communicate(timeout=600)
    assert third.returncode == 0, output[-4000:]
    assert deployment.outbox() == delivered
    latest = deployment.space.read("partner_delivery", "US", MONTH)
    assert set(latest["status"]) == {"already_delivered"}, latest["status"].tolist()


def test_on_rabbitmq_a_worker_lost_whole_mid_step_hands_the_step_to_the_other_worker(
    rabbitmq_deployment, s3_reference_run
):
    """Main process and pool killed at once, as when a worker's machine is lost: the step was not
    acknowledged, so RabbitMQ gives it to the other worker when the connection drops, and the
    run completes with the in-process run's outputs."""
    deployment = rabbitmq_deployment
    instance = deployment.instance()
    before = {run.run_id for run in instance.get_runs()}
    process = deployment.execute()
    pid = wait_for_step_start(instance, before, "demand_forecast")
    [lost] = [w for w in deployment.workers.running if pid in w.pids()]
    lost.kill()
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output[-4000:]
    [run] = new_runs(instance, before)
    assert run.status == DagsterRunStatus.SUCCESS
    starts = [
        r.dagster_event.pid
        for r in instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_START)
        if r.dagster_event.step_key == "demand_forecast"
    ]
    [survivor] = [w for w in deployment.workers.running if w is not lost]
    assert len(starts) == 2 and starts[0] == pid and starts[1] in survivor.pids(), starts
    assert_same_outputs(deployment.space, s3_reference_run, [("US", MONTH)])
