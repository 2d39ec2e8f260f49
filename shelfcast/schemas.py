"""The contracts between pipeline steps: one pandera model per asset, all in one place.

Every model is strict (no column the contract does not name) and coerces dtypes, so the frame
that is stored is the validated one. The IO manager validates each frame again when a
downstream step loads it, so drift is caught where it enters.
"""

from __future__ import annotations

import functools
import re

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera import extensions
from pandera.typing.pandas import Series

MARKET_CODE = r"^[A-Z]{2}$"
MONTH_CODE = r"^\d{4}-(0[1-9]|1[0-2])$"
CURRENCY_CODE = r"^[A-Z]{3}$"
ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"


@extensions.register_check_method(statistics=["pattern"], check_type="vectorized")
def code_matches(series: pd.Series, *, pattern: str) -> pd.Series:
    """Like str_matches, but the regex runs once per distinct value: codes repeat on every row."""
    compiled = re.compile(pattern)
    valid = [v for v in series.dropna().unique() if isinstance(v, str) and compiled.match(v)]
    return series.isin(valid)


@extensions.register_check_method(statistics=["enabled"], check_type="vectorized")
def finite(series: pd.Series, *, enabled: bool) -> pd.Series:
    """Not NaN and not ±inf (``finite=True``): ``gt=0`` alone lets an infinite price through."""
    values = np.isfinite(series.to_numpy(dtype=float, na_value=np.nan))
    return pd.Series(values | (not enabled), index=series.index)


class _Contract(pa.DataFrameModel):
    class Config:
        strict = True
        coerce = True


class SalesSchema(_Contract):
    """Cleaned daily sales of one market and month, one row per product and day."""

    market: Series[str] = pa.Field(code_matches=MARKET_CODE)
    month: Series[str] = pa.Field(code_matches=MONTH_CODE)
    date: Series[pa.DateTime] = pa.Field(description="calendar day of the sale")
    product_id: Series[str] = pa.Field(str_length={"min_value": 1})
    units: Series[int] = pa.Field(ge=0, description="units sold that day")
    price: Series[float] = pa.Field(gt=0, finite=True, description="unit selling price that day")
    promo: Series[bool] = pa.Field(description="a promotion ran that day")
    revenue: Series[float] = pa.Field(ge=0, finite=True, description="units × price")

    class Config:
        unique = ["product_id", "date"]
        description = "Cleaned daily sales per product for the month"
        # Every check reads one row at a time, or uniqueness over rows: months that pass as one
        # frame pass month by month, so the IO manager validates a window of months at once.
        metadata = {"rows_checked_alone": True}

    @pa.dataframe_check(error="date inside the partition's month")
    def date_inside_month(cls, df: pd.DataFrame) -> Series[bool]:
        # Integer arithmetic: Series.dt.strftime costs ~15 µs a row.
        year_month = df["date"].dt.year * 100 + df["date"].dt.month
        expected = df["month"].str.slice(0, 4).astype(int) * 100 + df["month"].str.slice(
            5, 7
        ).astype(int)
        return year_month == expected


class ProductsSchema(_Contract):
    """Product master snapshot at the end of the month."""

    market: Series[str] = pa.Field(code_matches=MARKET_CODE)
    month: Series[str] = pa.Field(code_matches=MONTH_CODE)
    product_id: Series[str] = pa.Field(unique=True, str_length={"min_value": 1})
    name: Series[str]
    category: Series[str] = pa.Field(str_length={"min_value": 1})
    currency: Series[str] = pa.Field(code_matches=CURRENCY_CODE)
    unit_cost: Series[float] = pa.Field(gt=0, finite=True)
    price: Series[float] = pa.Field(gt=0, finite=True, description="current list price")
    stock_on_hand: Series[int] = pa.Field(ge=0)

    class Config:
        description = "Product master snapshot: category, unit cost, current price, stock on hand"


class ProductPerformanceSchema(_Contract):
    """Month KPIs per product and the underperformer flag with the rules that fired."""

    market: Series[str] = pa.Field(code_matches=MARKET_CODE)
    month: Series[str] = pa.Field(code_matches=MONTH_CODE)
    product_id: Series[str] = pa.Field(unique=True)
    category: Series[str]
    units: Series[int] = pa.Field(ge=0)
    revenue: Series[float] = pa.Field(ge=0)
    gross_margin: Series[float] = pa.Field(description="revenue − units × unit cost")
    margin_rate: Series[float] = pa.Field(nullable=True, description="gross margin / revenue")
    units_last_year: Series[float] = pa.Field(nullable=True, ge=0)
    yoy_change: Series[float] = pa.Field(nullable=True, description="units vs same month last year")
    trend_change: Series[float] = pa.Field(
        nullable=True, description="last 3 months' units vs the 3 months before"
    )
    demand_trend: Series[float] = pa.Field(
        nullable=True,
        ge=-1,
        description="yearly change of demand over 13 months, net of price, promotions and season",
    )
    demand_trend_z: Series[float] = pa.Field(
        nullable=True, description="demand_trend's distance from no change, in standard errors"
    )
    category_share: Series[float] = pa.Field(
        ge=0, description="units / median units of the product's category"
    )
    stock_cover_days: Series[float] = pa.Field(
        nullable=True, ge=0, description="stock on hand / average daily units of the last 3 months"
    )
    is_underperforming: Series[bool]
    reasons: Series[str] = pa.Field(description="rules that fired, separated by ';'")

    class Config:
        description = "Month KPIs per product and the underperformer flag with its reasons"

    @pa.dataframe_check(error="flagged exactly when a rule fired")
    def flag_matches_reasons(cls, df: pd.DataFrame) -> Series[bool]:
        return df["is_underperforming"] == (df["reasons"].str.len() > 0)


