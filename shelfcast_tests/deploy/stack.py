"""Production pieces on this machine's services, for the deploy tests and benchmarks/workers.py:
a throw-away PostgreSQL database for the instance, Redis databases for Celery, Celery workers.

Every process a test starts gets an environment built from scratch (``base_env``): the
SHELFCAST_* locations on S3, the AWS variables of the test server, the DAGSTER_PG_* variables of
the database and its own DAGSTER_HOME, so that nothing is shared through the local disk.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import redis
import yaml

from shelfcast_tests.s3_server import S3Workspace

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
REDIS = "redis://127.0.0.1:6379"


@contextlib.contextmanager
def postgres_database() -> Iterator[dict[str, str]]:
    """A database of its own on the machine's PostgreSQL, dropped afterwards; its DAGSTER_PG_*."""
    name = f"shelfcast_test_{secrets.token_hex(4)}"
    admin = psycopg2.connect(dbname="postgres", **PG)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {
            "DAGSTER_PG_HOST": PG["host"],
            "DAGSTER_PG_PORT": str(PG["port"]),
            "DAGSTER_PG_DB": name,
            "DAGSTER_PG_USER": PG["user"],
            "DAGSTER_PG_PASSWORD": "",  # trust authentication on this machine
        }
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@contextlib.contextmanager
def redis_databases() -> Iterator[tuple[str, str]]:
    """Broker and result backend: two Redis databases of their own, emptied before and after."""
    client = redis.Redis.from_url(REDIS)
    taken = {int(key[2:]) for key in client.info("keyspace")}
    broker, backend = [n for n in range(15, 0, -1) if n not in taken][:2]
    urls = (f"{REDIS}/{broker}", f"{REDIS}/{backend}")
    for url in urls:
        redis.Redis.from_url(url).flushdb()
    yield urls
    for url in urls:
        redis.Redis.from_url(url).flushdb()


def production_home(folder: Path, max_concurrent_runs: int | None = None) -> Path:
    """A DAGSTER_HOME holding configs/dagster/production.yaml as shipped (or with another
    ``max_concurrent_runs``)."""
    folder.mkdir(parents=True, exist_ok=True)
    instance = yaml.safe_load((REPO / "configs/dagster/production.yaml").read_text())
    if max_concurrent_runs is not None:
        instance["run_coordinator"]["config"]["max_concurrent_runs"] = max_concurrent_runs
    (folder / "dagster.yaml").write_text(yaml.safe_dump(instance))
    return folder


def base_env(space: S3Workspace, database: dict[str, str], home: Path, **extra: str) -> dict:
    """A process environment from scratch: PATH and the like, S3, PostgreSQL, its own home."""
    kept = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return {
        **kept,
        **space.env(),
        **database,
        "DAGSTER_HOME": str(home),
        "SHELFCAST_LOG_BUCKET": space.bucket,
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


@dataclass
class Worker:
    name: str
    folder: Path
    process: subprocess.Popen
    log: Path

    def pids(self) -> set[int]:
        """The worker's processes: the CLI, Celery's main process and its pool."""
        found = subprocess.run(
            ["pgrep", "-g", str(self.process.pid)], capture_output=True, text=True
        ).stdout.split()
        return {int(pid) for pid in found}

    def kill(self) -> None:
        """SIGKILL to every process of the worker at once, as when its machine is lost."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


@dataclass
class Workers:
    env: dict
    root: Path
    running: list[Worker] = field(default_factory=list)

    def start(self, name: str) -> Worker:
        """A worker in an empty working directory and a DAGSTER_HOME of its own, one task at a
        time; returns once it is ready for tasks."""
        folder = self.root / name
        (folder / "cwd").mkdir(parents=True)
        home = production_home(folder / "dagster_home")
        log = folder / "worker.log"
        process = subprocess.Popen(
            [
                str(BIN / "dagster-celery"),
                *("worker", "start", "-A", "dagster_celery.app"),
                *("-y", str(REPO / "configs/dagster/celery.yaml"), "-n", name),
                *("--", "--concurrency", "1", "--pool", "prefork", "--without-gossip"),
            ],
            cwd=folder / "cwd",
            env={**self.env, "DAGSTER_HOME": str(home), "PATH": f"{BIN}:{self.env['PATH']}"},
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        worker = Worker(name, folder, process, log)
        self.running.append(worker)
        deadline = time.monotonic() + 120
        while "ready." not in log.read_text():
            assert process.poll() is None, f"worker {name} exited:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"worker {name} not ready:\n{log.read_text()}"
            time.sleep(0.5)
        return worker

    def stop(self) -> None:
        for worker in self.running:
            if worker.process.poll() is None:
                os.killpg(worker.process.pid, signal.SIGTERM)
        for worker in self.running:
            try:
                worker.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.process.pid, signal.SIGKILL)


def celery_env(broker: str, backend: str) -> dict[str, str]:
    return {
        "SHELFCAST_EXECUTOR": "celery",
        "SHELFCAST_CELERY_BROKER": broker,
        "SHELFCAST_CELERY_BACKEND": backend,
    }


def copy_history(source: S3Workspace, target: S3Workspace, but: Collection[str]) -> None:
    """The sales months of ``source``'s lake except the months ``but``, copied on the server."""
    client = source.server.client()
    for key in source.lake_keys():
        if key.startswith("sales/") and not any(f"month={month}." in key for month in but):
            client.copy_object(
                Bucket=target.bucket,
                Key=f"{target.prefix}/lake/{key}",
                CopySource={"Bucket": source.bucket, "Key": f"{source.prefix}/lake/{key}"},
            )


def dagster_command(*args: str) -> list[str]:
    return [str(BIN / "dagster"), *args]
