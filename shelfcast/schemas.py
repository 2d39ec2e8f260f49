"""The contracts between pipeline steps: one pandera model per asset, all in one place.

Every model is strict (no column the contract does not name) and coerces dtypes, so the frame
that is stored is the validated one. The IO manager validates each frame again when a
downstream step loads it, so drift is caught where it enters.
"""

from __future__ import annotations

import functools
import re
from typing import Annotated

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera import extensions
from pandera.typing.pandas import Series

# Text columns are Arrow-backed pandas strings: checks on them are vectorised (no Python call per
# value), a frame read from Parquet needs no coercion, and they take about a third of the
# memory of object columns. Measured on 1.44 M sales rows: SalesSchema validates in 0.95 s
# instead of 2.56 s with object columns.
Text = Annotated[pd.StringDtype, "pyarrow", pd.NA]

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

    market: Series[Text] = pa.Field(
        code_matches=MARKET_CODE, description="market code (ISO 3166 alpha-2), e.g. US"
    )
    month: Series[Text] = pa.Field(code_matches=MONTH_CODE, description="partition month, YYYY-MM")
    date: Series[pa.DateTime] = pa.Field(description="calendar day of the sale")
    product_id: Series[Text] = pa.Field(
        str_length={"min_value": 1}, description="product identifier (SKU) in the market"
    )
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
        # Integer arithmetic, the month parsed once per distinct value (it is constant within a
        # partition): Series.dt.strftime costs ~15 µs a row.
        year_month = df["date"].dt.year * 100 + df["date"].dt.month
        codes, months = pd.factorize(df["month"])
        parsed = np.array([int(m[:4]) * 100 + int(m[5:7]) for m in months], dtype=np.int64)
        expected = parsed[codes] if len(parsed) else np.zeros(len(df), dtype=np.int64)
        return pd.Series(year_month.to_numpy() == expected, index=df.index)


class ProductsSchema(_Contract):
    """Product master snapshot at the end of the month."""

    market: Series[Text] = pa.Field(
        code_matches=MARKET_CODE, description="market code (ISO 3166 alpha-2), e.g. US"
    )
    month: Series[Text] = pa.Field(
        code_matches=MONTH_CODE,
        description="partition month, YYYY-MM: the snapshot is taken at its end",
    )
    product_id: Series[Text] = pa.Field(
        unique=True,
        str_length={"min_value": 1},
        description="product identifier (SKU) in the market",
    )
    name: Series[Text] = pa.Field(description="product name as the shopper sees it")
    category: Series[Text] = pa.Field(
        str_length={"min_value": 1},
        description="product category: elasticity and seasonality are shared within it",
    )
    currency: Series[Text] = pa.Field(
        code_matches=CURRENCY_CODE,
        description="ISO 4217 currency of every price and cost of the row",
    )
    unit_cost: Series[float] = pa.Field(
        gt=0, finite=True, description="cost of one unit to the retailer"
    )
    price: Series[float] = pa.Field(gt=0, finite=True, description="current list price")
    stock_on_hand: Series[int] = pa.Field(
        ge=0, description="units in stock at the end of the month"
    )

    class Config:
        description = "Product master snapshot: category, unit cost, current price, stock on hand"


class ProductPerformanceSchema(_Contract):
    """Month KPIs per product and the underperformer flag with the rules that fired."""

    market: Series[Text] = pa.Field(
        code_matches=MARKET_CODE, description="market code (ISO 3166 alpha-2), e.g. US"
    )
    month: Series[Text] = pa.Field(code_matches=MONTH_CODE, description="partition month, YYYY-MM")
    product_id: Series[Text] = pa.Field(
        unique=True, description="product identifier (SKU) in the market"
    )
    category: Series[Text] = pa.Field(description="product category")
    units: Series[int] = pa.Field(ge=0, description="units sold in the month")
    revenue: Series[float] = pa.Field(
        ge=0, description="revenue of the month, in the market's currency"
    )
    gross_margin: Series[float] = pa.Field(description="revenue − units × unit cost")
    margin_rate: Series[float] = pa.Field(nullable=True, description="gross margin / revenue")
    units_last_year: Series[float] = pa.Field(
        nullable=True, ge=0, description="units sold in the same month last year"
    )
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
    is_underperforming: Series[bool] = pa.Field(description="at least one enabled rule fired")
    reasons: Series[Text] = pa.Field(description="rules that fired, separated by ';'")

    class Config:
        description = "Month KPIs per product and the underperformer flag with its reasons"

    @pa.dataframe_check(error="flagged exactly when a rule fired")
    def flag_matches_reasons(cls, df: pd.DataFrame) -> Series[bool]:
        return df["is_underperforming"] == (df["reasons"].str.len() > 0)


