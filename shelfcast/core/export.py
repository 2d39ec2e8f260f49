"""The partner's price-change contract, built from the recommendations."""

from __future__ import annotations

import datetime as dt

import pandas as pd

EXPORT_COLUMNS = (
    "sku",
    "market",
    "currency",
    "effective_date",
    "current_price",
    "new_price",
    "change_pct",
    "reason",
)


def effective_date(month: str, days_after_close: int) -> dt.date:
    """The day price changes take effect: ``days_after_close`` days after the month's last day."""
    month_start = pd.Period(month, freq="M")
    return (month_start.end_time.normalize() + pd.Timedelta(days=days_after_close)).date()


def to_partner_export(
    recommendations: pd.DataFrame, performance: pd.DataFrame, effective: dt.date
) -> pd.DataFrame:
    """One row per product whose price changes, with the rules that made it a candidate."""
    changes = recommendations.loc[recommendations["is_change"]]
    reasons = performance.set_index("product_id")["reasons"]
    export = pd.DataFrame(
        {
            "sku": changes["product_id"],
            "market": changes["market"],
            "currency": changes["currency"],
            "effective_date": effective.isoformat(),
            "current_price": changes["current_price"].round(2),
            "new_price": changes["recommended_price"].round(2),
            "change_pct": (changes["price_change"] * 100).round(2),
            "reason": changes["product_id"].map(reasons).fillna("").str.replace(";", ", "),
        },
        columns=list(EXPORT_COLUMNS),
    )
    return export.sort_values("sku").reset_index(drop=True)
