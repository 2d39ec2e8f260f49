"""Cleaning of landing drops into the sales and products contracts.

Cleaning types and completes the data; it never repairs it silently. A duplicate day, a negative
price or a date outside the month is left in place so that validation reports it by name.
"""

from __future__ import annotations

import pandas as pd

from shelfcast.errors import UserError

SALES_DROP_COLUMNS = ("date", "product_id", "units", "price", "promo")
PRODUCTS_DROP_COLUMNS = ("product_id", "name", "category", "unit_cost", "price", "stock_on_hand")
_TRUE = {"true", "1", "yes", "y", "t"}


class DropFormatError(UserError, ValueError):
    """A landing drop lacks a column the contract needs."""


def require_columns(raw: pd.DataFrame, columns: tuple[str, ...], dataset: str) -> list[str]:
    """Raise for missing columns; return the extra columns that cleaning will ignore."""
    missing = [c for c in columns if c not in raw.columns]
    if missing:
        raise DropFormatError(
            f"{dataset} landing drop is missing column(s) {', '.join(missing)} "
            f"(a drop needs {', '.join(columns)}; it has {', '.join(map(str, raw.columns))})"
        )
    return [str(c) for c in raw.columns if c not in columns]


def clean_sales(raw: pd.DataFrame, market: str, month: str) -> pd.DataFrame:
    """Type a sales drop and add market, month and revenue, sorted by product and date."""
    require_columns(raw, SALES_DROP_COLUMNS, "sales")
    sales = pd.DataFrame(
        {
            "market": market,
            "month": month,
            "date": pd.to_datetime(raw["date"], errors="coerce").dt.normalize(),
            "product_id": raw["product_id"].astype("string").str.strip(),
            "units": pd.to_numeric(raw["units"], errors="coerce"),
            "price": pd.to_numeric(raw["price"], errors="coerce"),
            "promo": _as_bool(raw["promo"]),
        }
    )
    sales["revenue"] = (sales["units"] * sales["price"]).clip(lower=0)
    return sales.sort_values(["product_id", "date"], kind="stable").reset_index(drop=True)


def clean_products(raw: pd.DataFrame, market: str, month: str, currency: str) -> pd.DataFrame:
    """Type a product snapshot and add market, month and currency."""
    require_columns(raw, PRODUCTS_DROP_COLUMNS, "products")
    products = pd.DataFrame(
        {
            "market": market,
            "month": month,
            "product_id": raw["product_id"].astype("string").str.strip(),
            "name": raw["name"].astype("string").str.strip(),
            "category": raw["category"].astype("string").str.strip(),
            "currency": currency,
            "unit_cost": pd.to_numeric(raw["unit_cost"], errors="coerce"),
            "price": pd.to_numeric(raw["price"], errors="coerce"),
            "stock_on_hand": pd.to_numeric(raw["stock_on_hand"], errors="coerce"),
        }
    )
    return products.sort_values("product_id", kind="stable").reset_index(drop=True)


def _as_bool(values: pd.Series) -> pd.Series:
    if values.dtype == bool:
        return values
    return values.astype("string").str.strip().str.lower().isin(_TRUE)
