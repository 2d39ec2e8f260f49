"""The independent check: every constraint, recomputed from a recommendation frame's columns."""

import dataclasses

import pandas as pd
import pytest

from shelfcast.core.optimiser import OptimiserParams, optimise_prices
from shelfcast.core.optimiser_check import check_recommendations

PARAMS = OptimiserParams(
    (-0.3, -0.2, -0.1, 0.0, 0.1),
    max_price_change=0.25,
    min_margin=0.1,
    discount_budget=300.0,
    max_changes=2,
    objective="margin",
)


@pytest.fixture
def recs() -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "product_id": ["P0", "P1", "P2"],
            "category": "C",
            "current_price": [10.0, 10.0, 5.0],
            "unit_cost": [6.0, 2.0, 4.0],
            "baseline_units": [100.0, 100.0, 50.0],
            "elasticity": [-1.5, -3.0, -2.0],
            "stock_on_hand": [500.0, 130.0, 80.0],
        }
    )
    result, _ = optimise_prices(frame, PARAMS)
    assert check_recommendations(result, PARAMS, product_ids=["P0", "P1", "P2"]) == []
    return result


def problems(frame: pd.DataFrame, params=PARAMS, **kwargs) -> str:
    return "\n".join(check_recommendations(frame, params, **kwargs))


def test_a_markdown_below_the_margin_floor_off_the_ladder_and_misflagged_is_named(recs):
    broken = recs.copy()
    broken.loc[2, ["recommended_price", "price_change", "is_change"]] = [4.2, -0.16, False]
    found = problems(broken)
    for expected in (
        "product P2: margin 0.0476 < min_margin=0.1 at price 4.2",
        "product P2: is_change=False but price moves 5.0 -> 4.2",
        "product P2: change -0.1600 is not a ladder step of (-0.3, -0.2, -0.1, 0.0, 0.1) "
        "(price 4.2; ladder prices from 5.0: 3.50, 4.00, 4.50, 5.00, 5.50)",
    ):
        assert expected in found


def test_a_price_rounded_away_from_the_current_price_is_not_a_ladder_price():
    # 10 % off 9.99 is 8.991: the ladder price rounds toward the current price, to 9.00
    row = {
        "product_id": "P0",
        "category": "C",
        "unit_cost": 1.0,
        "current_price": 9.99,
        "elasticity": -1.0,
        "baseline_units": 10.0,
        "stock_on_hand": 100.0,
    }
    for price, ok in ((9.00, True), (8.99, False)):
        units = 10.0 * 9.99 / price
        frame = pd.DataFrame(
            [
                {
                    **row,
                    "recommended_price": price,
                    "price_change": price / 9.99 - 1,
                    "is_change": True,
                    "expected_units": units,
                    "expected_revenue": units * price,
                    "expected_margin": units * (price - 1.0),
                    "baseline_margin": 10.0 * 8.99,
                    "discount_cost": (9.99 - price) * units,
                }
            ]
        )
        assert ("not a ladder step" not in problems(frame)) is ok


def test_breaking_the_maximum_change_the_limits_and_the_arithmetic_is_named(recs):
    broken = recs.copy()
    broken.loc[1, ["recommended_price", "discount_cost"]] = [7.0, 999.0]
    broken.loc[0, "expected_margin"] += 1.0
    found = problems(broken)
    for expected in (
        "product P1: change -0.3000 exceeds max_price_change=0.25",
        "product P1: discount_cost=999.0 but recomputed",
        "product P0: expected_margin=",
        "discount spent 390.00 exceeds discount_budget=300.0",
    ):
        assert expected in found


def test_expected_units_above_the_stock_or_off_the_demand_model_are_named(recs):
    broken = recs.copy()
    broken.loc[1, "stock_on_hand"] = 100.0  # the plan sold 130 at 9.00
    broken.loc[0, "expected_units"] *= 1.5
    found = problems(broken)
    assert "product P1: expected_units=130.0 exceed stock_on_hand=100.0" in found
    assert "product P0: expected_units=" in found and "but recomputed" in found


def test_rows_are_one_per_asked_product(recs):
    found = problems(pd.concat([recs, recs.iloc[[0]]]), product_ids=["P0", "P1", "P2", "P9"])
    assert "more than one row for product(s) P0" in found
    assert "no recommendation for product(s) P9" in found
    assert "not asked for" in problems(recs, product_ids=["P0", "P1"])


def test_missing_columns_and_values_are_named(recs):
    assert check_recommendations(recs.drop(columns="discount_cost"), PARAMS) == [
        "missing column(s): discount_cost"
    ]
    holes = recs.astype({"expected_units": float}).copy()
    holes.loc[0, "expected_units"] = float("nan")
    assert "product P0: missing or non-numeric values" in problems(holes)


def test_the_limits_come_from_the_parameters(recs):
    assert recs["is_change"].sum() == 2 and recs["discount_cost"].sum() > 0
    assert (
        problems(recs, dataclasses.replace(PARAMS, max_changes=1))
        == "2 price changes exceed max_changes=1"
    )
    assert problems(recs, dataclasses.replace(PARAMS, discount_budget=0.0)).startswith(
        "discount spent "
    )
