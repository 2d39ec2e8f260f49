"""The sales window a step computes on is complete, or the step fails before any compute.

`product_performance`, `demand_forecast` and `price_recommendations` read trailing windows of
`sales` (13 and 24 months). Whatever started the run (``shelfcast run``, the UI, ``dagster``/``dg``,
the schedule, the sensor), a window month that is missing is one of two things:

- the market's data genuinely starts later (no drop of that month or any earlier one, in the
  landing zone or the lake): allowed; the window length the step got goes into its metadata and
  the warning-severity check ``sales_history_complete`` shows it in the UI;
- anything else (a month in the landing zone but not in the lake, or a gap in the landing zone
  between landed months): the step fails, naming the months and the commands that load them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, MetadataValue

from shelfcast.errors import UserError
from shelfcast.pipeline.partitions import FIRST_MONTH, HISTORY_WINDOW_MONTHS, split_partition_key
from shelfcast.pipeline.resources import LandingZone
from shelfcast.platform.landing import drop_files, landed_months

CHECK_NAME = "sales_history_complete"


class HistoryIncompleteError(UserError):
    """A window month the step needs is not in the lake although the market has data for it."""


def history_check(asset: str) -> AssetCheckSpec:
    return AssetCheckSpec(
        CHECK_NAME,
        asset=asset,
        description="The sales window this asset computed on is as long as configured; a "
        "warning when the market's data starts later than the window",
    )


@dataclass(frozen=True)
class Window:
    market: str
    month: str
    expected: tuple[str, ...]  # the configured window, clipped to the first partition
    loaded: tuple[str, ...]
    first_available: str  # the market's first month in the lake or the landing zone

    @property
    def complete(self) -> bool:
        return set(self.expected) <= set(self.loaded)

    def check_result(self) -> AssetCheckResult:
        text = f"{len(self.loaded)} of {len(self.expected)} months" + (
            "" if self.complete else f": the market's sales start {self.first_available}"
        )
        return AssetCheckResult(
            check_name=CHECK_NAME,
            passed=self.complete,
            severity=AssetCheckSeverity.WARN,
            metadata={
                "window": MetadataValue.text(f"{self.expected[0]} … {self.expected[-1]}"),
                "months_expected": MetadataValue.int(len(self.expected)),
                "months_loaded": MetadataValue.int(len(self.loaded)),
                "first_month": MetadataValue.text(self.first_available),
                "summary": MetadataValue.text(text),
            },
        )


def checked_window(
    frames: Mapping[str, pd.DataFrame], market: str, month: str, months: int, landing: LandingZone
) -> Window:
    """The window ``frames`` covers, checked; raises HistoryIncompleteError for a real gap."""
    period = pd.Period(month, freq="M")
    first_partition = pd.Period(FIRST_MONTH, freq="M")
    expected = [
        str(p)
        for p in pd.period_range(period - (months - 1), period, freq="M")
        if p >= first_partition
    ]
    loaded = sorted(m for key in frames if (m := split_partition_key(key)[1]) >= expected[0])
    missing = [m for m in expected if m not in loaded]
    if not missing:
        return Window(market, month, tuple(expected), tuple(loaded), expected[0])
    available = sorted(
        set(loaded) | {m for m in landed_months(landing.root(), "sales", market) if m <= month}
    )
    first = available[0] if available else month
    unexplained = [m for m in missing if m >= first]
    if unexplained:
        raise HistoryIncompleteError(_message(unexplained, market, month, months, landing))
    return Window(market, month, tuple(expected), tuple(loaded), first)


def _message(missing: list[str], market: str, month: str, months: int, landing: LandingZone) -> str:
    landed = [m for m in missing if drop_files(landing.folder("sales", market, m))]
    gaps = [m for m in missing if m not in landed]
    parts = [f"the {months}-month sales window up to {month} is incomplete"]
    if landed:
        first, last = _history_range(market, month, landing)
        parts.append(
            f"{_months(landed)} in the landing zone but not in the lake. Load "
            f"{'it' if len(landed) == 1 else 'them'} with `shelfcast run --market {market} "
            f"--month {month}` (it loads missing history first), or `dagster asset materialize "
            f"-m shelfcast.definitions --select sales --partition-range "
            f"'{market}|{first}-01...{market}|{last}-01'`, or in the Dagster UI: Assets → "
            f"sales → Materialize, partitions {market}|{first}-01 … {market}|{last}-01 as one run"
        )
    if gaps:
        parts.append(
            f"{_months(gaps)} missing from the landing zone although the market has earlier "
            f"months: upload the drop under {landing.folder('sales', market, gaps[0]).parent}/"
            "month=<YYYY-MM>/ first"
        )
    return "; ".join(parts)


def _history_range(market: str, month: str, landing: LandingZone) -> tuple[str, str]:
    """The months that one load gives every window of the run: the forecast's whole window
    back from ``month``, from the market's first landed month (months already in the lake are
    rewritten unchanged)."""
    period = pd.Period(month, freq="M")
    start = max(period - (HISTORY_WINDOW_MONTHS - 1), pd.Period(FIRST_MONTH, freq="M"))
    landed = [m for m in landed_months(landing.root(), "sales", market) if str(start) <= m < month]
    return (landed[0] if landed else str(start)), str(period - 1)


def _months(months: list[str]) -> str:
    shown = ", ".join(months[:12]) + (f" and {len(months) - 12} more" if len(months) > 12 else "")
    return f"{shown} {'is' if len(months) == 1 else 'are'}"
