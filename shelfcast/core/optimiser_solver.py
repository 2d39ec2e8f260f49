"""The optimiser's engine: a multiple-choice knapsack with two side constraints, on numpy arrays.

Every product picks one of its options; the options together may spend at most ``budget`` of
discount and make at most ``max_changes`` changes. The LP relaxation is nearly integral (a basic
optimum leaves at most two products fractional: there are two coupling rows), so:

1. **LP and repair.** HiGHS solves the LP; integral products keep their option, the fractional
   ones get their best feasible combination, and a greedy pass (single switches, then pairs of
   switches that trade one product's slack for another's gain) spends what is left.
2. **Certificate.** The bound is the Lagrangian bound at the LP's duals λ, μ:
   ``λ·budget + μ·max_changes + Σ_products max_options (value − λ·discount − μ·change)``. It
   bounds *every* feasible plan for any λ, μ ≥ 0 (weak duality), is recomputed here from every
   option, and equals the LP optimum at the LP's duals, so it does not rest on solver tolerances.
3. **Branch and bound when the gap is too wide** (small problems, where one product is a visible
   share of the objective). Reduced-cost fixing first drops every option that cannot be part of
   a plan better than the one in hand — an option's bound is the Lagrangian bound minus its
   deficit in reduced value — so HiGHS branches only over the few products still in play.

Options are modelled as increments over each product's base option (its first: no change, or
else the least discount), so the base plan is x = 0 and a product with two options needs no
constraint row at all. HiGHS's presolve is off: on this structure it spent 9 of 10 seconds on
20,000 products and removed nothing the Pareto pruning had not.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

_EPS = 1e-9
_ENUMERATE = 20_000  # repair fractional products exactly up to this many combinations


@dataclass
class Solution:
    column: np.ndarray  # chosen option (column of the candidate arrays) per product
    value: float
    bound: float  # proven upper bound on the value of any feasible plan
    gap: float  # (bound − value) / max(|bound|, 1)
    status: str  # optimal (gap within tolerance) or time_limit
    method: str  # lp_repair or milp
    n_options: int  # options left after Pareto pruning
    lp_fractional: int = 0  # products the LP left between two options
    branched_products: int = 0  # products still in play after reduced-cost fixing
    timings: dict = field(default_factory=dict)


def gap(bound: float, value: float) -> float:
    return max(bound - value, 0.0) / max(abs(bound), 1.0)


def solve(
    value: np.ndarray,
    discount: np.ndarray,
    change: np.ndarray,
    admissible: np.ndarray,
    preference: tuple[np.ndarray, ...],
    budget: float,
    max_changes: int,
    rel_gap: float,
    time_limit: float,
    method: str = "auto",
) -> Solution:
    """The best plan: products × options arrays in, one column per product out.

    Every product must have an admissible option, and the plan of base options must fit (the
    caller's feasibility check). ``preference`` breaks exact ties, most significant last
    (e.g. (price, size of the change)): the smaller wins. ``method`` "milp" skips the LP route.
    """
    if method not in ("auto", "milp"):
        raise ValueError(f"method must be 'auto' or 'milp', got {method!r}")
    start = time.perf_counter()
    model = _Model.build(value, discount, change, admissible, preference, budget, max_changes)
    timings = {"model": time.perf_counter() - start}

    def done(choice, bound, status, how, **extra) -> Solution:
        total = model.total(choice)
        certified = gap(bound, total)
        return Solution(
            model.col[choice],
            total,
            bound,
            certified,
            "optimal" if certified <= rel_gap else status,
            how,
            len(model.v),
            timings=timings,
            **extra,
        )

    if method == "milp":
        choice, bound, status = model.branch_and_bound(rel_gap, time_limit)
        timings["milp"] = time.perf_counter() - start - timings["model"]
        return done(choice, bound, status, "milp")
    choice, bound, duals, fractional = model.lp_repair(rel_gap)
    timings["lp_repair"] = time.perf_counter() - start - timings["model"]
    incumbent = model.total(choice)
    if gap(bound, incumbent) <= rel_gap:
        return done(choice, bound, "optimal", "lp_repair", lp_fractional=fractional)
    kept = model.could_beat(incumbent, bound, *duals)
    sub = model.subset(kept)
    target = rel_gap * max(abs(bound), 1.0) / max(abs(bound - sub.total(sub.base)), 1.0)
    remaining = max(time_limit - (time.perf_counter() - start), 0.1)
    sub_choice, sub_bound, status = sub.branch_and_bound(min(0.5 * target, 0.5), remaining)
    candidate = np.flatnonzero(kept)[sub_choice]
    if model.total(candidate) > incumbent and min(model.slack(candidate)) >= 0:
        choice = candidate
    # plans using a dropped option are worth less than the incumbent: sub_bound covers the rest
    bound = min(bound, max(sub_bound, incumbent))
    timings["milp"] = time.perf_counter() - start - sum(timings.values())
    return done(
        choice,
        bound,
        status,
        "milp",
        lp_fractional=fractional,
        branched_products=int((np.bincount(model.row[kept], minlength=model.n) >= 2).sum()),
    )


@dataclass
class _Model:
    """Pruned options in flat arrays, grouped by product, each group ordered base first.

    Option ``j`` belongs to product ``row[j]`` and sits in column ``col[j]`` of the inputs;
    ``base[r]`` is product ``r``'s base option and ``choice`` arrays index options by product.
    """

    n: int
    row: np.ndarray
    col: np.ndarray
    v: np.ndarray
    d: np.ndarray
    c: np.ndarray
    budget: float
    max_changes: float

    @classmethod
    def build(cls, value, discount, change, admissible, preference, budget, max_changes) -> _Model:
        """Keep, per product, the options no other option beats on value, discount and change
        at once; among exact ties the preferred one (no change first, then ``preference``)."""
        n = len(value)
        order = np.lexsort((*preference, -value, discount, change, ~admissible), axis=1)
        v_sorted = np.take_along_axis(np.where(admissible, value, -np.inf), order, axis=1)
        before = np.maximum.accumulate(v_sorted, axis=1)
        before = np.c_[np.full(n, -np.inf), before[:, :-1]]
        margin = 1e-9 * np.maximum(1.0, np.abs(np.where(np.isfinite(before), before, 0.0)))
        row, pos = np.nonzero(np.isfinite(v_sorted) & (v_sorted > before + margin))
        col = order[row, pos]
        return cls(
            n,
            row,
            col,
            value[row, col],
            discount[row, col],
            change[row, col].astype(float),
            float(budget),
            float(max_changes),
        )

    @property
    def base(self) -> np.ndarray:
        return np.flatnonzero(np.r_[True, self.row[1:] != self.row[:-1]])

    def subset(self, keep: np.ndarray) -> _Model:
        return _Model(
            self.n,
            self.row[keep],
            self.col[keep],
            self.v[keep],
            self.d[keep],
            self.c[keep],
            self.budget,
            self.max_changes,
        )

    def total(self, choice: np.ndarray) -> float:
        return float(self.v[choice].sum())

    def slack(self, choice: np.ndarray) -> tuple[float, float]:
        return self.budget - float(self.d[choice].sum()), self.max_changes - float(
            self.c[choice].sum()
        )

    def _increments(self):
        """Non-base options, their value over the base, and the constraint rows of the LP/MIP:
        discount, changes, and Σ x ≤ 1 for products with two or more non-base options."""
        base = self.base
        extra = np.ones(len(self.v), bool)
        extra[base] = False
        j = np.flatnonzero(extra)
        b = base[self.row[j]]
        dv, dd, dc = self.v[j] - self.v[b], self.d[j] - self.d[b], self.c[j] - self.c[b]
        several = np.bincount(self.row[j], minlength=self.n)[self.row[j]] >= 2
        group = np.unique(self.row[j][several], return_inverse=True)[1]
        a = sp.vstack(
            [
                sp.csr_array(np.vstack([dd, dc])),
                sp.csr_array(
                    (np.ones(several.sum()), (group, np.flatnonzero(several))),
                    shape=(group.max(initial=-1) + 1, len(j)),
                ),
            ]
        ).tocsr()
        rhs = np.r_[self.slack(base), np.ones(a.shape[0] - 2)]
        return j, dv, a, rhs

    def lp_repair(self, rel_gap: float) -> tuple[np.ndarray, float, tuple[float, float], int]:
        """A plan from the LP optimum, the Lagrangian bound, the duals, # fractional products."""
        choice = self.base.copy()
        j, dv, a, rhs = self._increments()
        if len(j) == 0:
            return choice, self.total(choice), (0.0, 0.0), 0
        res = linprog(
            -dv, A_ub=a, b_ub=rhs, bounds=(0, 1), method="highs-ipm", options={"presolve": False}
        )
        if res.x is None:  # numerical trouble: no certificate, branch and bound decides
            return choice, math.inf, (0.0, 0.0), 0
        duals = tuple(np.maximum(-np.asarray(res.ineqlin.marginals[:2]), 0.0).tolist())
        x = res.x
        taken = x > 1 - 1e-6
        choice[self.row[j[taken]]] = j[taken]
        fractional = np.unique(self.row[j[(x > 1e-6) & (x < 1 - 1e-6)]])
        choice[fractional] = self.base[fractional]
        choice = self._improve(self._repair(self._feasible(choice), fractional))
        bound = self.lagrangian_bound(*duals)
        if gap(bound, self.total(choice)) > rel_gap:
            choice = self._exchange(choice)
        return choice, bound, duals, len(fractional)

    def _reduced(self, lam: float, mu: float) -> tuple[np.ndarray, np.ndarray]:
        reduced = self.v - lam * self.d - mu * self.c
        best = np.full(self.n, -np.inf)
        np.maximum.at(best, self.row, reduced)
        return reduced, best

    def lagrangian_bound(self, lam: float, mu: float) -> float:
        """λ·budget + μ·max_changes + Σ max over options of (value − λ·discount − μ·change)."""
        _, best = self._reduced(lam, mu)
        return float(best.sum() + lam * self.budget + mu * self.max_changes)

    def could_beat(self, incumbent: float, bound: float, lam: float, mu: float) -> np.ndarray:
        """Options some plan worth at least ``incumbent`` may use (reduced-cost fixing): a plan
        choosing option j is worth at most ``bound`` minus j's shortfall in reduced value."""
        reduced, best = self._reduced(lam, mu)
        return bound - (best[self.row] - reduced) >= incumbent - 1e-9 * max(1.0, abs(incumbent))

    def _feasible(self, choice: np.ndarray) -> np.ndarray:
        """Set products back to base, cheapest loss first, while a solver's tolerance left the
        plan a hair over the budget or the change limit."""
        base = self.base
        moved = np.flatnonzero(choice != base)
        for r in moved[np.argsort(self.v[choice[moved]] - self.v[base[moved]], kind="stable")]:
            if min(self.slack(choice)) >= 0:
                break
            choice[r] = base[r]
        return choice

    def _repair(self, choice: np.ndarray, fractional: np.ndarray) -> np.ndarray:
        """The best feasible options of the fractional products, all else fixed (exact when the
        combinations are few; otherwise they stay at base and the greedy passes follow)."""
        per = [np.flatnonzero(self.row == r) for r in fractional]
        if not per or math.prod(len(x) for x in per) > _ENUMERATE:
            return choice
        slack_d, slack_c = self.slack(choice)
        now_d, now_c = self.d[choice[fractional]].sum(), self.c[choice[fractional]].sum()
        best, best_value = choice[fractional], self.v[choice[fractional]].sum()
        for combo in map(np.array, itertools.product(*per)):
            if (
                self.d[combo].sum() - now_d <= slack_d + _EPS
                and self.c[combo].sum() - now_c <= slack_c + _EPS
                and self.v[combo].sum() > best_value
            ):
                best, best_value = combo, self.v[combo].sum()
        choice[fractional] = best
        return choice

    def _moves(self, choice: np.ndarray):
        now = choice[self.row]
        return self.v - self.v[now], self.d - self.d[now], self.c - self.c[now]

    def _improve(self, choice: np.ndarray, rounds: int = 100) -> np.ndarray:
        """Repeatedly take the single switch that adds most value and still fits."""
        for _ in range(rounds):
            slack_d, slack_c = self.slack(choice)
            dv, dd, dc = self._moves(choice)
            dv = np.where((dd <= slack_d + _EPS) & (dc <= slack_c + _EPS), dv, 0.0)
            best = int(np.argmax(dv))
            if dv[best] <= 1e-9 * max(1.0, abs(self.total(choice))):
                break
            choice[self.row[best]] = best
        return choice

    def _exchange(self, choice: np.ndarray, rounds: int = 20, candidates: int = 40) -> np.ndarray:
        """Pairs of switches: give up a little value on one product to free budget or a change,
        and spend it on another product's larger gain."""
        for _ in range(rounds):
            slack_d, slack_c = self.slack(choice)
            dv, dd, dc = self._moves(choice)
            freeing = np.flatnonzero(((dc < 0) | (dd < -_EPS)) & (dv <= 0))
            freeing = freeing[np.argsort(-dv[freeing], kind="stable")[:candidates]]
            gaining = np.flatnonzero(dv > 0)
            best, pair = 1e-9 * max(1.0, abs(self.total(choice))), None
            for f in freeing:
                fits = (
                    (dd[gaining] <= slack_d - dd[f] + _EPS)
                    & (dc[gaining] <= slack_c - dc[f] + _EPS)
                    & (self.row[gaining] != self.row[f])
                )
                if fits.any():
                    g = gaining[fits][np.argmax(dv[gaining][fits])]
                    if dv[g] + dv[f] > best:
                        best, pair = dv[g] + dv[f], (f, g)
            if pair is None:
                break
            for option in pair:
                choice[self.row[option]] = option
            choice = self._improve(choice)
        return choice

    def branch_and_bound(self, rel_gap: float, time_limit: float) -> tuple[np.ndarray, float, str]:
        """HiGHS's branch and bound on the increments: plan, upper bound, status."""
        choice = self.base.copy()
        j, dv, a, rhs = self._increments()
        if len(j) == 0:
            return choice, self.total(choice), "optimal"
        res = milp(
            -dv,
            constraints=LinearConstraint(a, -np.inf, rhs),
            integrality=np.ones(len(j)),
            bounds=Bounds(0, 1),
            options={"mip_rel_gap": rel_gap, "presolve": False, "time_limit": time_limit},
        )
        if res.x is None:  # stopped before any plan: the base plan is feasible
            return choice, math.inf, "time_limit"
        taken = res.x > 0.5
        choice[self.row[j[taken]]] = j[taken]
        bound = self.total(self.base) - float(getattr(res, "mip_dual_bound", -math.inf))
        status = "optimal" if res.status == 0 else "time_limit"
        return self._improve(self._feasible(choice)), bound, status
