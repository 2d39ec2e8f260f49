"""Bad landing drops fail `sales` with the column and check named; nothing else is touched."""

from __future__ import annotations

import pandas as pd
import pytest

from shelfcast.pipeline.runner import run_partitions


def corrupt(frame: pd.DataFrame, case: str) -> pd.DataFrame:
    frame = frame.copy()
    if case == "missing_column":
        return frame.drop(columns="price")
    if case == "negative_price":
        frame.loc[frame.index[:3], "price"] = -2.5
    elif case == "duplicate":
        frame = pd.concat([frame, frame.iloc[[5]]], ignore_index=True)
    elif case == "date_outside_month":
        frame.loc[frame.index[0], "date"] = pd.Timestamp("2024-04-02")
    return frame


EXPECTED = {
    "missing_column": "missing column(s) price",
    "negative_price": "column 'price' fails check greater_than(0): 3 failing value(s)",
    "duplicate": "unique",
    "date_outside_month": "fails check date inside the partition's month",
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(EXPECTED))
def test_a_bad_drop_fails_sales_and_keeps_earlier_outputs(workspace, case):
    assert run_partitions(["US"], ["2024-03"], [])[0].success
    good = {p: (workspace.lake / p).read_bytes() for p in workspace.lake_files()}

    drop = workspace.sales_drop("US", "2024-03")
    corrupt(pd.read_parquet(drop), case).to_parquet(drop)
    outcome = run_partitions(["US"], ["2024-03"], [])[0]

    assert not outcome.success
    assert outcome.error.startswith("sales US 2024-03")
    assert EXPECTED[case] in outcome.error
    if case == "duplicate":
        assert "product_id" in outcome.error and "date" in outcome.error
    # The earlier good outputs, upstream and downstream, are byte for byte what they were.
    assert {p: (workspace.lake / p).read_bytes() for p in workspace.lake_files()} == good


@pytest.mark.slow
def test_a_bad_drop_in_a_fresh_lake_writes_no_asset(workspace):
    drop = workspace.sales_drop("GB", "2024-02")
    corrupt(pd.read_parquet(drop), "negative_price").to_parquet(drop)
    outcome = run_partitions(["GB"], ["2024-02"], [])[0]
    assert not outcome.success
    assert not any(
        "month=2024-02" in f and "market=GB" in f
        for f in workspace.lake_files()
        if not f.startswith("products/")
    )
