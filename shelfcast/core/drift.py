"""Drift of a month's drop against the partition's own history.

A feed that switches to thousands of units, or to prices in cents, still passes every contract:
the values are non-negative numbers. What gives it away is the partition's own past. Each month
is summarised by a few profile metrics; a metric whose value this month lies outside
``band`` × the median of the trailing months is drift, named with the metric, this month's
value, the trailing range and the parameter that sets the band.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

SALES_METRICS = (
    "total_units",
    "active_products",
    "products_listed",
    "median_price",
    "share_with_sales",
)
# A products drop is compared with the same metrics of the trailing months' *sales*, which the
# lake always holds once the history is loaded: the catalogue with the products that had rows,
# the median list price with the median selling price.
PRODUCTS_METRICS = ("products_listed", "median_price")


def sales_profile(sales: pd.DataFrame, catalogue_size: int | None) -> dict[str, float]:
    """Total units, products with a sale, products with rows, median selling price and share of
    the catalogue sold."""
    # Products coded once (Arrow's dictionary encoding), counted twice: no copy of the rows sold.
    codes, listed = pd.factorize(sales["product_id"])
    units = sales["units"].to_numpy()
    sold = codes[(units > 0) & (codes >= 0)]  # a missing id (code -1) is no product
    active = int(np.count_nonzero(np.bincount(sold, minlength=len(listed))))
    profile = {
        "total_units": float(units.sum()),
        "active_products": float(active),
        "products_listed": float(len(listed)),
        "median_price": float(sales["price"].median()) if len(sales) else float("nan"),
    }
    if catalogue_size:
        profile["share_with_sales"] = active / catalogue_size
    return profile


def products_profile(products: pd.DataFrame) -> dict[str, float]:
    """Catalogue size and median list price, under the names of the sales metrics they are
    compared with (``PRODUCTS_METRICS``)."""
    return {
        "products_listed": float(len(products)),
        "median_price": float(products["price"].median()) if len(products) else float("nan"),
    }


@dataclass(frozen=True)
class Drift:
    metric: str
    value: float
    trailing_median: float
    trailing_low: float
    trailing_high: float
    months: tuple[str, ...]

    def describe(self, band: Sequence[float], parameter: str) -> str:
        ratio = self.value / self.trailing_median if self.trailing_median else float("inf")
        return (
            f"{self.metric} is {_number(self.value)}, {ratio:.3g}× the trailing median "
            f"{_number(self.trailing_median)} (range {_number(self.trailing_low)} … "
            f"{_number(self.trailing_high)} over {self.months[0]} … {self.months[-1]}), outside "
            f"the band {band[0]:g}× … {band[1]:g}× set by {parameter}"
        )


def drifted(
    profile: Mapping[str, float],
    trailing: Mapping[str, Mapping[str, float]],
    band: Sequence[float],
    min_months: int,
) -> list[Drift]:
    """Metrics of ``profile`` outside ``band`` × the median of ``trailing`` (month → profile).

    Fewer than ``min_months`` trailing months: nothing is judged. A metric whose trailing
    median is 0 drifts only if this month's value is not 0 either.
    """
    months = tuple(sorted(trailing))
    if len(months) < min_months:
        return []
    found = []
    for metric, value in profile.items():
        history = np.array([trailing[m].get(metric, np.nan) for m in months], dtype=float)
        history = history[np.isfinite(history)]
        if len(history) < min_months or not np.isfinite(value):
            continue
        median = float(np.median(history))
        if median == 0:
            outside = value != 0
        else:
            ratio = value / median
            outside = not band[0] <= ratio <= band[1]
        if outside:
            found.append(
                Drift(metric, value, median, float(history.min()), float(history.max()), months)
            )
    return found


def _number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"
