"""Market × month partitions. Markets come from the versioned defaults, so a market key that the
configuration does not know can never become part of a storage path."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from dagster import (
    DimensionPartitionMapping,
    IdentityPartitionMapping,
    MonthlyPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionMapping,
    MultiPartitionsDefinition,
    StaticPartitionsDefinition,
    TimeWindowPartitionMapping,
)

from shelfcast.pipeline.resources import Locations


@cache
def versioned_defaults() -> dict:
    """configs/defaults.yaml, read once per process for what definitions need at load time."""
    return yaml.safe_load(Path(Locations().config_folder(), "defaults.yaml").read_text())


MARKETS = tuple(versioned_defaults()["markets"])
FIRST_MONTH = versioned_defaults()["first_month"]
# Months of sales the forecast asset loads; a run may ask for fewer, never more.
HISTORY_WINDOW_MONTHS = int(versioned_defaults()["forecast"]["history_months"])
# product_performance compares with the same month last year and the six months before.
PERFORMANCE_WINDOW_MONTHS = 13

market_partitions = StaticPartitionsDefinition(list(MARKETS))
# end_offset=0 (Dagster's default, spelled out): the last partition is the last closed month,
# the newest month whose sales are complete; the current month appears once it has closed.
month_partitions = MonthlyPartitionsDefinition(start_date=f"{FIRST_MONTH}-01", end_offset=0)
market_month = MultiPartitionsDefinition({"market": market_partitions, "month": month_partitions})


def trailing_months(months: int) -> MultiPartitionMapping:
    """The same market's partitions for this month and the ``months − 1`` before it."""
    return MultiPartitionMapping(
        {
            "market": DimensionPartitionMapping("market", IdentityPartitionMapping()),
            "month": DimensionPartitionMapping(
                "month",
                TimeWindowPartitionMapping(
                    start_offset=-(months - 1), allow_nonexistent_upstream_partitions=True
                ),
            ),
        }
    )


def partition_key(market: str, month: str) -> MultiPartitionKey:
    """The partition of ``market`` and ``YYYY-MM``, e.g. ``US|2024-03-01``."""
    return MultiPartitionKey({"market": market, "month": f"{month}-01"})


def split_partition_key(key: MultiPartitionKey | str) -> tuple[str, str]:
    """``('US', '2024-03')`` from ``US|2024-03-01``."""
    if not isinstance(key, MultiPartitionKey):
        key = market_month.get_partition_key_from_str(str(key))
    return key.keys_by_dimension["market"], key.keys_by_dimension["month"][:7]
