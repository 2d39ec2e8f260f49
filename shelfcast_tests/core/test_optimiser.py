"""Optimiser: candidates, the MIP against brute force, every constraint, infeasibility, the checker."""

import dataclasses
import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shelfcast.core.optimiser import (
    RESULT_COLUMNS,
    InfeasibleError,
    OptimiserParams,
    candidate_prices,
    check_recommendations,
    optimise_prices,
)

LADDER = (-0.3, -0.2, -0.1, 0.0, 0.1)
PARAMS = OptimiserParams(LADDER, max_price_change=0.25, min_margin=0.1, discount_budget=1e6,
                         max_changes=100, objective="margin")


def items(*rows) -> pd.DataFrame:
    """Rows of (current_price, unit_cost, baseline_units, elasticity[, stock])."""
    return pd.DataFrame(
        [
            {"product_id": f"P{i}", "category": "C", "current_price": r[0], "unit_cost": r[1],
             "baseline_units": r[2], "elasticity": r[3], "stock_on_hand": r[4] if len(r) > 4 else 1e6}
            for i, r in enumerate(rows)
        ]
    )


def plan_value(recs: pd.DataFrame, objective: str) -> float:
    return float(recs["expected_margin" if objective == "margin" else "expected_revenue"].sum())


def recompute(frame: pd.DataFrame, recs: pd.DataFrame) -> pd.DataFrame:
    """Expected outcome of the recommended prices, computed from scratch."""
    f = frame.set_index("product_id").loc[recs["product_id"]]
    price, cur = recs["recommended_price"].to_numpy(), f["current_price"].to_numpy()
    units = np.minimum(f["baseline_units"] * (price / cur) ** f["elasticity"], f["stock_on_hand"])
    return pd.DataFrame({"units": units.to_numpy(), "margin": (units * (price - f["unit_cost"])).to_numpy(),
                         "discount": (np.maximum(cur - price, 0) * units).to_numpy()})


def brute_force(frame: pd.DataFrame, params: OptimiserParams) -> float:
    """Best objective over every combination of admissible candidates."""
    cands = candidate_prices(frame, params)
    options = [g for _, g in cands.loc[cands["admissible"]].groupby("row")]
    best = -np.inf
    for combo in itertools.product(*(g.itertuples() for g in options)):
        if (sum(o.discount_cost for o in combo) <= params.discount_budget + 1e-9
                and sum(o.is_change for o in combo) <= params.max_changes):
            best = max(best, sum(getattr(o, params.objective) for o in combo))
    return best


def test_candidates_round_toward_the_current_price_and_drop_duplicates():
    cands = candidate_prices(items((1.99, 0.5, 10, -1.0), (0.05, 0.01, 10, -1.0)), PARAMS)
    first = cands.loc[cands["product_id"] == "P0"]
    assert first["price"].tolist() == [1.40, 1.60, 1.80, 1.99, 2.18]
    assert (first["price_change"].abs() <= first["option"].abs() + 1e-12).all()
    # 0.05 × 0.9 = 0.045 rounds back up to 0.05: the step collapses onto "no change"
    second = cands.loc[cands["product_id"] == "P1"]
    assert second["price"].tolist() == [0.04, 0.05]
    assert second.loc[second["price"] == 0.05, "option"].item() == 0.0


def test_units_follow_elasticity_and_are_capped_by_stock():
    cands = candidate_prices(items((10.0, 5.0, 100, -2.0, 120)), PARAMS).set_index("option")
    assert cands.at[0.0, "units"] == pytest.approx(100)
    assert cands.at[0.1, "units"] == pytest.approx(100 * 1.1**-2)
    assert cands.at[-0.1, "units"] == pytest.approx(120)  # 123.5 wanted, 120 in stock
    assert cands.at[-0.1, "discount_cost"] == pytest.approx(1.0 * 120)
    assert not cands.at[-0.3, "admissible"]  # beyond max_price_change 0.25
    tight = dataclasses.replace(PARAMS, min_margin=0.4)  # 9.00 keeps 44 %, 8.00 only 37.5 %
    assert candidate_prices(items((10.0, 5.0, 100, -2.0)), tight).set_index("option")[
        "admissible"].to_dict() == {-0.3: False, -0.2: False, -0.1: True, 0.0: True, 0.1: True}


def test_margin_and_revenue_objectives_pick_differently():
    # units ∝ p^-1.5: margin (p − 6)·p^-1.5 rises with price up to 18, revenue p^-0.5 falls
    frame = items((10.0, 6.0, 100, -1.5))
    by_margin, _ = optimise_prices(frame, PARAMS)
    by_revenue, _ = optimise_prices(frame, dataclasses.replace(PARAMS, objective="revenue"))
    assert by_margin["recommended_price"].item() == 11.0
    assert by_revenue["recommended_price"].item() == 8.0


