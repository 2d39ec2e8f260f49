"""An independent check of price recommendations: every constraint, recomputed from the columns.

It shares no code with the optimiser on purpose: it re-derives the ladder prices, the expected
units (constant elasticity, capped by stock), the money columns and the totals from the
recommendation frame and the parameters alone, so a bug in the optimiser cannot hide itself.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

# The columns of a price plan: what optimise_prices returns and this check reads.
RESULT_COLUMNS = [
    "product_id",
    "category",
    "unit_cost",
    "current_price",
    "recommended_price",
    "price_change",
    "is_change",
    "elasticity",
    "baseline_units",
    "stock_on_hand",
    "expected_units",
    "expected_revenue",
    "expected_margin",
    "baseline_margin",
    "discount_cost",
]


def check_recommendations(
    recs: pd.DataFrame, params, tol: float = 1e-6, product_ids: Iterable[str] | None = None
) -> list[str]:
    """Every constraint the frame breaks, one line each naming the product and the numbers.

    ``params`` is an OptimiserParams (read: price_ladder, max_price_change, min_margin,
    discount_budget, max_changes). With ``product_ids``, the frame must hold exactly one row
    for each of them. Checks: one row per product; positive prices; maximum change; minimum
    margin; the price is the current price or a ladder step rounded to cents toward it; the
    change flag; expected units = min(baseline × (new / current)^elasticity, stock on hand) and
    the revenue, margin, discount and baseline margin that follow; elasticity ≤ 0; the discount
    budget and the number of changes over the whole frame.
    """
    missing = sorted(set(RESULT_COLUMNS) - set(recs.columns))
    if missing:
        return [f"missing column(s): {', '.join(missing)}"]
    out: list[str] = []
    ids = recs["product_id"].astype(str).to_numpy()
    duplicated = sorted(set(ids[pd.Series(ids).duplicated().to_numpy()]))
    if duplicated:
        out.append(f"more than one row for product(s) {_few(duplicated)}")
    if product_ids is not None:
        wanted = {str(p) for p in product_ids}
        if absent := sorted(wanted - set(ids)):
            out.append(f"no recommendation for product(s) {_few(absent)}")
        if extra := sorted(set(ids) - wanted):
            out.append(f"recommendation(s) for product(s) not asked for: {_few(extra)}")

    numeric = [c for c in RESULT_COLUMNS if c not in ("product_id", "category", "is_change")]
    values = recs[numeric].apply(pd.to_numeric, errors="coerce").astype(float)
    unusable = values.isna().any(axis=1).to_numpy() | recs["is_change"].isna().to_numpy()
    for i in np.flatnonzero(unusable):
        out.append(f"product {ids[i]}: missing or non-numeric values")
    v = {c: values[c].to_numpy() for c in numeric}
    new, cur, cost = v["recommended_price"], v["current_price"], v["unit_cost"]
    bad_price = ~unusable & ~((new > 0) & (cur > 0) & (cost > 0))
    for i in np.flatnonzero(bad_price):
        out.append(
            f"product {ids[i]}: prices and cost must be > 0 (current {cur[i]}, "
            f"recommended {new[i]}, unit cost {cost[i]})"
        )
    ok = ~unusable & ~bad_price
    new, cur, cost, ids_ok = new[ok], cur[ok], cost[ok], ids[ok]
    change = new / cur - 1
    moved = np.abs(new - cur) > 1e-9
    flag = recs["is_change"].to_numpy()[ok].astype(bool)

    def report(mask: np.ndarray, message) -> None:
        out.extend(message(i) for i in np.flatnonzero(mask))

    report(
        np.abs(change) > params.max_price_change + tol,
        lambda i: (
            f"product {ids_ok[i]}: change {change[i]:+.4f} exceeds max_price_change={params.max_price_change}"
        ),
    )
    margin = (new - cost) / new
    report(
        margin < params.min_margin - tol,
        lambda i: (
            f"product {ids_ok[i]}: margin {margin[i]:.4f} < min_margin={params.min_margin} at price {new[i]}"
        ),
    )
    ladder = _ladder_prices(cur, params.price_ladder)
    on_ladder = ~moved | (np.abs(ladder - new[:, None]) <= 1e-9).any(axis=1)
    report(
        ~on_ladder,
        lambda i: (
            f"product {ids_ok[i]}: change {change[i]:+.4f} is not a ladder step of "
            f"{tuple(params.price_ladder)} (price {new[i]}; ladder prices from {cur[i]}: "
            f"{', '.join(f'{p:.2f}' for p in sorted(set(ladder[i])))})"
        ),
    )
    report(
        flag != moved,
        lambda i: f"product {ids_ok[i]}: is_change={flag[i]} but price moves {cur[i]} -> {new[i]}",
    )

    base, stock, el = (v[c][ok] for c in ("baseline_units", "stock_on_hand", "elasticity"))
    units = v["expected_units"][ok]
    report(el > tol, lambda i: f"product {ids_ok[i]}: elasticity {el[i]} > 0")
    report(
        units > stock + tol * np.maximum(1.0, stock),
        lambda i: f"product {ids_ok[i]}: expected_units={units[i]} exceed stock_on_hand={stock[i]}",
    )
    expected_units = np.minimum(base * (new / cur) ** el, stock)
    expected = {
        "price_change": change,
        "expected_units": expected_units,
        "expected_revenue": units * new,
        "expected_margin": units * (new - cost),
        "discount_cost": np.maximum(cur - new, 0.0) * units,
        "baseline_margin": np.minimum(base, stock) * (cur - cost),
    }
    for column, want in expected.items():
        have = v[column][ok]
        report(
            np.abs(have - want) > tol * np.maximum(1.0, np.abs(want)),
            lambda i, have=have, want=want, column=column: (
                f"product {ids_ok[i]}: {column}={have[i]} but recomputed {want[i]}"
            ),
        )

    if moved.sum() > params.max_changes:
        out.append(f"{int(moved.sum())} price changes exceed max_changes={params.max_changes}")
    spent = float((np.maximum(cur - new, 0.0) * units).sum())
    if spent > params.discount_budget + tol * max(1.0, abs(params.discount_budget)):
        out.append(f"discount spent {spent:.2f} exceeds discount_budget={params.discount_budget}")
    return out


def _ladder_prices(current: np.ndarray, ladder) -> np.ndarray:
    """products × steps: each step's price, rounded to cents toward the current price."""
    steps = np.asarray(ladder, dtype=float)
    raw = current[:, None] * (1 + steps)
    down = np.ceil(np.round(raw * 100, 6)) / 100
    up = np.floor(np.round(raw * 100, 6)) / 100
    return np.where(steps < 0, down, up)


def _few(items: list[str], limit: int = 10) -> str:
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more
