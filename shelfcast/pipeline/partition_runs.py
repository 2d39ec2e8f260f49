"""Partitions of one `shelfcast run`, executed on every core: one process per partition at a time.

Each partition is one in-process Dagster run of ``monthly_pricing``. With ``workers`` above 1 the
runs go to a pool of that many processes (:class:`WorkerPool`: forked from a fresh server
process that imported the code location once, with the parent's environment of the moment);
they share nothing but storage and the instance, and their outputs are the same as run one
after another, since a run's result depends only on its inputs and its frozen parameters. A
failure in one partition, a refusal or a bug, is reported with its partition; the others go on.
``on_step(partition, step)`` hears each step as it starts.

A worker takes a batch: consecutive months of one market, in order (``batches``). Consecutive
months share 22 of their 24 sales months, which the worker then reads and validates once
(``validated_cache``); handed out one by one, two workers took alternate months and each read
most windows afresh. benchmarks/README.md (end_to_end) has 4 markets × 3 months on one worker
and on two, beside what the machine gives two independent processes.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import gc
import math
import multiprocessing
import multiprocessing.forkserver
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from dagster import DagsterInstance

from shelfcast.pipeline import loggers
from shelfcast.pipeline.jobs import MONTHLY_PRICING, partition_tags
from shelfcast.pipeline.partitions import partition_key
from shelfcast.platform.secrets import redact

# Runs started from the CLI log warnings, one line each; failures and progress are the CLI's own.
QUIET: dict[str, dict] = {"loggers": {"shelfcast_cli": {}}}


@dataclass
class Outcome:
    partition: str
    success: bool
    seconds: float
    error: str = ""
    run_id: str = ""
    summary: dict = field(default_factory=dict)

    @classmethod
    def of(cls, label: str, result, started: float, with_summary: bool = True) -> Outcome:
        """The outcome of one in-process run, timed from ``started`` (perf_counter)."""
        from shelfcast.pipeline.runner import failure_message, summary

        return cls(
            partition=label,
            success=result.success,
            seconds=time.perf_counter() - started,
            error="" if result.success else failure_message(result),
            run_id=result.run_id,
            summary=summary(result) if result.success and with_summary else {},
        )


StepListener = Callable[[str, str], None]


def execute_partitions(
    targets: list[tuple[str, str, dict]],
    workers: int = 1,
    on_step: StepListener | None = None,
    pool: WorkerPool | None = None,
) -> list[Outcome]:
    """Run every ``(market, month, params settings)``; outcomes in the order of ``targets``.

    With ``workers`` above 1 the partitions go to ``pool`` (started, and its workers importing,
    while the caller checked parameters and loaded history), or to a pool started here."""
    workers = max(1, min(workers, len(targets)))
    if workers == 1:
        return [run_partition(m, mo, s, on_step) for m, mo, s in targets]
    if pool is None:
        with WorkerPool(workers, on_step is not None) as started:
            return started.run(targets, on_step)
    return pool.run(targets, on_step)


class WorkerPool:
    """``workers`` processes forked from a server process that imported the code location.

    The server (multiprocessing's ``forkserver``) is a fresh interpreter, not a copy of this
    process: it imports the code location once, and holds no instance, no connection, no
    thread and no data of the parent's, so each worker starts as a process on another machine
    would, minus the import. The pool starts before the parent's serial work (checking every
    partition's parameters, the history check), so that one import overlaps it. Spawning each
    worker instead, 4 markets × 3 months on two workers spent 7 s before the first partition
    ran, three interpreters importing at once on two cores. Leaving the block without running
    anything (a refused parameter) stops the workers at once.
    """

    def __init__(self, workers: int, listen: bool):
        self.workers = workers
        self._context = multiprocessing.get_context("forkserver")
        # The server imports the caller's main module (as spawn does in every child) and the
        # code location; an import that fails there is done again, and fails, in the worker.
        self._context.set_forkserver_preload(["__main__", "shelfcast.definitions"])
        # Step events come back on a queue the workers inherit (no manager process to wait for).
        self._steps = self._context.SimpleQueue() if listen else None
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    def __enter__(self) -> WorkerPool:
        # The server starts now and imports while this process goes on; the pool forks a worker
        # from it for each batch submitted, up to ``workers``, once the import is done.
        multiprocessing.forkserver.ensure_running()
        self._pool = concurrent.futures.ProcessPoolExecutor(
            self.workers,
            mp_context=self._context,
            initializer=_start_worker,
            initargs=(self._steps, dict(os.environ)),
        )
        return self

    def __exit__(self, kind, error, trace) -> None:
        assert self._pool is not None
        if kind is not None:  # nothing more will run: don't wait for imports to finish
            for process in list(getattr(self._pool, "_processes", {}).values()):
                process.terminate()
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._steps is not None:
            self._steps.close()
        _stop_forkserver()

    def run(
        self, targets: list[tuple[str, str, dict]], on_step: StepListener | None = None
    ) -> list[Outcome]:
        assert self._pool is not None
        outcomes: dict[int, Outcome] = {}
        futures: dict[concurrent.futures.Future, list[int]] = {}
        for batch in batches(targets, self.workers):
            try:
                future = self._pool.submit(_in_worker, [targets[i] for i in batch])
            except concurrent.futures.BrokenExecutor as broken:  # a worker failed to start
                future = concurrent.futures.Future()
                future.set_exception(broken)
            futures[future] = batch
        steps = self._steps
        while on_step is not None and steps is not None and not all(f.done() for f in futures):
            concurrent.futures.wait(futures, timeout=0.2)
            _drain(steps, on_step)
        for future, batch in futures.items():
            for index, outcome in zip(batch, _outcomes_of(future, batch, targets), strict=True):
                outcomes[index] = outcome
        if on_step is not None and steps is not None:
            _drain(steps, on_step)
        return [outcomes[index] for index in range(len(targets))]


def _stop_forkserver() -> None:
    """Stop the server with its pool and reap it: the next pool's server starts afresh, and
    the workers' CPU time and peak memory, which the server reaped, count in this process's
    children's (``time``, ``wait4``) as spawned workers' did. multiprocessing keeps the server
    for the life of the process and offers no public way to stop it; without one (another
    Python) the server stays, as multiprocessing intends."""
    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    stop = getattr(server, "_stop", None)
    if callable(stop):
        stop()


# In a worker: the queue its partitions' step events go to (None: nobody listens).
_STEPS = None


def _start_worker(steps, environment: dict[str, str]) -> None:
    """A worker's first act: take the parent's environment as it is now (the server's is the
    one of when it started, and a process may run several pools), keep the step queue, and
    import what every partition run needs (already imported in a worker forked from the
    server). What a module reads from the environment on import (the validated cache's size,
    Arrow's allocator) is the server's."""
    global _STEPS
    os.environ.clear()
    os.environ.update(environment)
    _STEPS = steps
    import shelfcast.definitions  # noqa: F401


def batches(targets: list[tuple[str, str, dict]], workers: int) -> list[list[int]]:
    """Indices of ``targets`` in batches: each market's months in order, cut in even pieces of
    at most ``len(targets) / (2 × workers)`` (rounded up). The pool hands the next batch, longest
    first, to the first free worker, so the workers end within half their share of each other;
    each cut costs the next piece one window read and validation."""
    limit = max(1, math.ceil(len(targets) / (2 * workers)))
    by_market: dict[str, list[int]] = {}
    for index, (market, _, _) in enumerate(targets):
        by_market.setdefault(market, []).append(index)
    found = []
    for indices in by_market.values():
        months = sorted(indices, key=lambda i: targets[i][1])
        pieces = math.ceil(len(months) / limit)
        found += [[int(i) for i in piece] for piece in np.array_split(months, pieces)]
    return sorted(found, key=len, reverse=True)


def run_partition(
    market: str, month: str, settings: dict, on_step: StepListener | None = None
) -> Outcome:
    """One partition as one in-process run on the instance of $DAGSTER_HOME (else ephemeral)."""
    from shelfcast.definitions import defs, deployment
    from shelfcast.platform.snapshots import publish_latest

    label = f"{market} {month}"
    instance = (
        DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else DagsterInstance.ephemeral()
    )
    started = time.perf_counter()
    loggers.STEP_LISTENER = (lambda step: on_step(label, step)) if on_step is not None else None
    try:
        result = defs.resolve_job_def(MONTHLY_PRICING).execute_in_process(
            run_config={"resources": {"params": {"config": settings}}, **QUIET},
            instance=instance,
            partition_key=str(partition_key(market, month)),
            tags=partition_tags(market, month),
            raise_on_error=False,
        )
    finally:
        loggers.STEP_LISTENER = None
    if result.success:  # only a good run becomes the partition's latest parameters
        publish_latest(deployment.lake(), result.run_id)
    outcome = Outcome.of(label, result, started)
    del result  # it holds the run's outputs
    release_run_memory()
    return outcome


def release_run_memory(collect: bool = False) -> None:
    """Drop what Dagster keeps of a finished in-process run; with ``collect``, also collect the
    run's reference cycles and give the freed heap back (0.1 s: after a history load, whose
    outputs are every month loaded, not after each partition).

    ``execute_in_process`` captures every output of the run, and dagster 1.13 builds record
    constructors lazily with their first caller's locals merged into the generated function's
    globals (``dagster_shared.check.builder.EvalContext.update_from_frame``): the first asset
    check's ``step_context`` stays there, and with it that run's captured outputs, for the life
    of the process. After the sales history of 20,000 products that was 1 GB held through the
    partition run that followed. Such a namespace is a copy, not the module's own, so only
    what it keeps of a run is dropped.
    """
    from dagster._core.execution.context.system import StepExecutionContext

    for namespace in _generated_namespaces():
        for key in [k for k, v in namespace.items() if isinstance(v, StepExecutionContext)]:
            del namespace[key]
    if collect:
        gc.collect()  # the run's outputs are in reference cycles with its contexts
        _return_free_heap()


def _return_free_heap() -> None:
    """Give the C heap's free pages back to the system (glibc): numpy's arrays of a month are a
    few MB each, below the size glibc maps and unmaps on its own, so a freed history stays in
    the process (0.5 GB of RSS at 20,000 products) unless trimmed."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


_DAGSTER_CLASSES: list[type] = []


def _generated_namespaces() -> list[dict]:
    """The globals of functions of dagster's classes that are not their module's own."""
    if not _DAGSTER_CLASSES:
        for name, module in list(sys.modules.items()):
            if name.startswith("dagster") and module is not None:
                _DAGSTER_CLASSES.extend(
                    value
                    for value in list(vars(module).values())
                    if isinstance(value, type) and value.__module__ == name
                )
    found: dict[int, dict] = {}
    for cls in _DAGSTER_CLASSES:
        home = vars(sys.modules[cls.__module__]) if cls.__module__ in sys.modules else None
        for attribute in list(vars(cls).values()):
            namespace = getattr(getattr(attribute, "__func__", attribute), "__globals__", None)
            if isinstance(namespace, dict) and namespace is not home:
                found[id(namespace)] = namespace
    return list(found.values())


def _in_worker(batch: list[tuple[str, str, dict]]) -> list[Outcome]:
    """A batch's partitions one after another; one that raises does not stop the others."""
    steps = _STEPS
    listener = (lambda partition, step: steps.put((partition, step))) if steps is not None else None
    outcomes = []
    for market, month, settings in batch:
        try:
            outcomes.append(run_partition(market, month, settings, listener))
        except Exception as error:  # a bug, reported with its trace and its partition
            outcomes.append(_failed(market, month, error))
    return outcomes


def _outcomes_of(
    future: concurrent.futures.Future, batch: list[int], targets: list[tuple[str, str, dict]]
) -> list[Outcome]:
    try:
        return future.result()
    except Exception as error:  # a worker that died: every partition of its batch failed
        return [_failed(targets[i][0], targets[i][1], error) for i in batch]


def _failed(market: str, month: str, error: BaseException) -> Outcome:
    trace = "".join(traceback.format_exception(error))
    return Outcome(f"{market} {month}", False, 0.0, error=redact(f"worker failed:\n{trace}"))


def _drain(steps, on_step: StepListener) -> None:
    """Every step event the workers have sent so far."""
    while not steps.empty():
        partition, step = steps.get()
        on_step(partition, step)