class DemandForecastSchema(_Contract):
    """Daily demand forecast of each underperforming product over the horizon."""

    market: Series[str] = pa.Field(code_matches=MARKET_CODE)
    month: Series[str] = pa.Field(code_matches=MONTH_CODE)
    product_id: Series[str]
    date: Series[pa.DateTime]
    units_forecast: Series[float] = pa.Field(
        ge=0, finite=True, description="expected units at today's price"
    )
    model: Series[str]

    class Config:
        unique = ["product_id", "date"]
        description = "Demand forecast for the underperformers over the horizon"

    @pa.dataframe_check(error="every product forecast over the same complete horizon")
    def horizon_complete(cls, df: pd.DataFrame) -> bool:
        if df.empty:
            return True
        dates_per_product = df.groupby("product_id")["date"].agg(["min", "max", "count"])
        return bool(
            dates_per_product["min"].nunique() == 1
            and dates_per_product["max"].nunique() == 1
            and (dates_per_product["count"] == df["date"].nunique()).all()
        )


class PriceRecommendationsSchema(_Contract):
    """The chosen price of each underperforming product and what it is expected to earn."""

    market: Series[str] = pa.Field(code_matches=MARKET_CODE)
    month: Series[str] = pa.Field(code_matches=MONTH_CODE)
    product_id: Series[str] = pa.Field(unique=True)
    category: Series[str]
    currency: Series[str] = pa.Field(code_matches=CURRENCY_CODE)
    unit_cost: Series[float] = pa.Field(gt=0)
    current_price: Series[float] = pa.Field(gt=0)
    recommended_price: Series[float] = pa.Field(gt=0)
    price_change: Series[float] = pa.Field(description="recommended / current − 1")
    is_change: Series[bool]
    elasticity: Series[float] = pa.Field(le=0)
    baseline_units: Series[float] = pa.Field(ge=0, description="expected units at current price")
    stock_on_hand: Series[float] = pa.Field(ge=0, description="units on hand: caps expected units")
    expected_units: Series[float] = pa.Field(
        ge=0, description="min(baseline × (new / current)^elasticity, stock on hand)"
    )
    expected_revenue: Series[float] = pa.Field(ge=0)
    expected_margin: Series[float]
    baseline_margin: Series[float]
    discount_cost: Series[float] = pa.Field(
        ge=0, description="(current − new price) × expected units, for markdowns"
    )

    class Config:
        description = "Chosen price change per product with expected units, revenue, margin"

    @pa.dataframe_check(error="is_change set exactly when the price moves")
    def change_flag_consistent(cls, df: pd.DataFrame) -> Series[bool]:
        return df["is_change"] == ((df["recommended_price"] - df["current_price"]).abs() > 1e-9)

    @pa.dataframe_check(error="expected units within stock on hand")
    def units_within_stock(cls, df: pd.DataFrame) -> Series[bool]:
        return df["expected_units"] <= df["stock_on_hand"] * (1 + 1e-9) + 1e-9


class PartnerExportSchema(_Contract):
    """The partner's price-change contract: one row per product whose price changes."""

    sku: Series[str] = pa.Field(unique=True, str_length={"min_value": 1})
    market: Series[str] = pa.Field(code_matches=MARKET_CODE)
    currency: Series[str] = pa.Field(code_matches=CURRENCY_CODE)
    effective_date: Series[str] = pa.Field(code_matches=ISO_DATE)
    current_price: Series[float] = pa.Field(gt=0)
    new_price: Series[float] = pa.Field(gt=0)
    change_pct: Series[float] = pa.Field(description="percent change, two decimals")
    reason: Series[str]

    class Config:
        description = "Rows exactly as the partner's contract wants them"

    @pa.dataframe_check(error="prices carry at most two decimals")
    def prices_in_cents(cls, df: pd.DataFrame) -> Series[bool]:
        cents = df[["current_price", "new_price"]] * 100
        return ((cents - cents.round()).abs() < 1e-6).all(axis=1)


class PartnerDeliverySchema(_Contract):
    """Receipt of one delivered batch."""

    market: Series[str] = pa.Field(code_matches=MARKET_CODE)
    month: Series[str] = pa.Field(code_matches=MONTH_CODE)
    batch: Series[int] = pa.Field(ge=0)
    idempotency_key: Series[str] = pa.Field(unique=True)
    destination: Series[str]
    attempts: Series[int] = pa.Field(ge=0)
    status: Series[str] = pa.Field(isin=["delivered", "already_delivered"])
    row_count: Series[int] = pa.Field(ge=0)
    accepted_count: Series[int] = pa.Field(ge=0)
    partner_reference: Series[str]
    checksum: Series[str] = pa.Field(code_matches=r"^sha256:[0-9a-f]{64}$")
    delivered_at: Series[pd.DatetimeTZDtype] = pa.Field(dtype_kwargs={"unit": "ns", "tz": "UTC"})

    class Config:
        description = "Receipt of the delivery: one row per batch"


@functools.cache
def contract_columns(contract: type[pa.DataFrameModel]) -> tuple[str, ...]:
    """The columns a contract names, in its order."""
    return tuple(contract.to_schema().columns)


def project(frame: pd.DataFrame, contract: type[pa.DataFrameModel]) -> pd.DataFrame:
    """The contract's columns of ``frame``, in the contract's order (a missing one fails)."""
    return frame[list(contract_columns(contract))]
