"""Price optimiser: one price per product from a ladder, under the business's constraints.

Each product gets a short list of candidate prices: the ladder applied to its current price,
rounded to cents *toward* the current price so rounding never enlarges a change. Expected units
follow constant elasticity from the forecast baseline, capped by stock on hand. Candidates that
break the maximum change or the minimum margin are never variables, so every plan satisfies
them by construction. The choice among the rest, under the discount budget and the maximum
number of changes, is a multiple-choice knapsack solved by ``optimiser_solver`` with HiGHS (an
LP repaired to an integral plan with a certified gap, branch and bound when that gap is too
wide). Its objective values each change with ``elasticity_caution``, as if demand reacted
worse than estimated (see ``_options``), so only changes that pay despite the elasticity's
error are made; the reported expected units stay those at the estimate. Infeasible problems
are diagnosed here before any solver runs, naming every conflict.
``optimiser_check.check_recommendations`` verifies a result from its columns alone.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from shelfcast.core import optimiser_solver
from shelfcast.core.optimiser_check import (  # noqa: F401  (public API)
    RESULT_COLUMNS,
    check_recommendations,
)
from shelfcast.errors import UserError

ITEM_COLUMNS = [
    "product_id",
    "category",
    "current_price",
    "unit_cost",
    "baseline_units",
    "elasticity",
    "stock_on_hand",
]
_EPS = 1e-9  # tolerance of the constraint tests while generating candidates


class OptimiserConfigError(UserError, ValueError):
    """An optimiser parameter is out of range; the message names the key."""


class InfeasibleError(UserError, ValueError):
    """No price plan meets the constraints. ``conflicts`` names each clash, its products and numbers."""

    def __init__(self, conflicts: list[str]):
        self.conflicts = conflicts
        super().__init__("no price plan meets every constraint: " + "; ".join(conflicts))


@dataclass(frozen=True)
class OptimiserParams:
    """The business constraints, the objective and the solver tolerance (section ``optimiser``)."""

    price_ladder: tuple[float, ...]  # candidate changes as shares of the current price
    max_price_change: float  # |new / current − 1| ≤ this
    min_margin: float  # (new price − unit cost) / new price ≥ this, for every product
    discount_budget: float  # Σ max(0, current − new) × expected units ≤ this
    max_changes: int  # number of products whose price changes ≤ this
    objective: str  # "margin" or "revenue"
    mip_rel_gap: float = 1e-4  # certified relative gap that ends the search
    time_limit_seconds: float = 60.0  # of the branch-and-bound fallback
    elasticity_caution: float = 0.0  # a change is chosen as if demand reacted this much worse

    def __post_init__(self) -> None:
        object.__setattr__(self, "price_ladder", tuple(float(s) for s in self.price_ladder))
        ladder = self.price_ladder
        checks = [
            ("objective", self.objective in ("margin", "revenue"),
             f"must be 'margin' or 'revenue', got {self.objective!r}"),
            ("price_ladder", bool(ladder) and all(-1 < s < math.inf for s in ladder),
             f"must be a non-empty list of shares above -1 (-0.2: 20 % off), got {list(ladder)}"),
            ("max_price_change", 0 <= self.max_price_change < math.inf,
             f"must be a share >= 0, got {self.max_price_change}"),
            ("min_margin", -math.inf < self.min_margin < 1,
             f"must be a share below 1, got {self.min_margin}"),
            ("discount_budget", 0 <= self.discount_budget < math.inf,
             f"must be an amount >= 0, got {self.discount_budget}"),
            ("max_changes", float(self.max_changes).is_integer() and self.max_changes >= 0,
             f"must be a whole number >= 0, got {self.max_changes}"),
            ("mip_rel_gap", 0 <= self.mip_rel_gap < 1, f"must be in [0, 1), got {self.mip_rel_gap}"),
            ("time_limit_seconds", 0 < self.time_limit_seconds < math.inf,
             f"must be > 0, got {self.time_limit_seconds}"),
            ("elasticity_caution", 0 <= self.elasticity_caution < math.inf,
             f"must be a number >= 0, got {self.elasticity_caution}"),
        ]  # fmt: skip
        wrong = [f"optimiser.{key} {message}" for key, ok, message in checks if not ok]
        if wrong:
            raise OptimiserConfigError("; ".join(wrong))


@dataclass
class SolveReport:
    status: str  # optimal (gap ≤ mip_rel_gap), time_limit, or empty
    method: str  # lp_repair (LP, repaired, certified), milp (branch and bound) or empty
    objective_value: float  # Σ objective of the chosen prices, at the cautious elasticity
    best_bound: float  # proven upper bound on the objective of any feasible plan
    gap: float  # certified: (best_bound − objective_value) / max(|best_bound|, 1)
    seconds: float
    n_products: int
    n_changes: int
    discount_spent: float
    n_options: int = 0  # candidates left after pruning: the variables of the model
    lp_fractional: int = 0  # products the LP relaxation left between two prices
    branched_products: int = 0  # products branch and bound still had to decide (0: not needed)
    timings: dict = field(default_factory=dict)  # seconds per phase


@dataclass
class _Options:
    """Every product's candidates as products × ladder-steps arrays (steps sorted ascending)."""

    steps: np.ndarray
    price: np.ndarray
    units: np.ndarray
    value: dict  # objective name -> array, at the estimated elasticity (what is reported)
    score: dict  # objective name -> array, at the cautious elasticity (what is maximised)
    discount: np.ndarray
    change: np.ndarray  # bool: the price moves
    price_change: np.ndarray  # new / current − 1
    distinct: np.ndarray  # bool: the first step giving this price (the smaller change)
    admissible: np.ndarray  # bool: distinct, within max change, at or above min margin
    margin_rate: np.ndarray


