"""Running partitions from Python: what `shelfcast run` and `shelfcast demo` do.

Parameters are resolved and typed before any run starts, so a typo or an out-of-range value in a
patch stops everything with one message. Each partition runs in-process against the instance in
$DAGSTER_HOME (an ephemeral one when unset), so its runs appear in the Dagster UI. Months of
sales history that the instance has not materialized are loaded first, in single-run backfills.
"""

from __future__ import annotations

import contextlib
import os
import re
import time

import pandas as pd
from dagster import AssetCheckSeverity, AssetKey, DagsterInstance, JobDefinition

from shelfcast.pipeline.jobs import (
    SALES_HISTORY,
    partition_range_tags,
)
from shelfcast.pipeline.params import PARTITION_REFERENCE, RUN_ID, PipelineParams
from shelfcast.pipeline.partition_runs import (
    QUIET,
    Outcome,
    StepListener,
    WorkerPool,
    execute_partitions,
    release_run_memory,
)
from shelfcast.pipeline.partitions import (
    FIRST_MONTH,
    HISTORY_WINDOW_MONTHS,
    MARKETS,
    month_partitions,
    partition_key,
    split_partition_key,
)
from shelfcast.pipeline.resources import LandingZone, Locations
from shelfcast.platform.config import ConfigError, ResolvedConfig
from shelfcast.platform.landing import drop_files, landed_months
from shelfcast.platform.secrets import redact
from shelfcast.platform.snapshots import latest_snapshot_path, run_snapshots
from shelfcast.platform.validated_cache import VALIDATED

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def check_partition(market: str, month: str) -> None:
    if market not in MARKETS:
        raise ConfigError(f"unknown market {market!r}; configured markets: {', '.join(MARKETS)}")
    if not MONTH.match(month):
        raise ConfigError(f"month {month!r}: expected YYYY-MM, e.g. 2024-03")
    if f"{month}-01" not in month_partitions.get_partition_keys():
        first = month_partitions.get_first_partition_key() or ""
        last = month_partitions.get_last_partition_key() or ""
        raise ConfigError(f"month {month} is outside the partitions {first[:7]} … {last[:7]}")


def code_location_deployment() -> Locations:
    """The code location's Locations resource: the one place locations are resolved."""
    from shelfcast.definitions import deployment

    return deployment


def resolve_params(
    market: str, month: str, patches: list[str], patch_file: str = ""
) -> ResolvedConfig:
    """The partition's parameters as `shelfcast config show` prints them (typed and checked)."""
    check_partition(market, month)
    params = PipelineParams(
        patches=list(patches), patch_file=patch_file, deployment=code_location_deployment()
    )
    return params.check(market, month).config


def run_partitions(
    markets: list[str],
    months: list[str],
    patches: list[str],
    console=None,
    patch_file: str = "",
    workers: int = 1,
    on_step: StepListener | None = None,
) -> list[Outcome]:
    """Run every market × month with the same patches; parameters are checked before any run."""
    return run_targets(
        partition_targets(markets, months, patches, patch_file), console, workers, on_step
    )


def partition_targets(
    markets: list[str], months: list[str], patches: list[str], patch_file: str = ""
) -> list[tuple[str, str, dict]]:
    """``(market, month, params settings)`` of every market × month, with the same patches."""
    settings = {"patches": list(patches), "patch_file": patch_file}
    return [(m, mo, settings) for m in markets for mo in months]


def replay(
    reference: str, console=None, workers: int = 1, on_step: StepListener | None = None
) -> list[Outcome]:
    """Re-run past partitions with exactly their saved parameters.

    ``reference`` is a Dagster run id (every partition that run covered) or a partition such as
    ``US|2024-03`` (the parameters of its latest successful run). The snapshots read are always
    inside the lake's ``_runs/`` or ``_params/`` and are validated like any untrusted layer.
    """
    return run_targets(replay_targets(reference), console, workers, on_step)


def replay_targets(reference: str) -> list[tuple[str, str, dict]]:
    """``(market, month, params settings)`` of the partitions ``reference`` names."""
    return [(m, mo, {"replay": ref}) for m, mo, ref in saved_parameters(reference)]


def saved_parameters(reference: str) -> list[tuple[str, str, str]]:
    """``(market, month, replay reference)`` of a partition, or of every partition of a run."""
    lake = code_location_deployment().lake()
    found = PARTITION_REFERENCE.match(reference)
    if found:
        market, month = found["market"], found["month"]
        path = latest_snapshot_path(lake, [f"market={market}", f"month={month}"])
        if not path.exists():
            raise ConfigError(
                f"no saved parameters for {market} {month}: no run of it has succeeded yet "
                f"(looked for {path})"
            )
        return [(market, month, f"{market}|{month}")]
    if not RUN_ID.match(reference):
        raise ConfigError(
            f"--replay {reference!r}: give a Dagster run id (like 3f2b8c1e-…, 36 characters) or "
            "a partition such as US|2024-03"
        )
    snapshots = run_snapshots(lake, reference)
    if not snapshots:
        raise ConfigError(f"no saved parameters for run {reference} in {lake}/_runs/")
    return [
        (segments[0].partition("=")[2], segments[1].partition("=")[2], reference)
        for segments in snapshots
    ]


