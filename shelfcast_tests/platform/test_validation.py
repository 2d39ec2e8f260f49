"""Contract violations name the dataset, each failing column and check, and sample rows."""

import pandas as pd
import pytest

from shelfcast.platform.validation import ContractViolation, validate_frame
from shelfcast.schemas import SalesSchema


def sales_frame(**changes) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "market": ["US"] * 3,
            "month": ["2024-03"] * 3,
            "date": pd.to_datetime(["2024-03-01", "2024-03-02", "2024-03-03"]),
            "product_id": ["P1", "P1", "P1"],
            "units": [3, 0, 5],
            "price": [2.0, 2.0, 1.5],
            "promo": [False, False, True],
            "revenue": [6.0, 0.0, 7.5],
        }
    )
    for column, values in changes.items():
        frame[column] = values
    return frame


def test_valid_frame_is_returned_coerced():
    frame = sales_frame(units=["3", "0", "5"])
    assert validate_frame(frame, SalesSchema, "sales US 2024-03")["units"].dtype == "int64"


def test_negative_price_names_column_check_and_count():
    with pytest.raises(ContractViolation) as error:
        validate_frame(sales_frame(price=[2.0, -1.0, -3.0]), SalesSchema, "sales US 2024-03")
    message = error.value.description
    assert message.startswith("sales US 2024-03 breaks its contract SalesSchema")
    assert (
        "column 'price' fails check greater_than(0): 2 failing value(s), e.g. [-1.0, -3.0]"
        in message
    )


def test_missing_column_is_named():
    with pytest.raises(ContractViolation, match="missing column price"):
        validate_frame(sales_frame().drop(columns="price"), SalesSchema, "sales")


def test_duplicate_product_day_is_named():
    frame = sales_frame(date=pd.to_datetime(["2024-03-01", "2024-03-01", "2024-03-03"]))
    with pytest.raises(ContractViolation) as error:
        validate_frame(frame, SalesSchema, "sales")
    assert "product_id" in error.value.description
    assert "unique" in error.value.description


def test_date_outside_month_is_named():
    frame = sales_frame(date=pd.to_datetime(["2024-03-01", "2024-04-02", "2024-03-03"]))
    with pytest.raises(ContractViolation, match="date inside the partition's month"):
        validate_frame(frame, SalesSchema, "sales")
