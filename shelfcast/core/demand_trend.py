"""Demand trend per product: how fast its demand moves, net of its price, promotions and season.

A product's monthly units are a poor signal of decline on their own: a price step of 10 % moves
them by 15 %, a promotion week by more, and seasonality by up to a third within a year. So the
trend is fitted on what is left when those are accounted for, over the months of the window:

    E[units_pm] = exposure_pm · season_cm · exp(a_p + b_p · t_m)

- ``units_pm`` are the product's units on days *without* promotion in month m (promotion days
  are left out, units and exposure alike);
- ``exposure_pm`` counts those days, each weighted by (price / usual price)^elasticity, so a day
  at a 10 % higher price is expected to sell less by the elasticity (``usual price``: the median
  of the product's non-promotion prices in the window; a day without a sales row sold 0 units at
  the usual price);
- ``season_cm`` is the category's month index: the median, over the category's products with at
  least ``INDEX_MIN_UNITS`` units in the window, of the product's monthly rate relative to its
  own window rate. It removes the season, holidays and anything else common to the category;
  the median keeps one declining best seller from moving it. With fewer than
  ``INDEX_MIN_PRODUCTS`` such products the index is 1 (no season correction): a category of one
  product would absorb that product's own trend;
- ``t_m`` is in years, so ``demand_trend = exp(b) − 1`` is the yearly change (−0.3: demand falls
  30 % a year) and ``demand_trend_z = b / se(b)`` how many Poisson standard errors it is from no
  change. Counts are overdispersed, so the Poisson error is optimistic: thresholds on the z are
  calibrated on the demo generator (see configs/defaults.yaml), not read as a p-value.

The fit is a two-parameter Poisson regression per product, solved by Newton steps on all products
at once. Trend and z are NaN when fewer than ``MIN_MONTHS`` months of the window are present or
the product sold nothing on a non-promotion day.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shelfcast.core.rows import month_ordinals, positions, selection

WINDOW_MONTHS = 13  # the month and the 12 before it
MIN_MONTHS = 6  # fewer present months than this: no trend
INDEX_MIN_UNITS = 100  # units in the window a product needs to shape its category's season index
INDEX_MIN_PRODUCTS = 3  # products a category's season index needs (else no season correction)
_NEWTON_STEPS = 30


def demand_trend(
    sales: pd.DataFrame, products: pd.DataFrame, month: str, elasticity: float
) -> pd.DataFrame:
    """``demand_trend`` and ``demand_trend_z`` per product of ``products`` (index product_id)."""
    ids = pd.Index(products["product_id"].astype(str), name="product_id")
    nan = pd.DataFrame({"demand_trend": np.nan, "demand_trend_z": np.nan}, index=ids)
    units, exposure, present = _monthly(sales, ids, pd.Period(month, "M"), elasticity)
    if present.sum() < MIN_MONTHS:
        return nan
    units, exposure = units[:, present], exposure[:, present]
    years = -np.flatnonzero(present) / 12.0  # month k before the partition's month: −k/12
    expected = exposure * _season(units, exposure, products["category"].astype(str).to_numpy())
    b, se = _poisson_slope(units, expected, years)
    return pd.DataFrame({"demand_trend": np.expm1(b), "demand_trend_z": b / se}, index=ids)


def _monthly(
    sales: pd.DataFrame, ids: pd.Index, period: pd.Period, elasticity: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """products × window months (k = 0 is the partition's month): non-promotion units, their
    price-weighted exposure in days, and which months are present."""
    shape = (len(ids), WINDOW_MONTHS)
    present = np.zeros(WINDOW_MONTHS, dtype=bool)
    if sales.empty:
        return np.zeros(shape), np.zeros(shape), present
    months_back = period.ordinal - month_ordinals(sales["date"])
    in_window = (months_back >= 0) & (months_back < WINDOW_MONTHS)
    present[:] = np.bincount(months_back[in_window], minlength=WINDOW_MONTHS) > 0
    row = positions(sales["product_id"], ids)
    keep = selection(in_window & (row >= 0))
    row, k = row[keep], months_back[keep]
    promo = sales["promo"].to_numpy(dtype=bool)[keep]
    price = sales["price"].to_numpy(dtype=float)[keep]
    sold = sales["units"].to_numpy(dtype=float)[keep]
    usual = _usual_price(row, price, promo, len(ids))
    cell = row * WINDOW_MONTHS + k
    size = len(ids) * WINDOW_MONTHS
    regular = ~promo
    weight = np.where(regular, (price / usual[row]) ** elasticity, 0.0)
    rows_per_cell = np.bincount(cell, minlength=size).reshape(shape)
    days = np.array([(period - j).days_in_month for j in range(WINDOW_MONTHS)], dtype=float)
    # days without a row are regular days at the usual price (weight 1); promotion days count 0
    exposure = days - rows_per_cell + np.bincount(cell, weight, size).reshape(shape)
    units = np.bincount(cell, np.where(regular, sold, 0.0), size).reshape(shape)
    return units * present, exposure * present, present


def _usual_price(row: np.ndarray, price: np.ndarray, promo: np.ndarray, n: int) -> np.ndarray:
    """Median non-promotion price per product (any price if it was always on promotion)."""
    usual = np.full(n, np.nan)
    regular = ~promo
    by_product = pd.Series(price[regular]).groupby(row[regular]).median()
    usual[by_product.index] = by_product.to_numpy()
    always_promo = np.isnan(usual)[row]
    if always_promo.any():
        by_product = pd.Series(price[always_promo]).groupby(row[always_promo]).median()
        usual[by_product.index] = by_product.to_numpy()
    return np.where(np.isnan(usual), 1.0, usual)


def _season(units: np.ndarray, exposure: np.ndarray, category: np.ndarray) -> np.ndarray:
    """products × months: the category's month index (median relative rate of its sellers)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = units / exposure
        relative = rate / (units.sum(axis=1) / exposure.sum(axis=1))[:, None]
    sellers = units.sum(axis=1) >= INDEX_MIN_UNITS
    frame = pd.DataFrame(np.where(np.isfinite(relative), relative, np.nan)[sellers])
    grouped = frame.groupby(category[sellers])
    index = grouped.median().where(grouped.count() >= INDEX_MIN_PRODUCTS)
    index = index.where(index > 0)
    return index.reindex(category).fillna(1.0).to_numpy()


def _poisson_slope(
    units: np.ndarray, expected: np.ndarray, years: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the slope b of log E[units] = log expected + a + b · years, and its standard error."""
    total, base = units.sum(axis=1), expected.sum(axis=1)
    usable = (total > 0) & (base > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(usable, np.log(total / base), 0.0)
    b = np.zeros(len(units))
    for _ in range(_NEWTON_STEPS):
        mu = expected * np.exp(a[:, None] + b[:, None] * years)
        g0, g1 = (units - mu).sum(axis=1), ((units - mu) * years).sum(axis=1)
        h00, h01, h11 = mu.sum(axis=1), (mu * years).sum(axis=1), (mu * years**2).sum(axis=1)
        det = h00 * h11 - h01**2
        ok = usable & (det > 1e-12)
        safe = np.where(ok, det, 1.0)
        # a Newton step, damped: a series that stops selling has no finite optimum
        a += np.where(ok, np.clip((h11 * g0 - h01 * g1) / safe, -2, 2), 0.0)
        b = np.clip(b + np.where(ok, np.clip((h00 * g1 - h01 * g0) / safe, -1, 1), 0.0), -5, 5)
    mu = expected * np.exp(a[:, None] + b[:, None] * years)
    h00, h01, h11 = mu.sum(axis=1), (mu * years).sum(axis=1), (mu * years**2).sum(axis=1)
    det = h00 * h11 - h01**2
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(h00 / det)
    ok = usable & (det > 1e-12) & np.isfinite(se) & (se > 0)
    return np.where(ok, b, np.nan), np.where(ok, se, np.nan)
