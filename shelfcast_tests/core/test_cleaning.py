"""Cleaning types a drop and adds market, month, revenue; it never repairs data silently."""

import pandas as pd
import pytest

from shelfcast.core.cleaning import DropFormatError, clean_products, clean_sales
from shelfcast.schemas import ProductsSchema, SalesSchema


def raw_sales(**changes) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "date": ["2024-03-01", "2024-03-02", "2024-03-01"],
            "product_id": [" P2", "P2", "P1"],
            "units": ["2", "0", "4"],
            "price": [1.5, 1.5, 3.0],
            "promo": ["False", "True", "false"],
        }
    )
    for column, values in changes.items():
        frame[column] = values
    return frame


def test_clean_sales_types_sorts_and_adds_revenue():
    sales = SalesSchema.validate(clean_sales(raw_sales(), "US", "2024-03"))
    assert sales["product_id"].tolist() == ["P1", "P2", "P2"]
    assert sales["revenue"].tolist() == [12.0, 3.0, 0.0]
    assert sales["promo"].tolist() == [False, False, True]
    assert set(sales["market"]) == {"US"} and set(sales["month"]) == {"2024-03"}


def test_a_missing_column_is_named_with_what_a_drop_needs():
    with pytest.raises(DropFormatError, match="missing column\\(s\\) price"):
        clean_sales(raw_sales().drop(columns="price"), "US", "2024-03")


def test_duplicates_are_kept_for_validation_to_report():
    raw = raw_sales(product_id=["P1", "P1", "P1"])
    assert len(clean_sales(raw, "US", "2024-03")) == 3


def test_clean_products_adds_currency():
    raw = pd.DataFrame(
        {
            "product_id": ["A"],
            "name": ["Oat Crunch"],
            "category": ["Snacks"],
            "unit_cost": [1.0],
            "price": [2.5],
            "stock_on_hand": [10],
        }
    )
    products = ProductsSchema.validate(clean_products(raw, "GB", "2024-03", "GBP"))
    assert products.loc[0, "currency"] == "GBP"
