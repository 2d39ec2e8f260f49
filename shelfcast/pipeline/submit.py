"""Runs put on the deployment's queue instead of executed here: `shelfcast run --submit`.

The partitions and their parameters are checked first, exactly as for an in-process run. Runs are
then submitted through the Dagster webserver's GraphQL API (``SHELFCAST_UI_URL``), as the UI
does; the instance's QueuedRunCoordinator holds them and ``dagster-daemon`` launches them,
``max_concurrent_runs`` at a time, wherever the deployment runs them (a process per run, Celery
workers, Kubernetes Jobs). The months of sales history the windows need and the instance has not
materialized (read from the instance of ``$DAGSTER_HOME``, the deployment's own) are submitted
first, one single-run backfill per stretch of months, and the partitions only once those runs
succeeded: a partition never starts on a window that is still loading.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from dagster import DagsterInstance, DagsterRunStatus

from shelfcast.errors import UserError
from shelfcast.pipeline.jobs import (
    MONTHLY_PRICING,
    SALES_HISTORY,
    partition_range_tags,
    partition_tags,
)
from shelfcast.pipeline.runner import check_targets, history_stretches

UI_URL_ENV = "SHELFCAST_UI_URL"
DEFAULT_UI_URL = "http://127.0.0.1:3000"
DONE = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
HEARTBEAT_SECONDS = 120  # a daemon seen more recently than this is taken as running


class SubmitError(UserError):
    """The webserver could not be reached, refused a run, or a prerequisite run failed."""


def ui_url() -> str:
    """Where the deployment's Dagster webserver (and UI) is served: ``SHELFCAST_UI_URL``."""
    return os.environ.get(UI_URL_ENV, DEFAULT_UI_URL).rstrip("/")


@dataclass
class Submitted:
    partition: str  # "US 2024-03", or "US sales 2022-04 … 2024-02" for a history run
    run_id: str
    status: DagsterRunStatus = DagsterRunStatus.QUEUED

    @property
    def success(self) -> bool:
        return self.status == DagsterRunStatus.SUCCESS

    def link(self) -> str:
        return f"{ui_url()}/runs/{self.run_id}"


class Webserver:
    """The deployment's webserver, through dagster-graphql's client."""

    def __init__(self, url: str) -> None:
        from dagster_graphql import DagsterGraphQLClient

        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SubmitError(f"{UI_URL_ENV}={url!r}: expected http(s)://host[:port][/prefix]")
        self.url = url
        try:  # the webserver's own health endpoint, before anything is submitted
            httpx.get(f"{url}/server_info", timeout=10).raise_for_status()
        except httpx.HTTPError as error:
            raise SubmitError(
                f"the Dagster webserver at {url} is unreachable ({type(error).__name__}): start "
                f"it (dagster-webserver) or set {UI_URL_ENV} to its address"
            ) from None
        self.client = DagsterGraphQLClient(
            parts.hostname,
            port_number=parts.port,
            use_https=parts.scheme == "https",
            path_prefix=parts.path.rstrip("/"),
            timeout=60,
        )

    def submit(self, job: str, tags: dict[str, str], run_config: dict | None = None) -> str:
        from dagster_graphql import DagsterGraphQLClientError

        try:
            return self.client.submit_job_execution(job, run_config=run_config or {}, tags=tags)
        except DagsterGraphQLClientError as error:
            detail = error.body if getattr(error, "body", None) else error
            raise SubmitError(
                f"the webserver at {self.url} refused a {job} run: {detail}"
            ) from None

    def status(self, run_id: str) -> DagsterRunStatus:
        return self.client.get_run_status(run_id)


def submit_targets(
    targets: list[tuple[str, str, dict]],
    console=None,
    wait: bool = False,
    poll_seconds: float = 2.0,
) -> list[Submitted]:
    """Put every ``(market, month, params settings)`` on the queue; the history they need first.

    Returns the submitted runs, history first. With ``wait``, returns once all are done, each with
    its final status; without, as soon as the partitions' runs are queued. ``console`` (rich)
    hears each run as it is submitted.
    """
    check_targets(targets)  # ConfigError before anything is submitted
    if not os.environ.get("DAGSTER_HOME"):
        raise SubmitError(
            "--submit reads which sales months the deployment has loaded from its instance: set "
            "DAGSTER_HOME to the folder of the deployment's dagster.yaml"
        )
    instance = DagsterInstance.get()
    webserver = Webserver(ui_url())

    def notify(run: Submitted) -> None:
        if console is not None:
            console.print(
                f"submitted {run.partition}: run {run.run_id}  {run.link()}",
                highlight=False,
                soft_wrap=True,
            )

    if console is not None and not daemon_seen(instance):
        console.print(
            "warning: no dagster-daemon has sent this instance a heartbeat lately; queued runs "
            "start once one runs (dagster-daemon run)",
            highlight=False,
        )

    history = []
    for market in dict.fromkeys(m for m, _, _ in targets):
        months = sorted({mo for m, mo, _ in targets if m == market})
        for stretch in history_stretches(instance, market, months):
            run_id = webserver.submit(
                SALES_HISTORY, partition_range_tags(market, stretch[0], stretch[-1])
            )
            history.append(Submitted(f"{market} sales {stretch[0]} … {stretch[-1]}", run_id))
            notify(history[-1])
    if history:
        if console is not None:
            console.print("waiting for the sales history runs before the partitions …")
        wait_for(webserver, history, poll_seconds)
        failed = [run for run in history if not run.success]
        if failed:
            raise SubmitError(
                "; ".join(
                    f"{run.partition} {run.status.value.lower()}: {run.link()}" for run in failed
                )
                + " — no partition was submitted"
            )

    runs = []
    for market, month, settings in targets:
        run_id = webserver.submit(
            MONTHLY_PRICING,
            partition_tags(market, month),
            {"resources": {"params": {"config": settings}}},
        )
        runs.append(Submitted(f"{market} {month}", run_id))
        notify(runs[-1])
    if wait:
        wait_for(webserver, runs, poll_seconds)
    return history + runs


def daemon_seen(instance: DagsterInstance) -> bool:
    """Whether a dagster-daemon sent this instance a heartbeat lately (queued runs need one)."""
    heartbeats = instance.get_daemon_heartbeats().values()
    return any(time.time() - beat.timestamp < HEARTBEAT_SECONDS for beat in heartbeats)


def wait_for(webserver: Webserver, runs: list[Submitted], poll_seconds: float) -> None:
    """Until every run is done; each keeps its latest status."""
    while True:
        for run in runs:
            if run.status not in DONE:
                run.status = webserver.status(run.run_id)
        if all(run.status in DONE for run in runs):
            return
        time.sleep(poll_seconds)
