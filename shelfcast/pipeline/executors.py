"""Where a run's steps execute, chosen by the deployment: ``SHELFCAST_EXECUTOR``.

``multiprocess`` (the default)  every step in a process of its own on the run's machine.
``in_process``                  every step in the run's own process: no start-up per step, for
                                runs queued on a daemon machine with small partitions.
``celery``                      every step a Celery task on the deployment's workers
                                (``dagster-celery``); broker and result backend from
                                ``SHELFCAST_CELERY_BROKER`` / ``SHELFCAST_CELERY_BACKEND``, read
                                where the run starts, never written into run config.
``k8s``                         every step a Kubernetes Job (``dagster-k8s``), for the Helm chart.

The variable is read when the code location loads, so the webserver, the daemon, the run worker
and the Celery workers of one deployment, which share its environment, agree. Steps never hand
data over in memory (every output goes through the lake's IO manager), which is what lets any of
these run them on another machine. The Celery and Kubernetes executors are in the ``deploy``
extra.
"""

from __future__ import annotations

import os

from dagster import ExecutorDefinition, in_process_executor, multiprocess_executor

from shelfcast.errors import UserError

EXECUTOR_ENV = "SHELFCAST_EXECUTOR"
BROKER_ENV = "SHELFCAST_CELERY_BROKER"
BACKEND_ENV = "SHELFCAST_CELERY_BACKEND"
EXECUTORS = ("multiprocess", "in_process", "celery", "k8s")

# Celery settings of every shelfcast run. A step is acknowledged once it is done, not when a
# worker takes it, and a worker process that dies mid-step fails the task (WorkerLostError), so
# the run fails naming the step instead of waiting for it forever; shelfcast re-runs a failed
# partition as a new run (every output is written atomically and delivery is idempotent).
CELERY_SETTINGS = {
    "task_acks_late": True,
    "task_reject_on_worker_lost": False,
    "worker_prefetch_multiplier": 1,
    "broker_connection_retry_on_startup": True,
}


def deployment_executor() -> ExecutorDefinition:
    """The executor ``SHELFCAST_EXECUTOR`` names (``multiprocess`` when unset)."""
    name = os.environ.get(EXECUTOR_ENV, "").strip() or "multiprocess"
    if name == "multiprocess":
        return multiprocess_executor.configured({"max_concurrent": 2}, name="multiprocess")
    if name == "in_process":
        return in_process_executor
    if name == "celery":
        return celery_executor()
    if name == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    raise UserError(f"{EXECUTOR_ENV}={name!r}: use one of {', '.join(EXECUTORS)}")


def celery_executor() -> ExecutorDefinition:
    """dagster-celery's executor on the deployment's broker; both URLs must be set."""
    try:
        from dagster_celery import celery_executor as celery
    except ImportError:
        raise UserError(
            f"{EXECUTOR_ENV}=celery needs dagster-celery: pip install 'shelfcast[deploy]'"
        ) from None
    missing = [name for name in (BROKER_ENV, BACKEND_ENV) if not os.environ.get(name)]
    if missing:
        raise UserError(
            f"{EXECUTOR_ENV}=celery: set {' and '.join(missing)} "
            "(e.g. redis://broker:6379/0, amqp://user@broker:5672//)"
        )
    return celery.configured(
        {
            "broker": {"env": BROKER_ENV},
            "backend": {"env": BACKEND_ENV},
            "include": ["shelfcast.definitions"],
            "config_source": CELERY_SETTINGS,
        },
        name="celery",
    )