def test_a_small_problem_matches_the_hand_computed_optimum_and_schema():
    frame = items((10.0, 6.0, 100, -1.5), (10.0, 2.0, 100, -3.0), (5.0, 4.0, 0, -2.0))
    recs, report = optimise_prices(frame, PARAMS)
    assert list(recs.columns) == RESULT_COLUMNS
    # P1: (p − 2)·p^-3 peaks at p = 3, so the deepest allowed markdown; P2 sells nothing: no change
    assert recs["recommended_price"].tolist() == [11.0, 8.0, 5.0]
    assert recs["is_change"].tolist() == [True, True, False]
    assert report.status == "optimal" and report.n_changes == 2 and report.gap <= 1e-4
    assert report.objective_value == pytest.approx(recs["expected_margin"].sum())
    assert report.best_bound >= report.objective_value - 1e-6
    assert check_recommendations(recs, PARAMS) == []


def test_budget_and_change_limits_bind():
    frame = items(*[(10.0, 2.0, 100, -3.0)] * 4)
    no_budget, report = optimise_prices(frame, dataclasses.replace(PARAMS, discount_budget=0.0))
    assert (no_budget["discount_cost"] == 0).all() and report.discount_spent == 0
    some = optimise_prices(frame, dataclasses.replace(PARAMS, discount_budget=300.0))[0]
    assert 0 < some["discount_cost"].sum() <= 300.0
    two = optimise_prices(frame, dataclasses.replace(PARAMS, max_changes=2))[0]
    assert two["is_change"].sum() == 2
    assert not optimise_prices(frame, dataclasses.replace(PARAMS, max_changes=0))[0]["is_change"].any()


def test_ties_prefer_no_change_and_are_deterministic():
    frame = items(*[(4.0, 1.0, 0, -1.0)] * 3, (10.0, 6.0, 100, -1.5))
    first, _ = optimise_prices(frame, PARAMS)
    second, _ = optimise_prices(frame, PARAMS)
    pd.testing.assert_frame_equal(first, second)
    assert first["is_change"].tolist() == [False, False, False, True]


def test_empty_items_give_an_empty_frame():
    recs, report = optimise_prices(items().reindex(columns=list(items((1, 0.5, 1, -1)).columns)), PARAMS)
    assert recs.empty and list(recs.columns) == RESULT_COLUMNS and report.status == "empty"


def test_a_product_no_ladder_price_can_save_is_named():
    frame = items((10.0, 5.0, 10, -1.0), (10.0, 9.5, 10, -1.0))
    params = dataclasses.replace(PARAMS, min_margin=0.3, max_price_change=0.1)
    with pytest.raises(InfeasibleError, match=r"product P1: no ladder price meets min_margin=0.3 "
                       r"within max_price_change=0.1 \(best reachable margin 0.14\)"):
        optimise_prices(frame, params)


def test_more_forced_changes_than_allowed_is_named():
    frame = items(*[(10.0, 9.5, 10, -1.0)] * 3, (10.0, 5.0, 10, -1.0))
    params = dataclasses.replace(PARAMS, min_margin=0.08, max_changes=2)
    with pytest.raises(InfeasibleError, match="3 products must change price .* max_changes is 2: P0, P1, P2"):
        optimise_prices(frame, params)


def test_an_impossible_budget_is_named():
    with pytest.raises(InfeasibleError, match="discount_budget=-1.0"):
        optimise_prices(items((10.0, 5.0, 10, -1.0)), dataclasses.replace(PARAMS, discount_budget=-1.0))


def test_bad_inputs_are_value_errors():
    with pytest.raises(ValueError, match="elasticity"):
        optimise_prices(items((10.0, 5.0, 10, 0.5)), PARAMS)
    with pytest.raises(ValueError, match="objective"):
        dataclasses.replace(PARAMS, objective="profit")


def test_check_recommendations_flags_a_hand_broken_result():
    frame = items((10.0, 6.0, 100, -1.5), (10.0, 2.0, 100, -3.0), (5.0, 4.0, 50, -2.0))
    params = dataclasses.replace(PARAMS, discount_budget=300.0, max_changes=2)
    recs, _ = optimise_prices(frame, params)
    assert check_recommendations(recs, params) == []
    broken = recs.copy()
    broken.loc[2, ["recommended_price", "price_change", "is_change"]] = [4.2, -0.16, False]
    broken.loc[1, "discount_cost"] = 999.0
    broken.loc[1, "recommended_price"] = 7.0
    problems = "\n".join(check_recommendations(broken, params))
    for expected in ("P2: margin 0.0476 < min_margin=0.1", "P2: is_change=False",
                     "P2: change -0.1600 is not a ladder step", "P1: discount_cost=999.0",
                     "P1: change -0.3000 exceeds max_price_change=0.25",
                     "3 price changes exceed max_changes=2", "exceeds discount_budget=300.0"):
        assert expected in problems
    assert check_recommendations(recs.drop(columns="discount_cost"), params) == [
        "missing column(s): discount_cost"]


