"""Property tests: on random problems the optimiser's plan satisfies every constraint and is
optimal within its certified gap, and it reports infeasibility exactly when no plan exists.

The reference is an independent brute force: it derives the ladder prices, the expected units
and the constraints from the problem statement and tries every combination of prices.
"""

import dataclasses
import itertools
import math

import pandas as pd
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from shelfcast.core.optimiser import InfeasibleError, OptimiserParams, optimise_prices
from shelfcast.core.optimiser_check import check_recommendations

STEPS = (-0.3, -0.2, -0.15, -0.1, -0.05, 0.05, 0.1, 0.2)


def brute_force(frame: pd.DataFrame, p: OptimiserParams) -> float | None:
    """Best objective over every plan that meets every constraint; None when there is none."""
    per_product = []
    for r in frame.itertuples():
        options = set()
        for step in (0.0, *p.price_ladder):
            cents = round(r.current_price * (1 + step) * 100, 6)
            price = (
                r.current_price
                if step == 0
                else (math.ceil(cents) if step < 0 else math.floor(cents)) / 100
            )
            if abs(price / r.current_price - 1) > p.max_price_change + 1e-9:
                continue
            if (price - r.unit_cost) / price < p.min_margin - 1e-9:
                continue
            units = min(
                r.baseline_units * (price / r.current_price) ** r.elasticity, r.stock_on_hand
            )
            value = units * (price - r.unit_cost) if p.objective == "margin" else units * price
            options.add(
                (value, max(r.current_price - price, 0.0) * units, price != r.current_price)
            )
        per_product.append(options)
    best = None
    for plan in itertools.product(*per_product):
        if (
            sum(o[1] for o in plan) <= p.discount_budget + 1e-9
            and sum(o[2] for o in plan) <= p.max_changes
        ):
            total = sum(o[0] for o in plan)
            best = total if best is None else max(best, total)
    return best


@st.composite
def problems(draw):
    """Random small problems, feasible or not: margins, limits and budgets often bind."""
    n = draw(st.integers(1, 5))
    rows = []
    for i in range(n):
        price = round(draw(st.floats(0.5, 50)), 2)
        cost = max(round(price * draw(st.floats(0.2, 0.95)), 2), 0.01)
        baseline = draw(st.one_of(st.just(0.0), st.floats(1, 500)))
        stock = round(baseline * draw(st.sampled_from([0.0, 0.9, 2.0, 10.0, 10.0])))
        rows.append(
            {
                "product_id": f"P{i}",
                "category": "C",
                "current_price": price,
                "unit_cost": cost,
                "baseline_units": baseline,
                "elasticity": draw(st.floats(-4, 0)),
                "stock_on_hand": stock,
            }
        )
    frame = pd.DataFrame(rows)
    markdown_scale = float((frame["baseline_units"] * frame["current_price"]).sum()) * 0.1
    params = OptimiserParams(
        price_ladder=tuple(sorted(draw(st.sets(st.sampled_from(STEPS), min_size=1, max_size=4)))),
        max_price_change=draw(st.sampled_from([0.05, 0.1, 0.2, 0.3])),
        min_margin=draw(st.sampled_from([-0.2, 0.0, 0.1, 0.25, 0.4, 0.6])),
        discount_budget=draw(st.sampled_from([0.0, 0.05, 0.2, 0.5, 1e6])) * markdown_scale,
        max_changes=draw(st.integers(0, n)),
        objective=draw(st.sampled_from(["margin", "revenue"])),
    )
    return frame, params


def assert_every_constraint_holds(
    frame: pd.DataFrame, recs: pd.DataFrame, p: OptimiserParams
) -> None:
    assert check_recommendations(recs, p, product_ids=frame["product_id"]) == []
    assert recs["product_id"].tolist() == frame["product_id"].tolist()
    new, cur = recs["recommended_price"], recs["current_price"]
    assert ((new / cur - 1).abs() <= p.max_price_change + 1e-9).all()
    assert ((new - recs["unit_cost"]) / new >= p.min_margin - 1e-9).all()
    assert ((cur - new).clip(lower=0) * recs["expected_units"]).sum() <= p.discount_budget + 1e-6
    assert int((new != cur).sum()) <= p.max_changes
    assert (recs["expected_units"] <= frame["stock_on_hand"].to_numpy() + 1e-9).all()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_random_problems_are_solved_optimally_or_reported_infeasible_exactly_when_no_plan_exists(
    problem,
):
    frame, params = problem
    best = brute_force(frame, params)
    event("feasible" if best is not None else "infeasible")
    try:
        recs, report = optimise_prices(frame, params)
    except InfeasibleError as error:
        assert best is None, f"a plan worth {best} exists, but the optimiser said: {error}"
        assert error.conflicts and all(("min_margin" in c) for c in error.conflicts)
        return
    assert best is not None, "the optimiser returned a plan where none exists"
    assert_every_constraint_holds(frame, recs, params)
    value = float(
        recs["expected_margin" if params.objective == "margin" else "expected_revenue"].sum()
    )
    assert math.isclose(value, report.objective_value, rel_tol=1e-9, abs_tol=1e-9)
    # the certificate bounds the optimum, and the plan is within the certified gap of it
    assert report.best_bound >= best - 1e-6 * max(1.0, abs(best))
    assert value >= best - params.mip_rel_gap * max(1.0, abs(report.best_bound)) - 1e-9
    assert report.n_changes == recs["is_change"].sum()


@st.composite
def infeasible_problems(draw):
    """A random problem made infeasible on purpose: a margin floor above what any product can
    reach, or one change fewer than the products whose current margin is below the floor."""
    frame, params = draw(problems())
    price, cost = frame["current_price"], frame["unit_cost"]
    if draw(st.booleans()):
        top = max(0.0, min(max(params.price_ladder), params.max_price_change))  # highest step
        floor = float((1 - cost / (price * (1 + top))).max()) + 0.02
        return frame, dataclasses.replace(params, min_margin=floor), "min_margin"
    floor = float((1 - cost / price).max()) + 1e-3  # no current price meets it; +20 % does
    return (
        frame.assign(unit_cost=price * (1 - floor) + 1e-3),
        dataclasses.replace(
            params,
            price_ladder=tuple(sorted({*params.price_ladder, 0.2})),
            max_price_change=0.3,
            min_margin=floor,
            max_changes=len(frame) - 1,
        ),
        "max_changes",
    )


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(infeasible_problems())
def test_infeasible_problems_are_reported_with_the_conflicting_constraint(case):
    frame, params, culprit = case
    assert brute_force(frame, params) is None
    try:
        optimise_prices(frame, params)
    except InfeasibleError as error:
        assert any(c.startswith(f"{culprit}=") for c in error.conflicts), error.conflicts
    else:
        raise AssertionError("an infeasible problem was solved")
