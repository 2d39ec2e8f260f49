"""Optimiser: candidates, the LP-and-repair route against branch and bound, limits, infeasibility."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from shelfcast.core.optimiser import (
    RESULT_COLUMNS,
    InfeasibleError,
    OptimiserConfigError,
    OptimiserParams,
    candidate_prices,
    optimise_prices,
)
from shelfcast.core.optimiser_check import check_recommendations

LADDER = (-0.3, -0.2, -0.1, 0.0, 0.1)
PARAMS = OptimiserParams(
    LADDER,
    max_price_change=0.25,
    min_margin=0.1,
    discount_budget=1e6,
    max_changes=100,
    objective="margin",
)


def items(*rows) -> pd.DataFrame:
    """Rows of (current_price, unit_cost, baseline_units, elasticity[, stock])."""
    return pd.DataFrame(
        [
            {
                "product_id": f"P{i}",
                "category": "C",
                "current_price": r[0],
                "unit_cost": r[1],
                "baseline_units": r[2],
                "elasticity": r[3],
                "stock_on_hand": r[4] if len(r) > 4 else 1e6,
            }
            for i, r in enumerate(rows)
        ]
    )


def random_items(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    price = np.round(rng.uniform(2, 30, n), 2)
    cost = np.round(price * rng.uniform(0.3, 0.75, n), 2)
    return items(
        *zip(
            price,
            cost,
            rng.uniform(10, 300, n),
            rng.uniform(-3.5, -0.5, n),
            np.round(rng.uniform(10, 600, n)),
            strict=True,
        )
    )


def plan_value(recs: pd.DataFrame, objective: str) -> float:
    return float(recs["expected_margin" if objective == "margin" else "expected_revenue"].sum())


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
        "admissible"
    ].to_dict() == {-0.3: False, -0.2: False, -0.1: True, 0.0: True, 0.1: True}


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


def test_stock_caps_expected_units_and_the_result_carries_the_stock():
    recs, _ = optimise_prices(items((10.0, 2.0, 100, -3.0, 120)), PARAMS)
    # uncapped, 8.00 would sell 195 units and earn most; with 120 on hand 9.00 earns 7 × 120
    assert recs["recommended_price"].item() == 9.0
    assert recs["expected_units"].item() == 120 and recs["stock_on_hand"].item() == 120


def test_budget_and_change_limits_bind():
    frame = items(*[(10.0, 2.0, 100, -3.0)] * 4)
    no_budget, report = optimise_prices(frame, dataclasses.replace(PARAMS, discount_budget=0.0))
    assert (no_budget["discount_cost"] == 0).all() and report.discount_spent == 0
    some = optimise_prices(frame, dataclasses.replace(PARAMS, discount_budget=300.0))[0]
    assert 0 < some["discount_cost"].sum() <= 300.0
    two = optimise_prices(frame, dataclasses.replace(PARAMS, max_changes=2))[0]
    assert two["is_change"].sum() == 2
    assert not optimise_prices(frame, dataclasses.replace(PARAMS, max_changes=0))[0][
        "is_change"
    ].any()


def test_ties_prefer_no_change_and_are_deterministic():
    frame = items(*[(4.0, 1.0, 0, -1.0)] * 3, (10.0, 6.0, 100, -1.5))
    first, _ = optimise_prices(frame, PARAMS)
    second, _ = optimise_prices(frame, PARAMS)
    pd.testing.assert_frame_equal(first, second)
    assert first["is_change"].tolist() == [False, False, False, True]


def test_empty_items_give_an_empty_frame():
    recs, report = optimise_prices(
        items().reindex(columns=list(items((1, 0.5, 1, -1)).columns)), PARAMS
    )
    assert recs.empty and list(recs.columns) == RESULT_COLUMNS and report.status == "empty"


def binding(frame: pd.DataFrame, objective: str) -> OptimiserParams:
    """Limits at 60 % of the changes and 30 % of the discount the unconstrained plan would use."""
    free, _ = optimise_prices(frame, dataclasses.replace(PARAMS, objective=objective))
    return dataclasses.replace(
        PARAMS,
        objective=objective,
        max_changes=int(free["is_change"].sum() * 0.6),
        discount_budget=0.3 * float(free["discount_cost"].sum()),
    )


def test_the_lp_route_certifies_a_large_problem_against_branch_and_bound():
    frame = random_items(3000, seed=3)
    params = binding(frame, "margin")
    recs, report = optimise_prices(frame, params)
    assert report.method == "lp_repair" and report.status == "optimal"
    assert report.lp_fractional <= 2  # two coupling constraints: at most two fractional products
    assert report.best_bound >= report.objective_value and report.gap <= params.mip_rel_gap
    assert recs["is_change"].sum() == params.max_changes  # both limits bind
    assert check_recommendations(recs, params) == []
    _, milp_report = optimise_prices(frame, params, method="milp")
    assert milp_report.method == "milp" and milp_report.status == "optimal"
    # each certificate covers the other's plan, and the two plans agree within the gap
    assert report.best_bound >= milp_report.objective_value - 1e-6
    assert milp_report.best_bound >= report.objective_value - 1e-6
    assert report.objective_value == pytest.approx(
        milp_report.objective_value, rel=2 * params.mip_rel_gap
    )


@pytest.mark.parametrize("objective", ["margin", "revenue"])
def test_a_mid_sized_problem_branches_only_over_the_options_still_in_play(objective):
    frame = random_items(400, seed=3)
    params = binding(frame, objective)
    recs, report = optimise_prices(frame, params)
    # 400 products: one product is a visible share, the LP bound alone cannot certify 0.01 %
    assert (
        report.method == "milp" and report.status == "optimal" and report.gap <= params.mip_rel_gap
    )
    assert 0 < report.branched_products < len(frame) / 2  # reduced-cost fixing
    assert check_recommendations(recs, params) == []
    _, plain = optimise_prices(frame, params, method="milp")
    assert report.best_bound >= plain.objective_value - 1e-6
    assert plain.best_bound >= report.objective_value - 1e-6


def test_a_large_lp_gap_falls_back_to_branch_and_bound():
    # two markdowns to 9.00 spend 137 each against a budget of 200: the LP takes 1.46, a plan 1
    frame = items((10.0, 2.0, 100, -3.0, 1e6), (10.0, 2.0, 100, -3.0, 1e6))
    params = dataclasses.replace(PARAMS, price_ladder=(-0.1, 0.0), discount_budget=200.0)
    recs, report = optimise_prices(frame, params)
    assert report.method == "milp" and report.status == "optimal"
    assert recs["is_change"].sum() == 1 and recs["discount_cost"].sum() <= 200.0
    assert report.best_bound >= report.objective_value


def test_a_tight_budget_binds_and_holds_on_a_larger_problem():
    frame = random_items(60, seed=11)
    params = dataclasses.replace(PARAMS, max_changes=60)
    free, free_report = optimise_prices(frame, params)
    assert free_report.discount_spent > 0
    tight = dataclasses.replace(params, discount_budget=0.1 * free_report.discount_spent)
    recs, report = optimise_prices(frame, tight)
    assert check_recommendations(recs, tight) == []
    assert 0 < recs["discount_cost"].sum() <= tight.discount_budget + 1e-6
    assert report.objective_value <= free_report.objective_value + 1e-6


# --- infeasible problems: every conflict named, with products and numbers ---------------------


def test_a_product_no_ladder_price_can_save_is_named():
    frame = items((10.0, 5.0, 10, -1.0), (10.0, 9.5, 10, -1.0))
    params = dataclasses.replace(PARAMS, min_margin=0.3, max_price_change=0.1)
    with pytest.raises(
        InfeasibleError,
        match=r"min_margin=0.3 cannot be met within max_price_change=0.1 "
        r".* by 1 product\(s\): P1 \(best reachable margin 0.14, unit cost 9.5, price 10.0\)",
    ):
        optimise_prices(frame, params)


def test_more_forced_changes_than_allowed_is_named():
    frame = items(*[(10.0, 9.5, 10, -1.0)] * 3, (10.0, 5.0, 10, -1.0))
    params = dataclasses.replace(PARAMS, min_margin=0.08, max_changes=2)
    with pytest.raises(
        InfeasibleError,
        match=r"max_changes=2 but 3 product\(s\) must change price .*"
        r"min_margin=0.08: P0 \(margin 0.05\), P1 \(margin 0.05\), P2",
    ):
        optimise_prices(frame, params)


def test_every_conflict_is_reported_at_once():
    frame = items((10.0, 9.5, 10, -1.0), (10.0, 8.5, 10, -1.0), (10.0, 8.8, 10, -1.0))
    params = dataclasses.replace(PARAMS, min_margin=0.2, max_changes=1)
    with pytest.raises(InfeasibleError) as error:
        optimise_prices(frame, params)
    # P0 cannot reach a 20 % margin within +10 %; P1 and P2 can, but only by both changing
    assert error.value.conflicts == [
        "min_margin=0.2 cannot be met within max_price_change=0.25 on price_ladder=[-0.3, -0.2, "
        "-0.1, 0.0, 0.1] by 1 product(s): P0 (best reachable margin 0.14, unit cost 9.5, price 10.0)",
        "max_changes=1 but 2 product(s) must change price because their current margin is below "
        "min_margin=0.2: P1 (margin 0.15), P2 (margin 0.12)",
    ]
    assert str(error.value).startswith("no price plan meets every constraint: min_margin=0.2")


def test_a_zero_budget_is_always_feasible_because_markdowns_are_never_forced():
    # a price below the margin floor only gets worse when lowered: a forced change is a markup
    frame = items((10.0, 9.5, 100, -0.5), (10.0, 2.0, 100, -3.0))
    params = dataclasses.replace(PARAMS, min_margin=0.12, discount_budget=0.0)
    recs, _ = optimise_prices(frame, params)
    assert recs["recommended_price"].tolist() == [11.0, 10.0]
    assert recs["discount_cost"].sum() == 0 and check_recommendations(recs, params) == []


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("objective", "profit", "optimiser.objective must be 'margin' or 'revenue', got 'profit'"),
        ("discount_budget", -1.0, "optimiser.discount_budget must be an amount >= 0, got -1.0"),
        ("max_changes", -2, "optimiser.max_changes must be a whole number >= 0, got -2"),
        ("max_changes", 2.5, "optimiser.max_changes must be a whole number >= 0, got 2.5"),
        ("max_price_change", -0.1, "optimiser.max_price_change must be a share >= 0, got -0.1"),
        ("min_margin", 1.0, "optimiser.min_margin must be a share below 1, got 1.0"),
        ("price_ladder", (), "optimiser.price_ladder must be a non-empty list"),
        (
            "price_ladder",
            (-1.0, 0.1),
            "optimiser.price_ladder must be a non-empty list of shares above -1",
        ),
        ("mip_rel_gap", 1.5, "optimiser.mip_rel_gap must be in [0, 1), got 1.5"),
        ("time_limit_seconds", 0, "optimiser.time_limit_seconds must be > 0, got 0"),
        ("elasticity_caution", -0.1, "optimiser.elasticity_caution must be a number >= 0"),
    ],
)
def test_bad_parameters_name_the_key(key, value, message):
    with pytest.raises(OptimiserConfigError) as error:
        dataclasses.replace(PARAMS, **{key: value})
    assert str(error.value).startswith(message)


def test_bad_items_are_value_errors_naming_the_column():
    with pytest.raises(ValueError, match=r"items.elasticity invalid for \['P0'\]"):
        optimise_prices(items((10.0, 5.0, 10, 0.5)), PARAMS)
    with pytest.raises(ValueError, match="items lack column"):
        optimise_prices(items((10.0, 5.0, 10, -0.5)).drop(columns="stock_on_hand"), PARAMS)


def test_elasticity_caution_keeps_prices_whose_change_pays_only_at_the_estimate():
    # At elasticity -2 a 10 % markup of a 40 %-margin product earns 1.1^-2 · 5 / 4 = 1.033 of
    # today's margin: it pays at the estimate, not if demand were 0.5 more elastic
    # (1.1^-2.5 · 5 / 4 = 0.986). At -1.8 a 20 % markdown of a 70 %-margin product earns
    # 0.8^-1.8 · 5 / 7 = 1.067, but 0.8^-1.3 · 5 / 7 = 0.955 if demand were 0.5 less elastic.
    frame = items((10.0, 6.0, 100, -2.0), (10.0, 3.0, 100, -1.8))
    bold, _ = optimise_prices(frame, PARAMS)
    cautious_params = dataclasses.replace(PARAMS, elasticity_caution=0.5)
    cautious, report = optimise_prices(frame, cautious_params)
    assert bold["price_change"].round(2).tolist() == [0.1, -0.2]
    assert not cautious["is_change"].any()
    # what is reported (and checked) stays the units at the estimated elasticity
    assert check_recommendations(cautious, cautious_params) == []
    assert report.objective_value <= cautious["expected_margin"].sum() + 1e-9
