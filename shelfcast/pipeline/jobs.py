"""The monthly pricing job and its schedule."""

import datetime as dt

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    define_asset_job,
    schedule,
)

from shelfcast.pipeline.partitions import MARKETS, market_month, partition_key

MONTHLY_PRICING = "monthly_pricing"

monthly_pricing = define_asset_job(
    MONTHLY_PRICING,
    selection=AssetSelection.all(),
    partitions_def=market_month,
    description="All seven stages for one market and month.",
)

SALES_HISTORY = "sales_history"
sales_history = define_asset_job(
    SALES_HISTORY,
    selection=AssetSelection.assets("sales"),
    partitions_def=market_month,
    description="Months of sales drops loaded in one run (a single-run backfill).",
)


def partition_tags(market: str, month: str) -> dict[str, str]:
    """Run tags for one partition; the per-dimension tags make the key a MultiPartitionKey."""
    return {
        "dagster/partition": str(partition_key(market, month)),
        "dagster/partition/market": market,
        "dagster/partition/month": f"{month}-01",
    }


# Dagster's documented run tags of a single-run backfill over a range of partitions.
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def partition_range_tags(market: str, first_month: str, last_month: str) -> dict[str, str]:
    """Run tags for one run over ``market``'s months ``first_month`` … ``last_month``."""
    return {
        RANGE_START_TAG: str(partition_key(market, first_month)),
        RANGE_END_TAG: str(partition_key(market, last_month)),
    }


@schedule(
    job=monthly_pricing,
    cron_schedule="0 6 2 * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.STOPPED,
)
def monthly_pricing_schedule(context: ScheduleEvaluationContext):
    """On the 2nd of each month, run every market for the month that just closed."""
    now = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
    closed = (now.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    for market in MARKETS:
        yield RunRequest(
            run_key=f"{market}|{closed}",
            partition_key=str(partition_key(market, closed)),
            tags={"dagster/partition/market": market, "dagster/partition/month": f"{closed}-01"},
        )
