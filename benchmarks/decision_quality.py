"""Decision quality: does acting on shelfcast's prices earn more than doing nothing, or than a
naive markdown rule, when judged by the *true* demand of the demo generator?

For each market and month it runs the real core steps on generated data, exactly as the
pipeline's assets do: clean the drops, flag underperformers (13 months of sales), forecast
their demand (24 months), estimate elasticities (24 months) and optimise prices with the
versioned parameters (configs/defaults.yaml plus the market's overlay). Then it simulates the
next month with the generator's noise-free demand model (`expected_units`: trend, seasonality,
true per-product elasticity, no promotions) over the forecast horizon, for three plans:

- **do nothing**: every flagged product keeps its price;
- **shelfcast**: the recommended prices;
- **naive rule**: every flagged product marked down 20 %, whatever the constraints.

True margin = Σ min(true expected units over the horizon, stock on hand) × (price − unit cost)
over the flagged products (the others are priced the same in all three plans). Writes
benchmarks/results/decision_quality.json and its section of benchmarks/README.md.

    python benchmarks/decision_quality.py           # 4 markets × 4 months; US with 2,000 products
    python benchmarks/decision_quality.py --quick   # US × 2 months
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import scipy

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _sections import write_section  # noqa: E402

from shelfcast.core.cleaning import clean_products, clean_sales  # noqa: E402
from shelfcast.core.demo_data import GeneratorSpec, expected_units, generate  # noqa: E402
from shelfcast.core.elasticity import estimate_elasticity  # noqa: E402
from shelfcast.core.forecast import get_forecaster  # noqa: E402
from shelfcast.core.optimiser import optimise_prices  # noqa: E402
from shelfcast.core.optimiser_check import check_recommendations  # noqa: E402
from shelfcast.core.performance import assess_performance  # noqa: E402
from shelfcast.pipeline.params import PipelineParams, RunParams  # noqa: E402
from shelfcast.pipeline.resources import Locations  # noqa: E402

NAME = "decision_quality"
NAIVE_MARKDOWN = 0.20
MONTHS = ["2024-03", "2024-06", "2024-09", "2024-11"]


def drops_for(spec: GeneratorSpec, market: str) -> dict:
    """Cleaned sales and products per month of one market."""
    currency = {m.code: m.currency for m in spec.markets}[market]
    out = {}
    for drop in generate(spec.with_size(markets=[market])):
        out[drop.month] = (
            clean_sales(drop.sales, market, drop.month),
            clean_products(drop.products, market, drop.month, currency),
        )
    return out


def window(drops: dict, month: str, months: int) -> pd.DataFrame:
    periods = pd.period_range(pd.Period(month, "M") - (months - 1), pd.Period(month, "M"), freq="M")
    return pd.concat([drops[str(p)][0] for p in periods if str(p) in drops], ignore_index=True)


def decide(drops: dict, market: str, month: str, run: RunParams) -> dict:
    """The pipeline's decision for one partition, step by step through the core functions."""
    started = time.perf_counter()
    products = drops[month][1]
    performance = assess_performance(window(drops, month, 13), products, month, run.performance)
    flagged = performance.loc[performance["is_underperforming"], "product_id"]
    history = window(drops, month, run.forecast.history_months)
    series = history.loc[history["product_id"].isin(flagged), ["product_id", "date", "units"]]
    forecast = get_forecaster(run.forecast.model).fit_predict(series, run.forecast.horizon_days)
    elasticity = estimate_elasticity(window(drops, month, 24), products, run.elasticity)
    baseline = forecast.groupby("product_id")["units_forecast"].sum()
    items = (
        products.loc[products["product_id"].isin(flagged)]
        .merge(elasticity[["product_id", "elasticity"]], on="product_id")
        .assign(baseline_units=lambda f: f["product_id"].map(baseline).fillna(0.0))
        .rename(columns={"price": "current_price"})
    )
    params = run.optimiser
    recs, report = optimise_prices(items, params)
    return {
        "recs": recs,
        "report": report,
        "products": len(products),
        "params": params,
        "seconds": time.perf_counter() - started,
    }


