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


def test_ids_stay_text_and_leading_zeros_survive():
    sales = clean_sales(raw_sales(product_id=["000103", "000103", "000007"]), "US", "2024-03")
    assert sorted(sales["product_id"].unique()) == ["000007", "000103"]


@pytest.mark.parametrize(
    "column, values, expected",
    [
        ("units", ["2.5", "1", "3"], "column 'units' has 1 fractional value(s)"),
        ("units", ["two", "1", "3"], "column 'units' has 1 value(s) that are not finite numbers"),
        (
            "promo",
            ["maybe", "true", "0"],
            "column 'promo' has 1 value(s) that are neither true nor false",
        ),
        (
            "price",
            [float("inf"), 1.0, 2.0],
            "column 'price' has 1 value(s) that are not finite numbers",
        ),
        ("price", ["", "1", "2"], "column 'price' has 1 value(s) that are not finite numbers"),
        (
            "date",
            ["2024-03-01", "1/3/24", "2024-03-02"],
            "column 'date' has 1 value(s) that are not dates",
        ),
        ("product_id", [1.0, 2.0, 3.0], "ids must be text"),
    ],
)
def test_values_that_do_not_fit_their_column_are_refused_with_count_and_sample(
    column, values, expected
):
    with pytest.raises(DropFormatError) as refused:
        clean_sales(raw_sales(**{column: values}), "US", "2024-03")
    assert expected in str(refused.value)


def test_whole_numbers_written_as_floats_and_integer_ids_are_accepted_exactly():
    sales = clean_sales(raw_sales(units=[2.0, 0.0, 4.0], product_id=[7, 7, 8]), "US", "2024-03")
    assert sales["units"].tolist() == [2, 0, 4] and set(sales["product_id"]) == {"7", "8"}


def test_completeness_names_missing_days_and_unknown_products():
    from shelfcast.core.cleaning import IngestParams, check_complete

    params = IngestParams(0, 0, (0.2, 5.0), 6, 3)
    sales = clean_sales(raw_sales(), "US", "2024-03")
    problems = check_complete(sales, "2024-03", {"P1"}, params)
    assert "29 of the month's 31 days have no sales rows" in problems[0]
    assert "1 product(s) are sold but absent" in problems[1] and "P2" in problems[1]
    assert check_complete(sales.iloc[0:0], "2024-03", {"P1"}, params)[0].startswith(
        "the drop has no rows"
    )
