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


def test_unique_rows_flags_exactly_the_rows_pandas_calls_duplicated_in_any_row_order():
    """The one-pass path (months each sorted, days apart) and the fallbacks agree with pandas."""
    import numpy as np

    from shelfcast.schemas import unique_rows

    rng = np.random.default_rng(7)
    for trial in range(400):
        n = int(rng.integers(1, 40))
        frame = pd.DataFrame(
            {
                "product_id": pd.array(rng.choice(list("abcd"), n), dtype="string[pyarrow]"),
                "date": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 5, n), "D"),
            }
        )
        if trial % 2:  # sorted and unique, like a cleaned month
            frame = frame.sort_values(["product_id", "date"]).drop_duplicates()
        if trial % 4 == 1:  # a second "month": the same products, later days
            frame = pd.concat([frame, frame.assign(date=frame["date"] + pd.Timedelta(days=10))])
        if trial % 3 == 0:  # a repeated row somewhere
            frame = pd.concat([frame, frame.iloc[[int(rng.integers(0, len(frame)))]]])
        got = unique_rows(frame, columns=["product_id", "date"]).to_numpy()
        expected = ~frame.duplicated(["product_id", "date"], keep=False).to_numpy()
        assert (got == expected).all(), frame


def test_a_window_of_sorted_months_with_a_row_repeated_across_months_is_refused():
    march = sales_frame()
    april = sales_frame(
        month=["2024-04"] * 3, date=pd.to_datetime(["2024-04-01", "2024-04-02", "2024-04-03"])
    )
    window = pd.concat([march, april, march.iloc[[1]]], ignore_index=True)
    with pytest.raises(ContractViolation, match="unique_rows"):
        validate_frame(window, SalesSchema, "sales")


def test_object_text_columns_become_arrow_text_and_a_missing_value_is_still_refused():
    """Text held as Python objects is coerced to the contract's Arrow text in one pass (pandera
    would otherwise check it value by value and keep the objects); what it holds is checked."""
    frame = sales_frame()
    assert frame["market"].dtype == object
    validated = validate_frame(frame, SalesSchema, "sales US 2024-03")
    for column in ("market", "month", "product_id"):
        assert validated[column].dtype == pd.StringDtype("pyarrow"), column
    with pytest.raises(ContractViolation, match="column 'market' fails check not_nullable"):
        validate_frame(sales_frame(market=["US", None, "US"]), SalesSchema, "sales US 2024-03")
