"""Month KPIs per product and explainable underperformer rules.

Every rule is a small named function over the KPI frame, so a reader sees the exact condition
that flagged a product, and ``reasons`` lists every rule that fired. A rule fires only when its
inputs are known: a comparison with a missing KPI (NaN) is false, and ratios on fewer than
``min_units_for_ratios`` units are not trusted (noise, not signal).

The rules in force by default answer one question, "is this product's demand going away?",
with two independent kinds of evidence (calibrated on the demo generator, whose truth is known:
benchmarks/decision_quality.py): the product's ``demand_trend`` over the 13 months
(shelfcast/core/demand_trend.py: net of its price, promotions and its category's season), and
stock piling up against its recent sales. Raw month-on-month comparisons (``yoy_decline``,
``trend_decline``), the margin (``low_margin``) and the product's rank in its category
(``category_laggard``) stay available but are off by default: on their own they mostly flag
noise, price steps and promotions, and the bottom of every category exists by construction, so
``category_laggard`` fires only together with a falling demand trend.

Definitions worth knowing:

- A month is *present* when the sales frame holds at least one row of that month (for any
  product); inside a present month a product without rows sold 0 units. A KPI that needs an
  absent month (last year's month, or any of the six trend months) is NaN.
- ``category_share`` is units / median units of the product's category in the month (all the
  category's products, zero sellers included). When that median is 0 the category mean is used
  instead (so non-sellers in a selling category still show as laggards), and when the whole
  category sold nothing every share is 1: nobody lags a category that sells nothing (a dead
  product with stock is caught by ``overstock``).
- ``stock_cover_days`` is stock on hand / average daily units over the last three months (the
  present ones among them): one month's sales of a slow seller are too noisy to divide by. It is
  0 with no stock and NaN (unbounded) with stock but no sales; ``overstock`` and
  ``stock_piling`` treat that case as unbounded cover.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from shelfcast.core.demand_trend import demand_trend
from shelfcast.core.rows import month_ordinals, positions, selection
from shelfcast.errors import UserError

RULES = (
    "demand_decline",
    "stock_piling",
    "overstock",
    "yoy_decline",
    "trend_decline",
    "category_laggard",
    "low_margin",
)

OUTPUT_COLUMNS = (
    "market",
    "month",
    "product_id",
    "category",
    "units",
    "revenue",
    "gross_margin",
    "margin_rate",
    "units_last_year",
    "yoy_change",
    "trend_change",
    "demand_trend",
    "demand_trend_z",
    "category_share",
    "stock_cover_days",
    "is_underperforming",
    "reasons",
)


class PerformanceConfigError(UserError, ValueError):
    """A performance parameter is unknown or out of range; the message names the key."""


@dataclass(frozen=True)
class PerformanceParams:
    """Thresholds of the underperformer rules (configs/defaults.yaml, section ``performance``)."""

    rules: tuple[str, ...]
    demand_decline: float
    min_decline_z: float
    price_elasticity: float
    piling_cover_days: float
    piling_decline: float
    max_stock_cover_days: float
    yoy_decline: float
    trend_decline: float
    category_share_floor: float
    laggard_decline: float
    min_margin_rate: float
    min_units_for_ratios: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules", tuple(self.rules))
        unknown = [rule for rule in self.rules if rule not in RULES]
        if unknown:
            raise PerformanceConfigError(
                f"unknown performance rule(s) {', '.join(map(repr, unknown))}; "
                f"valid rules are {', '.join(RULES)}"
            )
        share = "must be a share in [0, 1]"
        checks = [
            ("demand_decline", 0 <= self.demand_decline <= 1, share),
            ("min_decline_z", 0 <= self.min_decline_z < math.inf, "must be a number >= 0"),
            ("price_elasticity", -math.inf < self.price_elasticity <= 0, "must be a number <= 0"),
            ("piling_cover_days", 0 < self.piling_cover_days < math.inf, "must be > 0"),
            ("piling_decline", 0 <= self.piling_decline <= 1, share),
            ("max_stock_cover_days", 0 < self.max_stock_cover_days < math.inf, "must be > 0"),
            ("yoy_decline", 0 <= self.yoy_decline <= 1, share),
            ("trend_decline", 0 <= self.trend_decline <= 1, share),
            (
                "category_share_floor",
                0 <= self.category_share_floor < math.inf,
                "must be a share >= 0",
            ),
            ("laggard_decline", 0 <= self.laggard_decline <= 1, share),
            ("min_margin_rate", -math.inf < self.min_margin_rate < 1, "must be a share below 1"),
            ("min_units_for_ratios", self.min_units_for_ratios >= 0, "must be >= 0"),
        ]
        wrong = [
            f"performance.{key} {message}, got {getattr(self, key)}"
            for key, ok, message in checks
            if not ok
        ]
        if wrong:
            raise PerformanceConfigError("; ".join(wrong))


# --- the rules: each returns a boolean Series over the KPI frame ------------------------------


def demand_decline(kpis: pd.DataFrame, p: PerformanceParams) -> pd.Series:
    """Demand falls by more than ``demand_decline`` a year, at least ``min_decline_z`` standard
    errors from no change (net of price, promotions and the category's season)."""
    return (kpis["demand_trend"] < -p.demand_decline) & (kpis["demand_trend_z"] <= -p.min_decline_z)


def stock_piling(kpis: pd.DataFrame, p: PerformanceParams) -> pd.Series:
    """Stock covers more than ``piling_cover_days`` days while demand falls by more than
    ``piling_decline`` a year: the orders have not followed the demand down."""
    return _cover_above(kpis, p.piling_cover_days) & (kpis["demand_trend"] < -p.piling_decline)


def overstock(kpis: pd.DataFrame, p: PerformanceParams) -> pd.Series:
    """Stock covers more than ``max_stock_cover_days`` days of the last 3 months' sales, or stock
    is on hand and nothing sold in those months."""
    return _cover_above(kpis, p.max_stock_cover_days)


def yoy_decline(kpis: pd.DataFrame, p: PerformanceParams) -> pd.Series:
    """Units fell by more than ``yoy_decline`` vs the same month last year (which sold enough)."""
    return (kpis["yoy_change"] < -p.yoy_decline) & (
        kpis["units_last_year"] >= p.min_units_for_ratios
    )


def trend_decline(kpis: pd.DataFrame, p: PerformanceParams) -> pd.Series:
    """The last 3 months sold more than ``trend_decline`` fewer units than the 3 before."""
    return (kpis["trend_change"] < -p.trend_decline) & (
        kpis["units_previous_3m"] >= p.min_units_for_ratios
    )


def category_laggard(kpis: pd.DataFrame, p: PerformanceParams) -> pd.Series:
    """Units below ``category_share_floor`` of the category's median units *and* demand falling
    by more than ``laggard_decline`` a year: a category's bottom alone is no decline."""
    return (kpis["category_share"] < p.category_share_floor) & (
        kpis["demand_trend"] < -p.laggard_decline
    )


def low_margin(kpis: pd.DataFrame, p: PerformanceParams) -> pd.Series:
    """Gross margin below ``min_margin_rate`` of revenue, on enough units to judge."""
    return (kpis["margin_rate"] < p.min_margin_rate) & (kpis["units"] >= p.min_units_for_ratios)


def _cover_above(kpis: pd.DataFrame, days: float) -> pd.Series:
    """Stock cover above ``days``; stock on hand without sales counts as unbounded cover."""
    unsold_stock = kpis["stock_cover_days"].isna() & (kpis["stock_on_hand"] > 0)
    return (kpis["stock_cover_days"] > days) | unsold_stock


RULE_CHECKS: dict[str, Callable[[pd.DataFrame, PerformanceParams], pd.Series]] = {
    "demand_decline": demand_decline,
    "stock_piling": stock_piling,
    "overstock": overstock,
    "yoy_decline": yoy_decline,
    "trend_decline": trend_decline,
    "category_laggard": category_laggard,
    "low_margin": low_margin,
}


# --- KPIs ---------------------------------------------------------------------------------------


def assess_performance(
    sales: pd.DataFrame, products: pd.DataFrame, month: str, params: PerformanceParams
) -> pd.DataFrame:
    """KPIs of ``month`` for every product in ``products`` and the rules each one breaks.

    ``sales`` holds daily sales of the month and up to 12 earlier months; ``products`` is the
    month's product snapshot. Returns the ProductPerformanceSchema columns, one row per product.
    """
    kpis = month_kpis(sales, products, month, params.price_elasticity)
    fired = pd.DataFrame(
        {rule: RULE_CHECKS[rule](kpis, params) for rule in RULES if rule in params.rules},
        index=kpis.index,
        dtype=bool,
    )
    kpis["reasons"] = _join_fired(fired)
    kpis["is_underperforming"] = kpis["reasons"] != ""
    return kpis[list(OUTPUT_COLUMNS)].reset_index(drop=True)


def month_kpis(
    sales: pd.DataFrame, products: pd.DataFrame, month: str, price_elasticity: float
) -> pd.DataFrame:
    """The KPI frame the rules read: output KPIs plus ``stock_on_hand`` and ``units_previous_3m``.

    ``price_elasticity`` puts units sold at other prices on the usual price for ``demand_trend``.
    """
    period = pd.Period(month, freq="M")
    ids = pd.Index(products["product_id"].astype(str), name="product_id")
    units_by_month, revenue_by_month = _monthly_totals(sales, ids)
    present = set(units_by_month.columns)

    def units_over(offsets: range) -> pd.Series:
        """Units summed over months ``period - k``; NaN if any of those months is absent."""
        months = [period - k for k in offsets]
        if not all(m in present for m in months):
            return pd.Series(np.nan, index=ids)
        return units_by_month[months].sum(axis=1).reindex(ids, fill_value=0).astype(float)

    units = units_by_month.get(period, pd.Series(dtype=float)).reindex(ids, fill_value=0)
    revenue = revenue_by_month.get(period, pd.Series(dtype=float)).reindex(ids, fill_value=0)
    last_3m, previous_3m = units_over(range(0, 3)), units_over(range(3, 6))
    units_last_year = units_over(range(12, 13))

    kpis = pd.DataFrame(
        {
            "market": products["market"].to_numpy() if "market" in products else None,
            "month": month,
            "product_id": ids.to_numpy(),
            "category": products["category"].astype(str).to_numpy(),
            "units": units.to_numpy().astype("int64"),
            "revenue": revenue.to_numpy().astype(float),
            "units_last_year": units_last_year.to_numpy(),
            "units_previous_3m": previous_3m.to_numpy(),
            "stock_on_hand": products["stock_on_hand"].to_numpy(),
        }
    )
    unit_cost = products["unit_cost"].to_numpy(dtype=float)
    kpis["gross_margin"] = kpis["revenue"] - kpis["units"] * unit_cost
    kpis["margin_rate"] = kpis["gross_margin"] / kpis["revenue"].where(kpis["revenue"] > 0)
    kpis["yoy_change"] = _ratio_change(kpis["units"], kpis["units_last_year"])
    kpis["trend_change"] = _ratio_change(last_3m.to_numpy(), kpis["units_previous_3m"])
    kpis["category_share"] = _category_share(kpis["units"], kpis["category"])
    trend = demand_trend(sales, products, month, price_elasticity)
    kpis["demand_trend"] = trend["demand_trend"].to_numpy()
    kpis["demand_trend_z"] = trend["demand_trend_z"].to_numpy()
    recent = [period - k for k in range(3) if period - k in present] or [period]
    recent_units = units_by_month.reindex(index=ids, columns=recent, fill_value=0.0).sum(axis=1)
    daily_units = recent_units.to_numpy() / sum(m.days_in_month for m in recent)
    with np.errstate(divide="ignore", invalid="ignore"):
        kpis["stock_cover_days"] = np.where(
            kpis["stock_on_hand"] == 0,
            0.0,
            kpis["stock_on_hand"] / np.where(daily_units > 0, daily_units, np.nan),
        )
    return kpis


def _monthly_totals(sales: pd.DataFrame, ids: pd.Index) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Units and revenue per distinct product of ``ids`` (rows) and calendar month present in
    ``sales`` (Period columns, ascending), summed by ``np.bincount`` over dense cell numbers."""
    ids = ids.unique()
    if sales.empty:
        empty = pd.DataFrame(index=ids)
        return empty, empty
    ordinal = month_ordinals(sales["date"])
    first = int(ordinal.min())
    column = ordinal - first
    n_months = int(column.max()) + 1
    row = positions(sales["product_id"], ids)
    known = selection(row >= 0)
    cell = row[known] * n_months + column[known]
    size = len(ids) * n_months

    def table(values: pd.Series) -> np.ndarray:
        weights = values.to_numpy(dtype=float)[known]
        return np.bincount(cell, weights, minlength=size).reshape(len(ids), n_months)

    present = np.flatnonzero(np.bincount(column, minlength=n_months))  # months any row is in
    columns = pd.PeriodIndex.from_ordinals(first + present, freq="M")
    return (
        pd.DataFrame(table(sales["units"])[:, present], index=ids, columns=columns),
        pd.DataFrame(table(sales["revenue"])[:, present], index=ids, columns=columns),
    )


def _ratio_change(now, before) -> pd.Series:
    """now / before − 1, NaN when ``before`` is unknown or 0."""
    before = pd.Series(before, dtype=float)
    return pd.Series(now, dtype=float) / before.where(before > 0) - 1


def _category_share(units: pd.Series, category: pd.Series) -> pd.Series:
    """Units / the category's median units (the mean if the median is 0; 1 if both are 0)."""
    by_category = units.astype(float).groupby(category)
    typical = by_category.transform("median")
    typical = typical.where(typical > 0, by_category.transform("mean"))
    return (units / typical.where(typical > 0)).fillna(1.0)


def _join_fired(fired: pd.DataFrame) -> pd.Series:
    """Names of the fired rules per row, joined by ';' in column (RULES) order."""
    if fired.empty:
        return pd.Series("", index=fired.index, dtype=object)
    names = np.where(fired.to_numpy(), np.array(fired.columns, dtype=object) + ";", "")
    return pd.Series(names.sum(axis=1).astype(str), index=fired.index).str.rstrip(";")