def candidate_prices(items: pd.DataFrame, params: OptimiserParams) -> pd.DataFrame:
    """Every distinct candidate price per product, with its expected outcome and admissibility.

    The current price is always a candidate (option 0.0). Expected units follow constant
    elasticity from the baseline, capped by stock on hand (stock cover). Ladder steps that round
    to the same price keep the smaller step.
    """
    items = _checked(items)
    o = _options(items, params)
    row, col = np.nonzero(o.distinct)
    return pd.DataFrame(
        {
            "row": row,
            "product_id": items["product_id"].to_numpy(object)[row],
            "option": o.steps[col],
            "price_change": o.price_change[row, col],
            "price": o.price[row, col],
            "is_change": o.change[row, col],
            "units": o.units[row, col],
            "revenue": o.value["revenue"][row, col],
            "margin": o.value["margin"][row, col],
            "discount_cost": o.discount[row, col],
            "margin_rate": o.margin_rate[row, col],
            "admissible": o.admissible[row, col],
        }
    )


def optimise_prices(
    items: pd.DataFrame, params: OptimiserParams, method: str = "auto"
) -> tuple[pd.DataFrame, SolveReport]:
    """The best admissible price per product, and how the solve went. Raises InfeasibleError.

    ``method`` "auto" solves the LP, repairs it and falls back to branch and bound when the
    certified gap is above ``mip_rel_gap``; "milp" goes straight to branch and bound.
    """
    start = time.perf_counter()
    if len(items) == 0:
        empty = pd.DataFrame({c: pd.Series(dtype=_dtype(c)) for c in RESULT_COLUMNS})
        return empty, SolveReport("empty", "empty", 0.0, 0.0, 0.0, 0.0, 0, 0, 0.0)
    items = _checked(items)
    o = _options(items, params)
    _raise_if_infeasible(items, o, params)
    candidates = time.perf_counter() - start
    size = np.broadcast_to(np.abs(o.steps), o.price.shape)
    plan = optimiser_solver.solve(
        o.score[params.objective],
        o.discount,
        o.change,
        o.admissible,
        (o.price, size),
        params.discount_budget,
        params.max_changes,
        params.mip_rel_gap,
        params.time_limit_seconds,
        method,
    )
    recs = _result(items, o, plan.column)
    report = SolveReport(
        status=plan.status,
        method=plan.method,
        objective_value=plan.value,
        best_bound=plan.bound,
        gap=plan.gap,
        seconds=time.perf_counter() - start,
        n_products=len(items),
        n_changes=int(recs["is_change"].sum()),
        discount_spent=float(recs["discount_cost"].sum()),
        n_options=plan.n_options,
        lp_fractional=plan.lp_fractional,
        branched_products=plan.branched_products,
        timings={
            "candidates": round(candidates, 4),
            **{k: round(v, 4) for k, v in plan.timings.items()},
        },
    )
    return recs, report


def _checked(items: pd.DataFrame) -> pd.DataFrame:
    """The items with a clean index; ValueError naming the first bad column."""
    missing = [c for c in ITEM_COLUMNS if c not in items.columns]
    if missing:
        raise ValueError(f"items lack column(s) {missing}")
    items = items[ITEM_COLUMNS].reset_index(drop=True)
    if items["product_id"].duplicated().any():
        raise ValueError("items must have one row per product_id")
    rules = {
        "current_price": lambda v: v > 0,
        "unit_cost": lambda v: v > 0,
        "baseline_units": lambda v: v >= 0,
        "elasticity": lambda v: v <= 0,
        "stock_on_hand": lambda v: v >= 0,
    }
    for column, ok in rules.items():
        values = items[column].astype(float)
        bad = ~(np.isfinite(values) & ok(values))
        if bad.any():
            raise ValueError(
                f"items.{column} invalid for {items.loc[bad, 'product_id'].head(5).tolist()}"
            )
    return items