@st.composite
def problems(draw):
    """Random feasible problems: every current price meets min_margin, so "no change" works.
    A markdown is always on the ladder, elastic products are common and the budget is a share
    of what marking everything down 10 % would cost, so budget and change limits often bind."""
    n = draw(st.integers(1, 5))
    rows = []
    for _ in range(n):
        price = round(draw(st.floats(0.5, 50)), 2)
        cost = max(round(price * draw(st.floats(0.2, 0.85)), 2), 0.01)
        baseline = draw(st.one_of(st.just(0.0), st.floats(1, 500)))
        elasticity = draw(st.one_of(st.floats(-4, -1.5), st.floats(-1.5, 0)))
        rows.append((price, cost, baseline, elasticity,
                     round(baseline * draw(st.sampled_from([0.0, 0.9, 2.0, 10.0, 10.0])))))
    frame = items(*rows)
    margin_rate = ((frame["current_price"] - frame["unit_cost"]) / frame["current_price"]).min()
    markdown_scale = float((frame["baseline_units"] * frame["current_price"]).sum()) * 0.1
    params = OptimiserParams(
        price_ladder=tuple(sorted({-0.1} | draw(st.sets(
            st.sampled_from(LADDER + (-0.15, -0.05, 0.05, 0.2)), max_size=4)))),
        max_price_change=draw(st.sampled_from([0.1, 0.2, 0.3])),
        min_margin=draw(st.sampled_from([-0.1, 0.0, 0.3, 0.6, 1.0])) * max(margin_rate, 0.0),
        discount_budget=draw(st.sampled_from([0.0, 0.05, 0.2, 0.5, 1e6])) * markdown_scale,
        max_changes=draw(st.integers(0, n)),
        objective=draw(st.sampled_from(["margin", "revenue"])),
    )
    return frame, params


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_random_feasible_problems_are_solved_optimally_within_every_constraint(problem):
    frame, params = problem
    recs, report = optimise_prices(frame, params)
    assert check_recommendations(recs, params) == []
    assert recs["product_id"].tolist() == frame["product_id"].tolist()
    again = recompute(frame, recs)
    np.testing.assert_allclose(recs["expected_units"], again["units"], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(recs["expected_margin"], again["margin"], rtol=1e-9, atol=1e-9)
    assert again["discount"].sum() <= params.discount_budget + 1e-6
    assert recs["is_change"].sum() <= params.max_changes
    assert (recs["price_change"].abs() <= params.max_price_change + 1e-9).all()
    new = recs["recommended_price"]
    assert ((new - recs["unit_cost"]) / new >= params.min_margin - 1e-9).all()
    do_nothing = recs["baseline_margin"].sum() if params.objective == "margin" else float(
        (np.minimum(frame["baseline_units"], frame["stock_on_hand"]) * frame["current_price"]).sum())
    value = plan_value(recs, params.objective)
    assert value >= do_nothing - 1e-6 * max(1.0, abs(do_nothing))
    best = brute_force(frame, params)
    assert value >= best - 1e-4 * max(1.0, abs(best)) - 1e-9
    assert report.n_changes == recs["is_change"].sum()


@pytest.mark.parametrize("objective", ["margin", "revenue"])
def test_a_tight_budget_binds_and_holds_on_a_larger_problem(objective):
    rng = np.random.default_rng(11)
    n = 60
    price = np.round(rng.uniform(2, 30, n), 2)
    frame = items(*zip(price, np.round(price * rng.uniform(0.2, 0.5, n), 2), rng.uniform(10, 300, n),
                       rng.uniform(-4, -1.2, n), np.full(n, 1e5), strict=True))
    params = dataclasses.replace(PARAMS, objective=objective, max_changes=n)
    free, free_report = optimise_prices(frame, params)
    assert free_report.discount_spent > 0
    tight = dataclasses.replace(params, discount_budget=0.1 * free_report.discount_spent)
    recs, report = optimise_prices(frame, tight)
    assert check_recommendations(recs, tight) == []
    assert 0 < recs["discount_cost"].sum() <= tight.discount_budget + 1e-6
    assert report.objective_value <= free_report.objective_value + 1e-6
    assert report.objective_value >= plan_value(optimise_prices(
        frame, dataclasses.replace(params, discount_budget=0.0))[0], objective) - 1e-6
