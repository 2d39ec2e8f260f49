"""Optimiser benchmark: 5,000 and 50,000 products, shelfcast's solver next to a plain MILP.

Synthetic but realistic items (prices 1-20 log-uniform, unit cost 45-75 % of price, horizon
demand log-normal around 60 units, elasticities around -1.6, stock 0.8-3x demand) and the
default ladder, maximum change and margin floor. The discount budget is 30 % of what the
unconstrained plan would spend and max_changes half of its changes, so both limits bind.

For each size it times ``optimise_prices`` (median of the runs), reports its route, certified
gap and the violations found by the independent ``check_recommendations``, and in the same run
a *plain* MILP: one binary per admissible candidate, one equality row per product, HiGHS's
branch and bound with presolve off and mip_rel_gap 1e-4 (the formulation shelfcast used
before). Writes benchmarks/results/optimiser.json and its section of benchmarks/README.md.

    python benchmarks/optimiser.py            # 3 runs each; the plain MILP 3x at 5,000, 1x at 50,000
    python benchmarks/optimiser.py --quick    # 1 run each; the plain MILP only at 5,000
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import scipy
import scipy.sparse as sp
import yaml
from scipy.optimize import Bounds, LinearConstraint, milp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _sections import write_section  # noqa: E402

from shelfcast.core.optimiser import OptimiserParams, candidate_prices, optimise_prices  # noqa: E402
from shelfcast.core.optimiser_check import check_recommendations  # noqa: E402

NAME = "optimiser"
TARGET_SECONDS = {5_000: 1.0, 50_000: 5.0}
TARGET_GAP = 1e-4
PLAIN_TIME_LIMIT = 120.0


def synthetic_items(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    price = np.round(np.exp(rng.uniform(np.log(1.0), np.log(20.0), n)), 2)
    base = rng.lognormal(np.log(60.0), 1.0, n)
    return pd.DataFrame(
        {
            "product_id": [f"P{i:06d}" for i in range(n)],
            "category": rng.choice(["Snacks", "Dairy", "Household", "Frozen"], n),
            "current_price": price,
            "unit_cost": np.round(price * rng.uniform(0.45, 0.75, n), 2),
            "baseline_units": base,
            "elasticity": np.clip(rng.normal(-1.6, 0.5, n), -3.2, -0.4),
            "stock_on_hand": np.round(base * rng.uniform(0.8, 3.0, n)),
        }
    )


def binding_params(items: pd.DataFrame) -> OptimiserParams:
    defaults = yaml.safe_load((ROOT / "configs" / "defaults.yaml").read_text())["optimiser"]
    params = OptimiserParams(
        **{
            **defaults,
            "price_ladder": tuple(defaults["price_ladder"]),
            "discount_budget": 1e12,
            "max_changes": len(items),
        }
    )
    free, _ = optimise_prices(items, params)
    return dataclasses.replace(
        params,
        discount_budget=round(0.3 * float(free["discount_cost"].sum()), 2),
        max_changes=int(0.5 * free["is_change"].sum()),
    )


def plain_milp(items: pd.DataFrame, params: OptimiserParams) -> tuple[pd.DataFrame, dict]:
    """The textbook model: x[product, candidate] binary, Σ x = 1 per product, two side rows."""
    start = time.perf_counter()
    cands = candidate_prices(items, params)
    options = cands.loc[cands["admissible"]].assign(size=lambda f: f["option"].abs())
    # the same dominance pruning shelfcast used before (an option beaten on every count goes)
    options = options.sort_values(
        ["row", "is_change", "discount_cost", params.objective, "size", "price"],
        ascending=[True, True, True, False, True, True],
        kind="stable",
    )
    best_before = options.groupby("row")[params.objective].cummax().groupby(options["row"]).shift()
    options = options.loc[
        best_before.isna()
        | (options[params.objective] > best_before + 1e-9 * best_before.abs().clip(lower=1))
    ]
    options = options.reset_index(drop=True)
    n, m = len(items), len(options)
    a = sp.vstack(
        [
            sp.csr_array((np.ones(m), (options["row"].to_numpy(), np.arange(m))), shape=(n, m)),
            sp.csr_array(options[["discount_cost", "is_change"]].to_numpy(float).T),
        ]
    ).tocsr()
    res = milp(
        -options[params.objective].to_numpy(),
        integrality=np.ones(m),
        bounds=Bounds(0, 1),
        constraints=LinearConstraint(
            a,
            np.r_[np.ones(n), -np.inf, -np.inf],
            np.r_[np.ones(n), params.discount_budget, params.max_changes],
        ),
        options={"mip_rel_gap": TARGET_GAP, "presolve": False, "time_limit": PLAIN_TIME_LIMIT},
    )
    seconds = time.perf_counter() - start
    chosen = (
        options.loc[res.x > 0.5].set_index("row").reindex(range(n)) if res.x is not None else None
    )
    if chosen is None or chosen["price"].isna().any():
        return pd.DataFrame(), {"seconds": seconds, "status": res.message, "solved": False}
    cur, cost = items["current_price"].to_numpy(), items["unit_cost"].to_numpy()
    recs = items.assign(
        recommended_price=chosen["price"].to_numpy(),
        price_change=chosen["price"].to_numpy() / cur - 1,
        is_change=chosen["is_change"].to_numpy(bool),
        expected_units=chosen["units"].to_numpy(),
        expected_revenue=chosen["revenue"].to_numpy(),
        expected_margin=chosen["margin"].to_numpy(),
        baseline_margin=np.minimum(items["baseline_units"], items["stock_on_hand"]) * (cur - cost),
        discount_cost=chosen["discount_cost"].to_numpy(),
    )
    value = float(options.loc[res.x > 0.5, params.objective].sum())
    return recs, {
        "seconds": seconds,
        "status": "optimal" if res.status == 0 else "time_limit",
        "solved": True,
        "objective": value,
        "gap": float(getattr(res, "mip_gap", np.nan)),
        "discount_spent": float(recs["discount_cost"].sum()),
        "over_budget": bool(recs["discount_cost"].sum() > params.discount_budget + 1e-6),
    }


def measure(n: int, runs: int, plain_runs: int) -> dict:
    items = synthetic_items(n)
    params = binding_params(items)
    ours = []
    for _ in range(runs):
        recs, report = optimise_prices(items, params)
        ours.append((report, check_recommendations(recs, params, product_ids=items["product_id"])))
    report, violations = ours[len(ours) // 2]
    plain = []
    for _ in range(plain_runs):
        plain_recs, facts = plain_milp(items, params)
        facts["violations"] = (
            len(check_recommendations(plain_recs, params)) if facts["solved"] else None
        )
        plain.append(facts)
    seconds = statistics.median(r.seconds for r, _ in ours)
    result = {
        "products": n,
        "params": {k: v for k, v in dataclasses.asdict(params).items()},
        "shelfcast": {
            "seconds_median": round(seconds, 3),
            "seconds_runs": [round(r.seconds, 3) for r, _ in ours],
            "method": report.method,
            "status": report.status,
            "objective": round(report.objective_value, 2),
            "best_bound": round(report.best_bound, 2),
            "gap": report.gap,
            "violations": max(len(v) for _, v in ours),
            "lp_fractional_products": report.lp_fractional,
            "options_after_pruning": report.n_options,
            "changes": report.n_changes,
            "discount_spent": round(report.discount_spent, 2),
            "timings": report.timings,
        },
        "plain_milp": {
            "runs": len(plain),
            "seconds_median": round(statistics.median(p["seconds"] for p in plain), 3)
            if plain
            else None,
            **(
                {k: v for k, v in plain[len(plain) // 2].items() if k != "seconds"} if plain else {}
            ),
        },
        "targets": {"seconds": TARGET_SECONDS[n], "gap": TARGET_GAP, "violations": 0},
    }
    result["meets_targets"] = bool(
        seconds <= TARGET_SECONDS[n]
        and report.gap <= TARGET_GAP
        and result["shelfcast"]["violations"] == 0
    )
    if plain:
        result["speedup_vs_plain_milp"] = round(result["plain_milp"]["seconds_median"] / seconds, 1)
        if result["plain_milp"].get("solved"):
            theirs = result["plain_milp"]["objective"]
            result["objective_vs_plain_milp"] = (report.objective_value - theirs) / abs(theirs)
    return result


def machine() -> dict:
    try:
        from scipy.optimize._highspy import _core

        highs = (
            f"{_core.HIGHS_VERSION_MAJOR}.{_core.HIGHS_VERSION_MINOR}.{_core.HIGHS_VERSION_PATCH}"
        )
    except (ImportError, AttributeError):
        highs = "unknown"
    cpu = platform.processor()
    with contextlib.suppress(OSError, StopIteration):
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        cpu = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "load_average_1m_at_start": round(os.getloadavg()[0], 2),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scipy": scipy.__version__,
        "highs": highs,
    }


def table(results: dict) -> str:
    rows = [
        "| products | shelfcast s (median) | target s | route | certified gap | violations "
        "| plain MILP s | plain MILP outcome | speed-up |",
        "|---:|---:|---:|---|---:|---:|---:|---|---:|",
    ]
    for r in results["sizes"]:
        ours, plain = r["shelfcast"], r["plain_milp"]
        if plain.get("runs"):
            outcome = plain["status"]
            if plain["solved"]:
                outcome += (
                    f", gap {plain['gap']:.2g}; shelfcast's plan is "
                    f"{r['objective_vs_plain_milp']:+.1e} relative to its objective"
                )
            if plain.get("over_budget"):
                outcome += ", over budget"
            if plain.get("violations"):
                outcome += f", {plain['violations']} violations"
            plain_s, speedup = f"{plain['seconds_median']:.2f}", f"{r['speedup_vs_plain_milp']}x"
        else:
            outcome, plain_s, speedup = "not run (--quick)", "-", "-"
        rows.append(
            f"| {r['products']:,} | {ours['seconds_median']:.2f} | {r['targets']['seconds']:.0f} "
            f"| {ours['method']} ({ours['lp_fractional_products']} fractional) | {ours['gap']:.1e} "
            f"| {ours['violations']} | {plain_s} | {outcome} | {speedup} |"
        )
    m = results["machine"]
    return "\n".join(
        [
            "## Optimiser: seconds, certified gap and violations at 5,000 and 50,000 products",
            "",
            f"`python benchmarks/optimiser.py{' --quick' if results['quick'] else ''}` on {m['cpu']} "
            f"({m['cpus']} CPUs, load average {m['load_average_1m_at_start']} at the start), Python {m['python']}, scipy {m['scipy']} (HiGHS {m['highs']}), {m['date'][:10]}. "
            "Targets: 5,000 products in ≤ 1 s and 50,000 in ≤ 5 s with a certified gap ≤ 0.01 % and no violation "
            "(violations counted by the independent `check_recommendations`). The plain MILP is one binary "
            f"per admissible candidate with an equality row per product, presolve off, time limit {PLAIN_TIME_LIMIT:.0f} s; "
            "shelfcast solves the LP on increments, repairs the fractional products and certifies the plan "
            "with the Lagrangian bound at the LP duals (branch and bound only when that gap is too wide).",
            "",
            *rows,
            "",
            f"All targets met: **{'yes' if all(r['meets_targets'] for r in results['sizes']) else 'no'}**. "
            "Raw numbers: `benchmarks/results/optimiser.json`.",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="one run per size; plain MILP only at 5,000"
    )
    args = parser.parse_args()
    facts = machine()  # before the work, so the load average is the background load
    runs = 1 if args.quick else 3
    sizes = []
    for n in (5_000, 50_000):
        plain_runs = (1 if args.quick else 3) if n == 5_000 else (0 if args.quick else 1)
        print(f"{n:,} products ...", flush=True)
        sizes.append(measure(n, runs, plain_runs))
        ours = sizes[-1]["shelfcast"]
        print(
            f"  shelfcast {ours['seconds_median']:.2f} s, {ours['method']}, gap {ours['gap']:.1e}, "
            f"violations {ours['violations']}; plain MILP {sizes[-1]['plain_milp']}",
            flush=True,
        )
    results = {"name": NAME, "quick": args.quick, "machine": facts, "sizes": sizes}
    out = ROOT / "benchmarks" / "results" / f"{NAME}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=float) + "\n")
    write_section(NAME, table(results))
    print(f"wrote {out.relative_to(ROOT)} and benchmarks/README.md")


if __name__ == "__main__":
    main()