def true_margin(spec, market: str, month: str, recs: pd.DataFrame, multiplier, days: int) -> dict:
    """Σ min(true expected units over the horizon, stock) × (price − cost) of a price plan."""
    start = (pd.Period(month, "M") + 1).start_time.date()
    ids = recs["product_id"].to_numpy()
    demand = expected_units(spec, market, ids, start, days, np.asarray(multiplier, float))
    units = demand.groupby("product_id", sort=False)["expected_units"].sum().reindex(ids).to_numpy()
    sold = np.minimum(units, recs["stock_on_hand"].to_numpy())
    price = recs["current_price"].to_numpy() * np.asarray(multiplier, float)
    return {
        "margin": float((sold * (price - recs["unit_cost"].to_numpy())).sum()),
        "revenue": float((sold * price).sum()),
        "units": float(sold.sum()),
    }


def evaluate(spec: GeneratorSpec, market: str, month: str, drops: dict, patches: list[str]) -> dict:
    run = PipelineParams(patches=patches, deployment=Locations()).check(market, month)
    decision = decide(drops, market, month, run)
    recs, report = decision["recs"], decision["report"]
    days = run.forecast.horizon_days
    shelfcast_multiplier = (recs["recommended_price"] / recs["current_price"]).to_numpy()
    plans = {
        "do_nothing": true_margin(spec, market, month, recs, np.ones(len(recs)), days),
        "shelfcast": true_margin(spec, market, month, recs, shelfcast_multiplier, days),
        "naive_markdown_20": true_margin(
            spec, market, month, recs, np.full(len(recs), 1 - NAIVE_MARKDOWN), days
        ),
    }
    nothing, ours, naive = (
        plans[k]["margin"] for k in ("do_nothing", "shelfcast", "naive_markdown_20")
    )
    true_baseline = plans["do_nothing"]["units"]
    return {
        "market": market,
        "month": month,
        "patches": patches,
        "products": decision["products"],
        "flagged": len(recs),
        "price_changes": int(recs["is_change"].sum()),
        "markdowns": int((recs["price_change"] < 0).sum()),
        "markups": int((recs["price_change"] > 0).sum()),
        "true_margin": {k: round(v["margin"], 2) for k, v in plans.items()},
        "uplift_vs_do_nothing": round(ours - nothing, 2),
        "uplift_vs_do_nothing_pct": round(100 * (ours - nothing) / abs(nothing), 3)
        if nothing
        else None,
        "uplift_vs_naive": round(ours - naive, 2),
        "naive_vs_do_nothing": round(naive - nothing, 2),
        "predicted_uplift": round(
            float((recs["expected_margin"] - recs["baseline_margin"]).sum()), 2
        ),
        "forecast_units_vs_true": round(
            float(np.minimum(recs["baseline_units"], recs["stock_on_hand"]).sum()) / true_baseline,
            3,
        )
        if true_baseline
        else None,
        "violations": len(
            check_recommendations(recs, decision["params"], product_ids=recs["product_id"])
        ),
        "discount_spent": round(report.discount_spent, 2),
        "discount_budget": decision["params"].discount_budget,
        "max_changes": decision["params"].max_changes,
        "solver": {"method": report.method, "gap": report.gap, "seconds": round(report.seconds, 3)},
        "beats_do_nothing": bool(ours > nothing),
        "beats_naive": bool(ours > naive),
        "seconds": round(decision["seconds"], 2),
    }


def machine() -> dict:
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
    }