def run_targets(
    targets: list[tuple[str, str, dict]],
    console=None,
    workers: int = 1,
    on_step: StepListener | None = None,
) -> list[Outcome]:
    """Check every partition's parameters, load the missing sales history, then run the
    partitions, ``workers`` at a time in separate processes."""
    workers = max(1, min(workers, len(targets)))
    pool = WorkerPool(workers, on_step is not None) if workers > 1 else contextlib.nullcontext()
    with pool:  # the workers import the code location while this process checks
        from shelfcast.definitions import defs

        check_targets(targets)
        instance = (
            DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else DagsterInstance.ephemeral()
        )
        failed = []
        for market in dict.fromkeys(m for m, _, _ in targets):
            months = sorted({mo for m, mo, _ in targets if m == market})
            history_job = defs.resolve_job_def(SALES_HISTORY)
            for history in load_sales_history(history_job, instance, market, months, console):
                if not history.success:
                    failed.append(history)
        if failed:
            return failed
        if isinstance(pool, WorkerPool):
            # The months the history load kept validated serve runs in this process only.
            VALIDATED.clear()
            return execute_partitions(targets, workers, on_step, pool)
        return execute_partitions(targets, workers, on_step)


def check_targets(targets: list[tuple[str, str, dict]]) -> None:
    """Every partition and its parameters, before any run starts (raises ConfigError)."""
    deployment = code_location_deployment()
    for market, month, settings in targets:
        check_partition(market, month)
        PipelineParams(deployment=deployment, **settings).check(market, month)


def failure_message(result) -> str:
    """The first failure as the user should read it: a refusal's own message (it names asset,
    partition and what to fix), a failed check's findings, or, for a bug, the error with its
    traceback. Secrets are masked."""
    return redact(_failure(result))


def _failure(result) -> str:
    for event in result.all_events:
        if (
            event.event_type_value == "ASSET_CHECK_EVALUATION"
            and not event.event_specific_data.passed
            and event.event_specific_data.severity == AssetCheckSeverity.ERROR
        ):
            evaluation = event.event_specific_data
            findings = evaluation.metadata.get("first_violations")
            detail = f":\n{findings.value}" if findings is not None else ""
            failure = next((e for e in result.all_events if e.is_step_failure), None)
            described = failure.step_failure_data.user_failure_data if failure else None
            if described is not None and described.description:
                return described.description  # a refusal that also recorded its check
            return f"check {evaluation.check_name} on {evaluation.asset_key.to_user_string()} failed{detail}"
    for event in result.all_events:
        if event.is_step_failure:
            data = event.step_failure_data
            if data.user_failure_data is not None and data.user_failure_data.description:
                return data.user_failure_data.description
            if data.error is not None:  # not a refusal: a bug, with its traceback
                return f"{event.step_key} failed unexpectedly:\n{data.error.to_string()}"
            return f"{event.step_key}: failed"
    return "run failed"


def summary(result) -> dict:
    def value(node: str, key: str):
        for materialization in result.asset_materializations_for_node(node):
            entry = materialization.metadata.get(key)
            if entry is not None:
                return entry.value
        return None

    return {
        "products": value("product_performance", "products"),
        "underperforming": value("product_performance", "underperforming"),
        "price_changes": value("price_recommendations", "price_changes"),
        "margin_uplift": value("price_recommendations", "margin_uplift"),
    }


def missing_history(market: str, month: str, materialized: set[str]) -> list[str]:
    """Months of the forecast window whose sales are in the landing zone but that the instance
    has not materialized.

    Every landed month of the window counts, also beyond a month missing from the landing zone:
    the window's own check then names only that gap. ``month`` itself is left to the
    partition's own run.
    """
    landing = LandingZone(deployment=code_location_deployment())
    landed = set(landed_months(landing.root(), "sales", market))
    period = pd.Period(month, freq="M")
    first = pd.Period(FIRST_MONTH, freq="M")
    window = [period - back for back in range(1, HISTORY_WINDOW_MONTHS)]
    return sorted(
        str(m)
        for m in window
        if m >= first
        and str(m) in landed
        and str(partition_key(market, str(m))) not in materialized
        and drop_files(landing.folder("sales", market, str(m)))
    )


def load_sales_history(
    history_job: JobDefinition, instance, market: str, months: list[str], console=None
) -> list[Outcome]:
    """Materialize the missing history of every month in ``months``, each stretch of
    consecutive months in one single-run backfill."""
    return [
        _load_months(history_job, instance, market, stretch, console)
        for stretch in history_stretches(instance, market, months)
    ]


def history_stretches(instance, market: str, months: list[str]) -> list[list[str]]:
    """The sales months that ``months``' windows need and ``instance`` has not materialized,
    as stretches of consecutive months.

    Every month's own window counts, not just the latest's: a month run beside later ones
    gets the same history as when it runs alone.
    """
    materialized = {
        str(key)
        for key in instance.get_materialized_partitions(AssetKey("sales"))
        if split_partition_key(key)[0] == market
    }
    missing = sorted(
        {label for month in months for label in missing_history(market, month, materialized)}
    )
    return consecutive_stretches(missing)


def consecutive_stretches(months: list[str]) -> list[list[str]]:
    """``['2024-01', '2024-02', '2024-05']`` → ``[['2024-01', '2024-02'], ['2024-05']]``."""
    stretches: list[list[str]] = []
    for label in sorted(months):
        previous = stretches[-1][-1] if stretches else None
        if previous is not None and pd.Period(label, freq="M") - 1 == pd.Period(previous, freq="M"):
            stretches[-1].append(label)
        else:
            stretches.append([label])
    return stretches


def _load_months(
    history_job: JobDefinition, instance, market: str, missing: list[str], console
) -> Outcome:
    label = f"{market} sales {missing[0]} … {missing[-1]}"
    if console is not None:
        console.print(f"loading sales history {label} …", highlight=False)
    started = time.perf_counter()
    result = history_job.execute_in_process(
        instance=instance,
        run_config=QUIET,
        tags=partition_range_tags(market, missing[0], missing[-1]),
        raise_on_error=False,
    )
    outcome = Outcome.of(label, result, started, with_summary=False)
    del result  # it holds the run's outputs: every month of history loaded
    release_run_memory(collect=True)
    return outcome
