"""Running partitions from Python: what `shelfcast run` and `shelfcast demo` do.

Parameters are resolved and typed before any run starts, so a typo or an out-of-range value in a
patch stops everything with one message. Each partition runs in-process against the instance in
$DAGSTER_HOME (an ephemeral one when unset), so its runs appear in the Dagster UI. Months of
sales history that the instance has not materialized are loaded first, in single-run backfills.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field

import pandas as pd
from dagster import AssetKey, DagsterInstance, JobDefinition

from shelfcast.pipeline.jobs import (
    MONTHLY_PRICING,
    SALES_HISTORY,
    partition_range_tags,
    partition_tags,
)
from shelfcast.pipeline.params import PipelineParams
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
from shelfcast.platform.landing import drop_files
from shelfcast.platform.snapshots import latest_snapshot_path, run_snapshots

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
PARTITION_REFERENCE = re.compile(r"^(?P<market>[A-Z]{2})[|/ ](?P<month>\d{4}-\d{2})(-01)?$")
# Runs started from the CLI log warnings and errors only; progress is the CLI's own.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class Outcome:
    partition: str
    success: bool
    seconds: float
    error: str = ""
    run_id: str = ""
    summary: dict = field(default_factory=dict)


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
) -> list[Outcome]:
    """Run every market × month with the same patches; parameters are checked before any run."""
    settings = {"patches": list(patches), "patch_file": patch_file}
    return run_targets([(m, mo, settings) for m in markets for mo in months], console)


def replay(reference: str, console=None) -> list[Outcome]:
    """Re-run past partitions with exactly their saved parameters.

    ``reference`` is a run id (every partition that run covered) or a partition such as
    ``US|2024-03`` (its latest saved parameters).
    """
    return run_targets(
        [(m, mo, {"replay": url}) for m, mo, url in saved_parameters(reference)], console
    )


def saved_parameters(reference: str) -> list[tuple[str, str, str]]:
    """``(market, month, snapshot URL)`` of a partition reference or of every partition of a run."""
    lake = code_location_deployment().lake()
    match = PARTITION_REFERENCE.match(reference)
    if match:
        market, month = match["market"], match["month"]
        path = latest_snapshot_path(lake, [f"market={market}", f"month={month}"])
        if not path.exists():
            raise ConfigError(f"no saved parameters for {market} {month} at {path}")
        return [(market, month, str(path))]
    found = run_snapshots(lake, reference)
    if not found:
        raise ConfigError(
            f"no saved parameters for {reference!r}: give a run id or a partition like US|2024-03"
        )
    return [
        (segments[0].partition("=")[2], segments[1].partition("=")[2], str(path))
        for segments, path in found.items()
    ]


def run_targets(targets: list[tuple[str, str, dict]], console=None) -> list[Outcome]:
    from shelfcast.definitions import defs

    deployment = code_location_deployment()
    for market, month, settings in targets:  # raises ConfigError before any run starts
        check_partition(market, month)
        PipelineParams(deployment=deployment, **settings).check(market, month)

    job = defs.resolve_job_def(MONTHLY_PRICING)
    instance = (
        DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else DagsterInstance.ephemeral()
    )
    outcomes = []
    for market in dict.fromkeys(m for m, _, _ in targets):
        months = sorted({mo for m, mo, _ in targets if m == market})
        history_job = defs.resolve_job_def(SALES_HISTORY)
        for history in load_sales_history(history_job, instance, market, months, console):
            if not history.success:
                outcomes.append(history)
    if outcomes:
        return outcomes
    for market, month, settings in targets:
        label = f"{market} {month}"
        started = time.perf_counter()
        if console is not None:
            console.print(f"running {label} …", highlight=False)
        result = job.execute_in_process(
            run_config={"resources": {"params": {"config": settings}}, **QUIET},
            instance=instance,
            partition_key=str(partition_key(market, month)),
            tags=partition_tags(market, month),
            raise_on_error=False,
        )
        outcomes.append(
            Outcome(
                partition=label,
                success=result.success,
                seconds=time.perf_counter() - started,
                error="" if result.success else failure_message(result),
                run_id=result.run_id,
                summary=summary(result) if result.success else {},
            )
        )
    return outcomes


def failure_message(result) -> str:
    """The first failed step's own message, without a traceback; a failed check's findings."""
    for event in result.all_events:
        if (
            event.event_type_value == "ASSET_CHECK_EVALUATION"
            and not event.event_specific_data.passed
        ):
            evaluation = event.event_specific_data
            findings = evaluation.metadata.get("first_violations")
            detail = f":\n{findings.value}" if findings is not None else ""
            return f"check {evaluation.check_name} on {evaluation.asset_key.to_user_string()} failed{detail}"
    for event in result.all_events:
        if event.is_step_failure:
            data = event.step_failure_data
            if data.user_failure_data is not None and data.user_failure_data.description:
                return data.user_failure_data.description  # it names asset and partition
            return f"{event.step_key}: {data.error.message.strip() if data.error else 'failed'}"
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

    The window runs back from ``month`` over the months with a landing drop, at most
    HISTORY_WINDOW_MONTHS long; ``month`` itself is left to the partition's own run.
    """
    landing = LandingZone(deployment=code_location_deployment())
    missing = []
    period = pd.Period(month, freq="M") - 1
    first = pd.Period(FIRST_MONTH, freq="M")
    for _ in range(HISTORY_WINDOW_MONTHS - 1):
        if period < first:
            break
        label = period.strftime("%Y-%m")
        if not drop_files(landing.folder("sales", market, label)):
            break
        if str(partition_key(market, label)) not in materialized:
            missing.append(label)
        period -= 1
    return sorted(missing)


def load_sales_history(
    history_job: JobDefinition, instance, market: str, months: list[str], console=None
) -> list[Outcome]:
    """Materialize the missing history of every month in ``months``, each stretch of
    consecutive months in one single-run backfill.

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
    return [
        _load_months(history_job, instance, market, stretch, console)
        for stretch in consecutive_stretches(missing)
    ]


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
    return Outcome(
        partition=label,
        success=result.success,
        seconds=time.perf_counter() - started,
        error="" if result.success else failure_message(result),
        run_id=result.run_id,
    )