def table(results: dict) -> str:
    rows = [
        "| market | products | month | flagged | max changes | changes (down/up) | do nothing | shelfcast "
        "| naive −20 % | uplift vs nothing | uplift vs naive | predicted uplift | violations |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["cases"]:
        m = r["true_margin"]
        rows.append(
            f"| {r['market']} | {r['products']:,} | {r['month']} | {r['flagged']} | {r['max_changes']} "
            f"| {r['price_changes']} "
            f"({r['markdowns']}/{r['markups']}) | {m['do_nothing']:,.0f} | {m['shelfcast']:,.0f} "
            f"| {m['naive_markdown_20']:,.0f} | {r['uplift_vs_do_nothing']:+,.0f} "
            f"({r['uplift_vs_do_nothing_pct']:+.1f} %) | {r['uplift_vs_naive']:+,.0f} "
            f"| {r['predicted_uplift']:+,.0f} | {r['violations']} |"
        )
    cases = results["cases"]
    m = results["machine"]
    return "\n".join(
        [
            "## Decision quality: true margin of shelfcast's prices vs doing nothing and a naive markdown",
            "",
            f"`python benchmarks/decision_quality.py{' --quick' if results['quick'] else ''}`, {m['date'][:10]}, "
            f"{m['cpu']} ({m['cpus']} CPUs). "
            "Each row runs the core steps (clean → flag → forecast → elasticity → optimise, default "
            "parameters and market overlays) on the demo generator's data and scores the plans with the "
            "generator's *true* expected demand over the 28-day horizon after the month (no noise, no "
            "promotions, sales capped by stock): true margin of the flagged products, in the market's "
            "currency. Naive rule: every flagged product 20 % off, ignoring every constraint. "
            "Predicted uplift is what the optimiser expected from its own forecast and elasticities.",
            "",
            *rows,
            "",
            f"shelfcast beats doing nothing in **{sum(c['beats_do_nothing'] for c in cases)}/{len(cases)}** cases "
            f"and the naive rule in **{sum(c['beats_naive'] for c in cases)}/{len(cases)}** "
            "(target: all). Raw numbers: `benchmarks/results/decision_quality.json`.",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="US only, two months")
    args = parser.parse_args()
    facts = machine()  # before the work, so the load average is the background load
    # The demo data of the recorded results: seed 7, 2022-01 … 2024-12.
    spec = GeneratorSpec(last_month="2024-12")
    big = spec.with_size(products=2000, markets=["US"])
    # 2,000 products with the limits scaled from the 240-product defaults (40 changes, 25,000)
    scaled = ["optimiser.max_changes=333", "optimiser.discount_budget=208000.0"]
    scenarios = (
        [(spec, ["US"], MONTHS[:2], [])]
        if args.quick
        else [
            (spec, ["US", "GB", "DE", "SE"], MONTHS, []),
            (big, ["US"], MONTHS[:2], []),
            (big, ["US"], MONTHS[:2], scaled),
        ]
    )
    cases = []
    for scenario, markets, months, patches in scenarios:
        for market in markets:
            drops = drops_for(scenario, market)
            for month in months:
                case = evaluate(scenario, market, month, drops, patches)
                cases.append(case)
                print(
                    f"{market} ({case['products']} products) {month}: flagged {case['flagged']}, changes "
                    f"{case['price_changes']}, true margin {case['true_margin']}, uplift vs nothing "
                    f"{case['uplift_vs_do_nothing']:+.0f}, vs naive {case['uplift_vs_naive']:+.0f}",
                    flush=True,
                )
    results = {
        "name": NAME,
        "quick": args.quick,
        "machine": facts,
        "naive_markdown": NAIVE_MARKDOWN,
        "all_beat_do_nothing": all(c["beats_do_nothing"] for c in cases),
        "all_beat_naive": all(c["beats_naive"] for c in cases),
        "cases": cases,
    }
    out = ROOT / "benchmarks" / "results" / f"{NAME}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=float) + "\n")
    write_section(NAME, table(results))
    print(f"wrote {out.relative_to(ROOT)} and benchmarks/README.md")


if __name__ == "__main__":
    main()