class DemandForecastSchema(_Contract):
    """Daily demand forecast of each underperforming product over the horizon."""

    market: Series[Text] = pa.Field(
        code_matches=MARKET_CODE, description="market code (ISO 3166 alpha-2), e.g. US"
    )
    month: Series[Text] = pa.Field(
        code_matches=MONTH_CODE,
        description="partition month, YYYY-MM: the forecast starts the day after it",
    )
    product_id: Series[Text] = pa.Field(description="flagged product (SKU) forecast")
    date: Series[pa.DateTime] = pa.Field(
        description="forecast day, within the horizon after the month closes"
    )
    units_forecast: Series[float] = pa.Field(
        ge=0, finite=True, description="expected units at today's price"
    )
    model: Series[Text] = pa.Field(description="forecast.model that produced the row")

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

    market: Series[Text] = pa.Field(
        code_matches=MARKET_CODE, description="market code (ISO 3166 alpha-2), e.g. US"
    )
    month: Series[Text] = pa.Field(code_matches=MONTH_CODE, description="partition month, YYYY-MM")
    product_id: Series[Text] = pa.Field(unique=True, description="flagged product (SKU)")
    category: Series[Text] = pa.Field(description="product category: its elasticity is used")
    currency: Series[Text] = pa.Field(
        code_matches=CURRENCY_CODE, description="ISO 4217 currency of every money column of the row"
    )
    unit_cost: Series[float] = pa.Field(
        gt=0, finite=True, description="cost of one unit to the retailer"
    )
    current_price: Series[float] = pa.Field(gt=0, description="list price before the change")
    recommended_price: Series[float] = pa.Field(
        gt=0, description="chosen price: a ladder step, in cents"
    )
    price_change: Series[float] = pa.Field(description="recommended / current − 1")
    is_change: Series[bool] = pa.Field(
        description="the recommended price differs from the current one"
    )
    elasticity: Series[float] = pa.Field(
        le=0, description="price elasticity of demand of the product's category (≤ 0)"
    )
    baseline_units: Series[float] = pa.Field(ge=0, description="expected units at current price")
    stock_on_hand: Series[float] = pa.Field(ge=0, description="units on hand: caps expected units")
    expected_units: Series[float] = pa.Field(
        ge=0, description="min(baseline × (new / current)^elasticity, stock on hand)"
    )
    expected_revenue: Series[float] = pa.Field(
        ge=0, description="expected units × recommended price over the horizon"
    )
    expected_margin: Series[float] = pa.Field(
        description="expected units × (recommended price − unit cost) over the horizon"
    )
    baseline_margin: Series[float] = pa.Field(
        description="expected margin over the horizon if the price stays as it is"
    )
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

    sku: Series[Text] = pa.Field(
        unique=True,
        str_length={"min_value": 1},
        description="the partner's product identifier (our product_id)",
    )
    market: Series[Text] = pa.Field(
        code_matches=MARKET_CODE, description="market code (ISO 3166 alpha-2)"
    )
    currency: Series[Text] = pa.Field(
        code_matches=CURRENCY_CODE, description="ISO 4217 currency of both prices"
    )
    effective_date: Series[Text] = pa.Field(
        code_matches=ISO_DATE, description="day the new price applies, YYYY-MM-DD"
    )
    current_price: Series[float] = pa.Field(
        gt=0, description="price before the change, two decimals"
    )
    new_price: Series[float] = pa.Field(
        gt=0, description="price from the effective date, two decimals"
    )
    change_pct: Series[float] = pa.Field(description="percent change, two decimals")
    reason: Series[Text] = pa.Field(
        description="why the price changes: the underperformer rules that fired"
    )

    class Config:
        description = "Rows exactly as the partner's contract wants them"

    @pa.dataframe_check(error="prices carry at most two decimals")
    def prices_in_cents(cls, df: pd.DataFrame) -> Series[bool]:
        cents = df[["current_price", "new_price"]] * 100
        return ((cents - cents.round()).abs() < 1e-6).all(axis=1)


class PartnerDeliverySchema(_Contract):
    """Receipt of one delivered batch."""

    market: Series[Text] = pa.Field(
        code_matches=MARKET_CODE, description="market code (ISO 3166 alpha-2)"
    )
    month: Series[Text] = pa.Field(code_matches=MONTH_CODE, description="partition month, YYYY-MM")
    batch: Series[int] = pa.Field(ge=0, description="batch number within the partition, from 0")
    idempotency_key: Series[Text] = pa.Field(
        unique=True, description="key the partner deduplicates the batch by"
    )
    destination: Series[Text] = pa.Field(
        description="outbox folder or partner URL the batch went to"
    )
    attempts: Series[int] = pa.Field(
        ge=0, description="attempts made for the batch, the first included"
    )
    status: Series[Text] = pa.Field(
        isin=["delivered", "already_delivered"],
        description="delivered now, or already delivered by an earlier run",
    )
    row_count: Series[int] = pa.Field(ge=0, description="rows in the batch")
    accepted_count: Series[int] = pa.Field(ge=0, description="rows the destination accepted")
    partner_reference: Series[Text] = pa.Field(
        description="the destination's reference for the batch"
    )
    checksum: Series[Text] = pa.Field(
        code_matches=r"^sha256:[0-9a-f]{64}$", description="sha256 of the batch's canonical bytes"
    )
    delivered_at: Series[pd.DatetimeTZDtype] = pa.Field(
        dtype_kwargs={"unit": "ns", "tz": "UTC"},
        description="when the destination acknowledged the batch (UTC)",
    )

    class Config:
        description = "Receipt of the delivery: one row per batch"


@functools.cache
def contract_columns(contract: type[pa.DataFrameModel]) -> tuple[str, ...]:
    """The columns a contract names, in its order."""
    return tuple(contract.to_schema().columns)


def project(frame: pd.DataFrame, contract: type[pa.DataFrameModel]) -> pd.DataFrame:
    """The contract's columns of ``frame``, in the contract's order (a missing one fails)."""
    return frame[list(contract_columns(contract))]
