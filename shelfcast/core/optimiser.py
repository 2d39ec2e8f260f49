"""Price optimiser: one price per product from a ladder, chosen by a mixed-integer program.

Each product gets a short list of candidate prices (the ladder applied to its current price,
rounded to cents *toward* the current price so rounding never enlarges a change). Candidates that
break the maximum change or the minimum margin are not generated as variables, so every solution
satisfies them by construction. The MIP then picks exactly one candidate per product to maximise
expected margin (or revenue) subject to the two constraints that couple products: the total
discount budget and the maximum number of price changes. It is a multiple-choice knapsack with
two side constraints, whose LP relaxation is tight, so HiGHS solves thousands of products in well
under a second. ``check_recommendations`` re-verifies a result from its columns alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

ITEM_COLUMNS = ["product_id", "category", "current_price", "unit_cost", "baseline_units",
                "elasticity", "stock_on_hand"]
RESULT_COLUMNS = ["product_id", "category", "unit_cost", "current_price", "recommended_price",
                  "price_change", "is_change", "elasticity", "baseline_units", "expected_units",
                  "expected_revenue", "expected_margin", "baseline_margin", "discount_cost"]
_EPS = 1e-9  # tolerance of the constraint tests while generating candidates


@dataclass(frozen=True)
class OptimiserParams:
    """The business constraints and the objective (configuration section ``optimiser``)."""

    price_ladder: tuple[float, ...]  # candidate changes as shares of the current price
    max_price_change: float  # |new / current − 1| ≤ this
    min_margin: float  # (new price − unit cost) / new price ≥ this, for every product
    discount_budget: float  # Σ max(0, current − new) × expected units ≤ this
    max_changes: int  # number of products whose price changes ≤ this
    objective: str  # "margin" or "revenue"

    def __post_init__(self) -> None:
        if self.objective not in ("margin", "revenue"):
            raise ValueError(f"objective must be 'margin' or 'revenue', got {self.objective!r}")
        if not self.price_ladder or min(self.price_ladder) <= -1:
            raise ValueError(f"price_ladder must be non-empty shares > -1, got {self.price_ladder}")
        if self.max_price_change < 0 or self.max_changes < 0:
            raise ValueError("max_price_change and max_changes must be >= 0")


class InfeasibleError(ValueError):
    """No price plan meets the constraints; the message names the constraints and products."""


@dataclass
class SolveReport:
    status: str  # optimal, time_limit or empty
    objective_value: float  # Σ objective of the chosen prices
    best_bound: float  # HiGHS's proven upper bound on the objective
    gap: float  # certified relative gap between the two
    seconds: float
    n_products: int
    n_changes: int
    discount_spent: float


def candidate_prices(items: pd.DataFrame, params: OptimiserParams) -> pd.DataFrame:
    """Every distinct candidate price per product, with its expected outcome and admissibility.

    The current price is always a candidate (option 0.0). Expected units follow constant
    elasticity from the baseline, capped by stock on hand (stock cover). Ladder steps that round
    to the same price keep the smaller step.
    """
    items = _checked(items)
    steps = np.unique(np.r_[0.0, np.asarray(params.price_ladder, dtype=float)])
    current = items["current_price"].to_numpy(float)[:, None]
    raw = current * (1 + steps)[None, :]
    rounded = np.where(steps < 0, np.ceil(raw * 100 - 1e-6), np.floor(raw * 100 + 1e-6)) / 100
    price = np.where(steps == 0, current, rounded)
    n, k = price.shape
    frame = pd.DataFrame(
        {
            "row": np.repeat(np.arange(n), k),
            "product_id": np.repeat(items["product_id"].to_numpy(object), k),
            "option": np.tile(steps, n),
            "price": price.ravel(),
        }
    )
    frame = (
        frame.assign(size=frame["option"].abs())
        .sort_values(["row", "price", "size"], kind="stable")
        .drop_duplicates(["row", "price"])
        .reset_index(drop=True)
    )
    row = frame["row"].to_numpy()
    cur, cost = (items[c].to_numpy(float)[row] for c in ("current_price", "unit_cost"))
    p = frame["price"].to_numpy()
    units = np.minimum(
        items["baseline_units"].to_numpy(float)[row] * (p / cur) ** items["elasticity"].to_numpy(float)[row],
        items["stock_on_hand"].to_numpy(float)[row],
    )
    change = p / cur - 1
    return frame.drop(columns="size").assign(
        price_change=change,
        is_change=np.abs(p - cur) > 1e-9,
        units=units,
        revenue=units * p,
        margin=units * (p - cost),
        discount_cost=np.maximum(cur - p, 0.0) * units,
        margin_rate=(p - cost) / p,
        admissible=(np.abs(change) <= params.max_price_change + _EPS)
        & ((p - cost) / p >= params.min_margin - _EPS),
    )[["row", "product_id", "option", "price_change", "price", "is_change", "units", "revenue",
       "margin", "discount_cost", "margin_rate", "admissible"]]


def optimise_prices(
    items: pd.DataFrame, params: OptimiserParams, time_limit: float = 60.0
) -> tuple[pd.DataFrame, SolveReport]:
    """The best admissible price per product, and how the solve went. Raises InfeasibleError."""
    start = time.perf_counter()
    if len(items) == 0:
        return pd.DataFrame({c: pd.Series(dtype=_dtype(c)) for c in RESULT_COLUMNS}), SolveReport(
            "empty", 0.0, 0.0, 0.0, time.perf_counter() - start, 0, 0, 0.0)
    items = _checked(items)
    cands = candidate_prices(items, params)
    options = cands.loc[cands["admissible"]].reset_index(drop=True)
    _precheck(items, cands, options, params)
    options = _pareto(options, params.objective)

    value = options[params.objective].to_numpy()
    n, m = len(items), len(options)
    rows = options["row"].to_numpy()
    a = sp.vstack([
        sp.csr_array((np.ones(m), (rows, np.arange(m))), shape=(n, m)),
        sp.csr_array(options[["discount_cost", "is_change"]].to_numpy(float).T),
    ]).tocsr()
    lb = np.r_[np.ones(n), -np.inf, -np.inf]
    ub = np.r_[np.ones(n), params.discount_budget, params.max_changes]
    # HiGHS's presolve spends seconds on this structure (5,000 products: 12 s of a 13 s solve)
    # and gains nothing over the Pareto pruning above, so it is off.
    res = milp(-value, constraints=LinearConstraint(a, lb, ub), integrality=np.ones(m),
               bounds=Bounds(0, 1),
               options={"mip_rel_gap": 1e-4, "time_limit": time_limit, "presolve": False})
    if res.x is None:
        by_item = options.groupby("row")
        raise InfeasibleError(
            f"HiGHS found no plan for {n} products ({res.message}): smallest possible discount "
            f"spend {by_item['discount_cost'].min().sum():.2f} vs discount_budget="
            f"{params.discount_budget}; products that must change {int(by_item['is_change'].all().sum())} "
            f"vs max_changes={params.max_changes}"
        )
    chosen = options.loc[res.x > 0.5].set_index("row").sort_index()
    recs = _result(items, chosen)
    report = SolveReport(
        status="optimal" if res.status == 0 else "time_limit",
        objective_value=float(chosen[params.objective].sum()),
        best_bound=float(-getattr(res, "mip_dual_bound", np.nan)),
        gap=float(getattr(res, "mip_gap", np.nan)),
        seconds=time.perf_counter() - start,
        n_products=n,
        n_changes=int(recs["is_change"].sum()),
        discount_spent=float(recs["discount_cost"].sum()),
    )
    return recs, report


def check_recommendations(recs: pd.DataFrame, params: OptimiserParams, tol: float = 1e-6) -> list[str]:
    """Every constraint violated by a result frame, recomputed from its columns; [] when none.

    Independent of the optimiser: it checks the ladder, maximum change, minimum margin, cents,
    the change flag, the arithmetic of the expected columns, the discount budget and the number
    of changes. (Stock is not in the frame, so expected units are only checked not to exceed
    the elasticity model.)
    """
    missing = sorted(set(RESULT_COLUMNS) - set(recs.columns))
    if missing:
        return [f"missing column(s): {', '.join(missing)}"]
    out: list[str] = []
    if recs["product_id"].duplicated().any():
        out.append(f"duplicated product_id: {sorted(set(recs.loc[recs['product_id'].duplicated(), 'product_id']))[:10]}")
    numeric = recs[[c for c in RESULT_COLUMNS if c not in ("product_id", "category", "is_change")]]
    for pid in recs.loc[numeric.isna().any(axis=1), "product_id"]:
        out.append(f"product {pid}: missing values")
    ladder = np.r_[0.0, np.asarray(params.price_ladder, float)]
    for r in recs.itertuples(index=False):
        new, cur, cost, units = r.recommended_price, r.current_price, r.unit_cost, r.expected_units
        if not new > 0 or not cur > 0:
            out.append(f"product {r.product_id}: prices must be > 0 (current {cur}, recommended {new})")
            continue
        change, moved = new / cur - 1, abs(new - cur) > 1e-9
        where = f"product {r.product_id}"
        if abs(change) > params.max_price_change + tol:
            out.append(f"{where}: change {change:+.4f} exceeds max_price_change={params.max_price_change}")
        if (new - cost) / new < params.min_margin - tol:
            out.append(f"{where}: margin {(new - cost) / new:.4f} < min_margin={params.min_margin} at price {new}")
        if moved and abs(new * 100 - round(new * 100)) > 1e-6:
            out.append(f"{where}: recommended price {new} is not in cents")
        if moved and not np.any(np.abs(change - ladder) <= 0.01 / cur + tol):
            out.append(f"{where}: change {change:+.4f} is not a ladder step of {tuple(params.price_ladder)}")
        if bool(r.is_change) != moved:
            out.append(f"{where}: is_change={r.is_change} but price moves {cur} -> {new}")
        expected = {
            "price_change": change,
            "expected_revenue": units * new,
            "expected_margin": units * (new - cost),
            "discount_cost": max(cur - new, 0.0) * units,
        }
        for column, value in expected.items():
            if abs(getattr(r, column) - value) > tol * max(1.0, abs(value)):
                out.append(f"{where}: {column}={getattr(r, column)} but recomputed {value}")
        model = r.baseline_units * (new / cur) ** r.elasticity
        if units < -tol or units > model + tol * max(1.0, model):
            out.append(f"{where}: expected_units={units} outside [0, {model}] (elasticity model)")
        if r.elasticity > tol:
            out.append(f"{where}: elasticity {r.elasticity} > 0")
    moved = (recs["recommended_price"] - recs["current_price"]).abs() > 1e-9
    if moved.sum() > params.max_changes:
        out.append(f"{int(moved.sum())} price changes exceed max_changes={params.max_changes}")
    spent = float(((recs["current_price"] - recs["recommended_price"]).clip(lower=0) * recs["expected_units"]).sum())
    if spent > params.discount_budget + tol * max(1.0, abs(params.discount_budget)):
        out.append(f"discount spent {spent:.2f} exceeds discount_budget={params.discount_budget}")
    return out


def _checked(items: pd.DataFrame) -> pd.DataFrame:
    """The items with a clean index; ValueError naming the first bad column."""
    missing = [c for c in ITEM_COLUMNS if c not in items.columns]
    if missing:
        raise ValueError(f"items lack column(s) {missing}")
    items = items[ITEM_COLUMNS].reset_index(drop=True)
    if items["product_id"].duplicated().any():
        raise ValueError("items must have one row per product_id")
    rules = {"current_price": lambda v: v > 0, "unit_cost": lambda v: v > 0,
             "baseline_units": lambda v: v >= 0, "elasticity": lambda v: v <= 0,
             "stock_on_hand": lambda v: v >= 0}
    for column, ok in rules.items():
        values = items[column].astype(float)
        bad = ~(np.isfinite(values) & ok(values))
        if bad.any():
            raise ValueError(f"items.{column} invalid for {items.loc[bad, 'product_id'].head(5).tolist()}")
    return items


def _names(ids, limit: int = 10) -> str:
    ids = list(ids)
    return ", ".join(map(str, ids[:limit])) + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def _precheck(items: pd.DataFrame, cands: pd.DataFrame, options: pd.DataFrame, p: OptimiserParams) -> None:
    """Name the products and constraints behind an infeasible problem before calling HiGHS."""
    reachable = cands.loc[cands["price_change"].abs() <= p.max_price_change + _EPS]
    stuck = sorted(set(range(len(items))) - set(options["row"]))
    if stuck:
        best = reachable.groupby("row")["margin_rate"].max()
        raise InfeasibleError("; ".join(
            f"product {items.at[r, 'product_id']}: no ladder price meets min_margin={p.min_margin} "
            f"within max_price_change={p.max_price_change} (best reachable margin {best.get(r, np.nan):.2f})"
            for r in stuck[:10]) + (f"; and {len(stuck) - 10} more products" if len(stuck) > 10 else ""))
    must = options.groupby("row")["is_change"].all()
    if must.sum() > p.max_changes:
        raise InfeasibleError(
            f"{int(must.sum())} products must change price to meet min_margin={p.min_margin} but "
            f"max_changes is {p.max_changes}: {_names(items.loc[must[must].index, 'product_id'])}")
    cheapest = options.groupby("row")["discount_cost"].min()
    if cheapest.sum() > p.discount_budget + _EPS:
        costly = cheapest[cheapest > 0]
        raise InfeasibleError(
            f"discount_budget={p.discount_budget} is below the smallest possible markdown spend "
            f"{cheapest.sum():.2f}: products {_names(items.loc[costly.index, 'product_id'])} have "
            f"only markdown prices that meet min_margin and max_price_change")


def _pareto(options: pd.DataFrame, objective: str) -> pd.DataFrame:
    """Drop options another option of the same product beats: as good an objective, no more
    discount, no more changes. Among equals the preferred one survives (no change, then the
    smaller change, then the lower price), which is the deterministic tie-breaking; and the MIP
    shrinks to the few options that trade objective against budget."""
    ordered = options.assign(size=options["price_change"].abs()).sort_values(
        ["row", "is_change", "discount_cost", objective, "size", "price"],
        ascending=[True, True, True, False, True, True], kind="stable")
    best_before = ordered.groupby("row")[objective].cummax().groupby(ordered["row"]).shift()
    keep = best_before.isna() | (
        ordered[objective] > best_before + 1e-9 * np.maximum(1.0, best_before.abs()))
    return ordered.loc[keep].drop(columns="size").sort_values(["row", "price"]).reset_index(drop=True)


def _result(items: pd.DataFrame, chosen: pd.DataFrame) -> pd.DataFrame:
    cur, cost = items["current_price"].to_numpy(float), items["unit_cost"].to_numpy(float)
    base = items["baseline_units"].to_numpy(float)
    new = chosen["price"].to_numpy(float)
    return pd.DataFrame({
        "product_id": items["product_id"].to_numpy(object),
        "category": items["category"].to_numpy(object),
        "unit_cost": cost,
        "current_price": cur,
        "recommended_price": new,
        "price_change": new / cur - 1,
        "is_change": chosen["is_change"].to_numpy(bool),
        "elasticity": items["elasticity"].to_numpy(float),
        "baseline_units": base,
        "expected_units": chosen["units"].to_numpy(float),
        "expected_revenue": chosen["revenue"].to_numpy(float),
        "expected_margin": chosen["margin"].to_numpy(float),
        "baseline_margin": np.minimum(base, items["stock_on_hand"].to_numpy(float)) * (cur - cost),
        "discount_cost": chosen["discount_cost"].to_numpy(float),
    })


def _dtype(column: str) -> str:
    return {"product_id": "object", "category": "object", "is_change": "bool"}.get(column, "float64")
