"""Partitions through Celery workers: one worker against two, and against in-process runs.

8 partitions (US and GB × 2024-03 … 2024-06, 1,000 products each, demo generator, seed 7) on
the production pieces the deploy tests use: landing zone, lake and outbox on a SeaweedFS S3
server, the instance in a throw-away PostgreSQL database, Celery on Redis. Side by side in one run:

- **in-process**: `shelfcast run` of the 8 partitions, one after another in one process;
- **1 worker** / **2 workers**: the 8 partitions' `dagster job execute` started at once with
  SHELFCAST_EXECUTOR=celery, their steps executed by one Celery worker (one task at a time),
  then by two; wall time until the last run finished. The orchestrating processes run at the
  lowest CPU priority (``nice 19``): in a deployment they run on machines of their own (run
  workers, pods), here they share the two cores with the workers; their CPU seconds are
  reported.

Each configuration writes a lake of its own, which starts with the same sales history (loaded
once, first, and copied on the server). Throughput ratio of 2 workers to 1 and the
per-partition overhead of Celery against in-process. Results: benchmarks/results/workers.json
and the `workers` section of benchmarks/README.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _sections import write_section  # noqa: E402
from end_to_end import generate_landing  # noqa: E402

from shelfcast.pipeline.jobs import partition_tags  # noqa: E402
from shelfcast_tests.deploy.stack import (  # noqa: E402
    BIN,
    Workers,
    base_env,
    celery_env,
    copy_history,
    dagster_command,
    postgres_database,
    production_home,
    redis_databases,
)
from shelfcast_tests.s3_server import S3Workspace, SeaweedS3  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "workers.json"
MARKETS = ["US", "GB"]
MONTHS = ["2024-03", "2024-04", "2024-05", "2024-06"]
PRODUCTS = 1000


def shelfcast_run(env: dict, cwd: Path) -> float:
    arguments = [f"--market={m}" for m in MARKETS] + [f"--month={mo}" for mo in MONTHS]
    started = time.perf_counter()
    subprocess.run(
        [str(BIN / "shelfcast"), "run", *arguments, "--workers", "1"],
        env=env,
        cwd=cwd,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def celery_runs(env: dict, cwd: Path) -> tuple[float, float]:
    """Every partition's run started at once: seconds until the last one finished, and the CPU
    seconds of the orchestrating processes (at the lowest CPU priority, see the docstring)."""
    partitions = [(market, month) for market in MARKETS for month in MONTHS]
    logs = [cwd / f"{market}-{month}.log" for market, month in partitions]
    started = time.perf_counter()
    runs = [
        subprocess.Popen(
            ["nice", "-n", "19"]
            + dagster_command(
                *("job", "execute", "-m", "shelfcast.definitions", "-j", "monthly_pricing"),
                *("--tags", json.dumps(partition_tags(market, month))),
            ),
            env=env,
            cwd=cwd,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        for (market, month), log in zip(partitions, logs, strict=True)
    ]
    cpu = 0.0
    for run in runs:  # each reaped with its resource use
        _, status, usage = os.wait4(run.pid, 0)
        run.returncode = os.waitstatus_to_exitcode(status)
        cpu += usage.ru_utime + usage.ru_stime
    seconds = time.perf_counter() - started
    failed = [log for run, log in zip(runs, logs, strict=True) if run.returncode]
    if failed:
        raise RuntimeError(failed[0].read_text()[-3000:])
    return seconds, cpu


def main() -> None:
    from decision_quality import machine

    results: dict = {"machine": machine(), "partitions": len(MARKETS) * len(MONTHS)}
    with tempfile.TemporaryDirectory(prefix="shelfcast-workers-") as folder:
        root = Path(folder)
        server = SeaweedS3(root / "s3").start()
        try:
            with postgres_database() as database, redis_databases() as (broker, backend):
                bucket = server.make_bucket()
                generate_landing(root / "landing", PRODUCTS, MARKETS)
                history = S3Workspace(server, bucket, prefix="history")
                history.upload_landing(root / "landing")
                (root / "cwd").mkdir()

                def space(name: str) -> tuple[S3Workspace, dict]:
                    target = S3Workspace(server, bucket, prefix=name)
                    copy_history(history, target, but=MONTHS)
                    env = base_env(target, database, production_home(root / name / "home"))
                    env["SHELFCAST_LANDING"] = history.url("landing")
                    return target, env

                # The history, loaded once by a first in-process run.
                env = base_env(history, database, production_home(root / "history" / "home"))
                shelfcast_run(env, root / "cwd")

                _, env = space("in-process")
                results["in_process_s"] = round(shelfcast_run(env, root / "cwd"), 2)
                print(f"in-process {results['in_process_s']} s", flush=True)
                for count in (1, 2):
                    _, env = space(f"celery-{count}")
                    env |= celery_env(broker, backend)
                    workers = Workers(env, root / f"workers-{count}")
                    try:
                        for n in range(count):
                            workers.start(f"w{n + 1}")
                        seconds, orchestration = celery_runs(env, root / "cwd")
                    finally:
                        workers.stop()
                    results[f"workers_{count}_s"] = round(seconds, 2)
                    results[f"orchestration_cpu_s_{count}"] = round(orchestration, 2)
                    print(f"{count} worker(s) {seconds:.1f} s", flush=True)
        finally:
            server.stop()
    n = results["partitions"]
    results["throughput_2_vs_1"] = round(results["workers_1_s"] / results["workers_2_s"], 2)
    results["per_partition_s"] = {
        "in_process": round(results["in_process_s"] / n, 2),
        "workers_1": round(results["workers_1_s"] / n, 2),
        "workers_2": round(results["workers_2_s"] / n, 2),
    }
    results["celery_overhead_per_partition_s"] = round(
        (results["workers_1_s"] - results["in_process_s"]) / n, 2
    )
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    write_section("workers", section(results))
    print(json.dumps(results, indent=2))


def section(results: dict) -> str:
    per = results["per_partition_s"]
    m = results["machine"]
    bound = (results["workers_1_s"] + results["orchestration_cpu_s_2"]) / m["cpus"]
    return "\n".join(
        [
            "## Celery workers: one against two, and against in-process (`workers.py`)",
            "",
            f"{results['partitions']} partitions (US, GB × 2024-03 … 2024-06, {PRODUCTS:,} "
            "products each), landing zone, lake and outbox on SeaweedFS S3, the instance in "
            "PostgreSQL, Celery on Redis; each Celery configuration starts every partition's "
            "`dagster job execute` at once, at the lowest CPU priority (in a deployment the "
            f"orchestrating run workers have machines of their own). {m['cpus']} CPUs, load average "
            f"{m['load_average_1m_at_start']} at the start, {m['date']}.",
            "",
            "| configuration | wall s | s per partition |",
            "|---|---:|---:|",
            f"| in-process, one after another | {results['in_process_s']:.1f} | {per['in_process']:.1f} |",
            f"| Celery, 1 worker | {results['workers_1_s']:.1f} | {per['workers_1']:.1f} |",
            f"| Celery, 2 workers | {results['workers_2_s']:.1f} | {per['workers_2']:.1f} |",
            "",
            f"2 workers against 1: **{results['throughput_2_vs_1']:.2f}×** the throughput "
            f"(target ≥ 1.7×). Celery costs {results['celery_overhead_per_partition_s']:.1f} s "
            "per partition over in-process on one worker: a process per run that orchestrates "
            "(imports, PostgreSQL event writes, one-second polling of the result backend) and each "
            "step's task start. The 8 orchestrating processes used "
            f"{results['orchestration_cpu_s_2']:.0f} CPU seconds beside the workers: on "
            f"{m['cpus']} cores that sharing bounds 2 workers at (1-worker wall + orchestration "
            f"CPU) / {m['cpus']} = {bound:.1f} s, {results['workers_1_s'] / bound:.2f}× one "
            f"worker, and they took {results['workers_2_s']:.1f} s. Raw numbers: "
            "`results/workers.json`.",
        ]
    )


if __name__ == "__main__":
    main()