def _options(items: pd.DataFrame, p: OptimiserParams) -> _Options:
    steps = np.unique(np.r_[0.0, np.asarray(p.price_ladder, dtype=float)])
    cur, cost, base, elasticity, stock = (
        items[c].to_numpy(float)[:, None]
        for c in ("current_price", "unit_cost", "baseline_units", "elasticity", "stock_on_hand")
    )
    raw = cur * (1 + steps)
    price = np.where(steps < 0, np.ceil(raw * 100 - 1e-6), np.floor(raw * 100 + 1e-6)) / 100
    price = np.where(steps == 0, cur, price)
    # a step is a duplicate when a smaller step of the same product gives the same price
    size = np.abs(steps)
    same = price[:, :, None] == price[:, None, :]
    distinct = ~(same & (size[None, :] < size[:, None])[None]).any(axis=2)
    units = np.minimum(base * (price / cur) ** elasticity, stock)
    # The plan is chosen as if every change drew a worse response than estimated: a markup as if
    # demand were more elastic by elasticity_caution, a markdown as if less elastic, i.e. units
    # × (new / current)^(−caution · sign of the change). A category's elasticity is uncertain and
    # its products spread around it, and a change that pays only at the point estimate loses
    # margin as often as it gains; keeping the price cannot be wrong by the estimate's error.
    # The reported expected units (and the independent check) stay those at the estimate.
    cautious = np.minimum(
        base
        * (price / cur) ** elasticity
        * np.exp(-p.elasticity_caution * np.abs(np.log(price / cur))),
        stock,
    )
    change, rate = price / cur - 1, (price - cost) / price
    return _Options(
        steps=steps,
        price=price,
        units=units,
        value={"margin": units * (price - cost), "revenue": units * price},
        score={"margin": cautious * (price - cost), "revenue": cautious * price},
        discount=np.maximum(cur - price, 0.0) * units,
        change=np.abs(price - cur) > 1e-9,
        price_change=change,
        distinct=distinct,
        admissible=distinct
        & (np.abs(change) <= p.max_price_change + _EPS)
        & (rate >= p.min_margin - _EPS),
        margin_rate=rate,
    )


def _raise_if_infeasible(items: pd.DataFrame, o: _Options, p: OptimiserParams) -> None:
    """Name every constraint clash, with products and numbers, before any solver runs.

    Only two clashes are possible. A product may have no ladder price that meets min_margin
    within max_price_change; and products whose current price breaks min_margin must change,
    possibly more of them than max_changes. The budget never clashes: margin rate rises with
    price, so a price below the floor is only rescued by a markup, which spends no discount.
    So each product's base option (no change, or else a markup) spends no discount, and the
    plan of base options is feasible whenever both checks pass.
    """
    ids = items["product_id"].to_numpy(object)
    conflicts = []
    stuck = np.flatnonzero(~o.admissible.any(axis=1))
    if len(stuck):
        within = o.distinct & (np.abs(o.price_change) <= p.max_price_change + _EPS)
        best = np.where(within, o.margin_rate, -np.inf).max(axis=1)
        conflicts.append(
            f"min_margin={p.min_margin} cannot be met within max_price_change={p.max_price_change} "
            f"on price_ladder={list(p.price_ladder)} by {len(stuck)} product(s): "
            + _names(
                f"{ids[r]} (best reachable margin {best[r]:.2f}, unit cost "
                f"{items.at[r, 'unit_cost']}, price {items.at[r, 'current_price']})"
                for r in stuck
            )
        )
    ok = o.admissible.any(axis=1)
    keeps = (o.admissible & ~o.change).any(axis=1)
    forced = np.flatnonzero(ok & ~keeps)
    if len(forced) > p.max_changes:
        conflicts.append(
            f"max_changes={p.max_changes} but {len(forced)} product(s) must change price because "
            f"their current margin is below min_margin={p.min_margin}: "
            + _names(f"{ids[r]} (margin {o.margin_rate[r, o.steps == 0][0]:.2f})" for r in forced)
        )
    if conflicts:
        raise InfeasibleError(conflicts)


def _names(entries, limit: int = 10) -> str:
    entries = list(entries)
    more = f" and {len(entries) - limit} more" if len(entries) > limit else ""
    return ", ".join(entries[:limit]) + more


def _result(items: pd.DataFrame, o: _Options, col: np.ndarray) -> pd.DataFrame:
    rows = np.arange(len(items))
    cur, cost = items["current_price"].to_numpy(float), items["unit_cost"].to_numpy(float)
    base, stock = items["baseline_units"].to_numpy(float), items["stock_on_hand"].to_numpy(float)
    new = o.price[rows, col]
    return pd.DataFrame(
        {
            "product_id": items["product_id"].to_numpy(object),
            "category": items["category"].to_numpy(object),
            "unit_cost": cost,
            "current_price": cur,
            "recommended_price": new,
            "price_change": new / cur - 1,
            "is_change": o.change[rows, col],
            "elasticity": items["elasticity"].to_numpy(float),
            "baseline_units": base,
            "stock_on_hand": stock,
            "expected_units": o.units[rows, col],
            "expected_revenue": o.value["revenue"][rows, col],
            "expected_margin": o.value["margin"][rows, col],
            "baseline_margin": np.minimum(base, stock) * (cur - cost),
            "discount_cost": o.discount[rows, col],
        }
    )


def _dtype(column: str) -> str:
    return {"product_id": "object", "category": "object", "is_change": "bool"}.get(
        column, "float64"
    )
