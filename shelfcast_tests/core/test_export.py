"""The partner export holds only price changes, in the contract's formats."""

import datetime as dt

import pandas as pd

from shelfcast.core.export import effective_date, to_partner_export
from shelfcast.schemas import PartnerExportSchema


def test_effective_date_is_counted_from_the_months_last_day():
    assert effective_date("2024-02", 1) == dt.date(2024, 3, 1)
    assert effective_date("2024-12", 3) == dt.date(2025, 1, 3)


def test_only_changed_prices_are_exported_with_their_reasons():
    recommendations = pd.DataFrame(
        {
            "product_id": ["A", "B"],
            "market": ["US", "US"],
            "currency": ["USD", "USD"],
            "current_price": [2.0, 5.0],
            "recommended_price": [1.7, 5.0],
            "price_change": [-0.15, 0.0],
            "is_change": [True, False],
        }
    )
    performance = pd.DataFrame(
        {"product_id": ["A", "B"], "reasons": ["yoy_decline;overstock", "low_margin"]}
    )
    export = PartnerExportSchema.validate(
        to_partner_export(recommendations, performance, dt.date(2024, 4, 1))
    )
    assert export.to_dict("records") == [
        {
            "sku": "A",
            "market": "US",
            "currency": "USD",
            "effective_date": "2024-04-01",
            "current_price": 2.0,
            "new_price": 1.7,
            "change_pct": -15.0,
            "reason": "yoy_decline, overstock",
        }
    ]
