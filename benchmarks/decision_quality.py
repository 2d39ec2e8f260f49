"""Decision quality: are the flagged products the real decliners, and how much of the margin that
better prices could earn do shelfcast's prices capture? Both judged by the demo generator's truth.

For each seed, market and month it runs the real core steps on generated data, exactly as the
pipeline's assets do: clean the drops, flag underperformers (13 months of sales), forecast the
flagged products' demand with the configured (registered default) forecaster (24 months),
estimate elasticities (24 months) and optimise prices with the versioned parameters
(configs/defaults.yaml plus the market's overlay). Then it scores both decisions with the truth:

- **Flags.** A product truly underperforms in a month when its planted decline has started by
  the month's end (``ground_truth``: ``decline_start``). Nothing else is planted as a problem:
  growing, intermittent, price-stepped and promoted products are healthy, and a decliner's stock
  piles up *because* it declines (the generator keeps ordering for the lost demand), so stock
  adds no second truth. Precision = flagged decliners / flagged, recall = flagged decliners /
  decliners, share flagged = flagged / catalogue.
- **Prices.** Every plan is judged on the generator's noise-free demand (``expected_units``:
  trend, seasonality, true per-product elasticity, no promotions) over the forecast horizon after
  the month: true margin = Σ min(true units, stock on hand) × (price − unit cost). Uplift is a
  plan's true margin minus that of doing nothing (every price kept). The **oracle** is the same
  optimiser under the same constraints given the truth: it prices the true underperformers with
  the true expected demand (``baseline_units``) and each product's true elasticity, so its plan is
  the best one reachable (with ``elasticity_caution`` 0: the truth leaves nothing to be cautious
  about). Swapping the truth in one piece at a time — the flags, then the demand,
  then the elasticity — splits the uplift shelfcast misses into what each piece costs (shares of
  the oracle's uplift; a negative share means that piece of truth, given the others, earned less).
  The naive rule marks every flagged product down 20 %, whatever the constraints.

The performance defaults were calibrated on seeds ``CALIBRATION_SEEDS`` (flag_calibration.py);
this script reports other seeds, which the calibration never saw. Writes
benchmarks/results/decision_quality.json and its section of benchmarks/README.md.

    python benchmarks/decision_quality.py                 # held-out seeds 7, 101, 102 + 2,000 products
    python benchmarks/decision_quality.py --seeds 11,12   # any seeds (writes the same files)
    python benchmarks/decision_quality.py --quick         # seed 7, US × 2 months, writes nothing
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
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
from flag_calibration import CALIBRATION_SEEDS  # noqa: E402

from shelfcast.core.cleaning import clean_products, clean_sales  # noqa: E402
from shelfcast.core.demo_data import (  # noqa: E402
    GeneratorSpec,
    expected_units,
    generate,
    ground_truth,
)
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
MARKETS = ["US", "GB", "DE", "SE"]
HELD_OUT_SEEDS = (7, 101, 102)  # 7: the demo lake's seed; none of them used for calibration
TARGETS = {"precision": 0.8, "recall": 0.8, "oracle_share": 0.7}
# The steps from shelfcast's decision to the oracle's: which pieces of truth each one uses.
STEPS = {
    "shelfcast": {"flags": False, "demand": False, "elasticity": False},
    "true_flags": {"flags": True, "demand": False, "elasticity": False},
    "true_demand": {"flags": True, "demand": True, "elasticity": False},
    "oracle": {"flags": True, "demand": True, "elasticity": True},
}
LOSSES = {"flags": "true_flags", "forecast": "true_demand", "elasticity": "oracle"}


@dataclasses.dataclass
class Partition:
    """One market-month of one generated data set, cleaned, with the generator's truth."""

    spec: GeneratorSpec
    market: str
    month: str
    drops: dict
    truth: pd.DataFrame

    @property
    def products(self) -> pd.DataFrame:
        return self.drops[self.month][1]

    def sales(self, months: int) -> pd.DataFrame:
        end = pd.Period(self.month, "M")
        periods = pd.period_range(end - (months - 1), end, freq="M")
        return pd.concat(
            [self.drops[str(p)][0] for p in periods if str(p) in self.drops], ignore_index=True
        )

    def decliners(self) -> set[str]:
        """The products whose planted decline has started by the month's end."""
        started = self.truth["decline_start"] <= pd.Period(self.month, "M").end_time
        return set(self.truth.loc[started.fillna(False), "product_id"])


# The generator's period ends here, so the recorded results do not depend on today's date.
LAST_MONTH = "2024-12"


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


def forecast_units(part: Partition, ids, run: RunParams) -> pd.Series:
    """The forecast's units over the horizon per product, as the demand_forecast asset makes it."""
    history = part.sales(run.forecast.history_months)
    categories = part.products.set_index("product_id")["category"]
    series = history.loc[history["product_id"].isin(ids), ["product_id", "date", "units"]]
    series = series.assign(category=series["product_id"].map(categories))
    if series.empty:
        return pd.Series(dtype=float)
    forecast = get_forecaster(run.forecast.model).fit_predict(series, run.forecast.horizon_days)
    return forecast.groupby("product_id")["units_forecast"].sum()


def true_units(part: Partition, ids, days: int, multiplier=1.0) -> np.ndarray:
    """The generator's noise-free units over the horizon after the month, per product of ``ids``."""
    ids = list(ids)
    if not ids:
        return np.zeros(0)
    start = (pd.Period(part.month, "M") + 1).start_time.date()
    demand = expected_units(part.spec, part.market, ids, start, days, multiplier)
    return demand.groupby("product_id", sort=False)["expected_units"].sum().reindex(ids).to_numpy()


def plan(part: Partition, flagged, baseline: pd.Series, elasticity: pd.Series, params):
    """The optimiser's plan for ``flagged`` with the given demand and elasticity per product."""
    items = (
        part.products.loc[part.products["product_id"].isin(flagged)]
        .assign(
            elasticity=lambda f: f["product_id"].map(elasticity),
            baseline_units=lambda f: f["product_id"].map(baseline).fillna(0.0),
        )
        .rename(columns={"price": "current_price"})
    )
    return optimise_prices(items, params)


def true_uplift(part: Partition, recs: pd.DataFrame, days: int) -> dict:
    """True margin of a plan and of keeping its products' prices, over the horizon."""
    ids = recs["product_id"].tolist()
    multiplier = (recs["recommended_price"] / recs["current_price"]).to_numpy()
    cost, price, stock = (
        recs[c].to_numpy(float) for c in ("unit_cost", "current_price", "stock_on_hand")
    )
    before = np.minimum(true_units(part, ids, days), stock) * (price - cost)
    after = np.minimum(true_units(part, ids, days, multiplier), stock) * (price * multiplier - cost)
    return {"margin": float(after.sum()), "do_nothing": float(before.sum())}


def evaluate(part: Partition, patches: list[str]) -> dict:
    """Flags and every plan of one partition, scored against the truth."""
    started = time.perf_counter()
    run = PipelineParams(patches=patches, deployment=Locations()).check(part.market, part.month)
    days, params = run.forecast.horizon_days, run.optimiser
    performance = assess_performance(part.sales(13), part.products, part.month, run.performance)
    flagged = set(performance.loc[performance["is_underperforming"], "product_id"])
    truth = part.decliners()
    estimated = estimate_elasticity(part.sales(24), part.products, run.elasticity).set_index(
        "product_id"
    )["elasticity"]
    true_elasticity = part.truth.set_index("product_id")["elasticity"]
    forecasts = {False: forecast_units(part, flagged, run)}
    forecasts[True] = forecast_units(part, truth, run) if truth != flagged else forecasts[False]
    ids_truth = sorted(truth)
    true_baseline = pd.Series(true_units(part, ids_truth, days), index=ids_truth, dtype=float)

    plans, uplift = {}, {}
    for step, uses in STEPS.items():
        products = truth if uses["flags"] else flagged
        baseline = true_baseline if uses["demand"] else forecasts[uses["flags"]]
        elasticity = true_elasticity if uses["elasticity"] else estimated
        # caution guards against the estimate's error; with the true elasticity there is none
        step_params = (
            dataclasses.replace(params, elasticity_caution=0.0) if uses["elasticity"] else params
        )
        recs, report = plan(part, products, baseline, elasticity, step_params)
        scored = true_uplift(part, recs, days)
        plans[step] = {
            "products": len(recs),
            "changes": int(recs["is_change"].sum()),
            "markdowns": int((recs["price_change"] < 0).sum()),
            "markups": int((recs["price_change"] > 0).sum()),
            "true_margin": round(scored["margin"], 2),
            "do_nothing": round(scored["do_nothing"], 2),
            "true_uplift": round(scored["margin"] - scored["do_nothing"], 2),
            "predicted_uplift": round(
                float((recs["expected_margin"] - recs["baseline_margin"]).sum()), 2
            ),
            "violations": len(check_recommendations(recs, step_params, product_ids=products)),
            "solver": {"method": report.method, "gap": report.gap},
        }
        uplift[step] = scored["margin"] - scored["do_nothing"]
        if step == "shelfcast":
            ours = recs
    naive = true_uplift(
        part, ours.assign(recommended_price=ours["current_price"] * (1 - NAIVE_MARKDOWN)), days
    )
    oracle = uplift["oracle"]
    previous, losses = "shelfcast", {}
    for piece, step in LOSSES.items():
        losses[piece] = round((uplift[step] - uplift[previous]) / oracle, 4) if oracle else None
        previous = step
    hits = len(flagged & truth)
    nothing = plans["shelfcast"]["do_nothing"]
    return {
        "seed": part.spec.seed,
        "role": "calibration" if part.spec.seed in CALIBRATION_SEEDS else "held_out",
        "market": part.market,
        "month": part.month,
        "patches": patches,
        "products": len(performance),
        "flagged": len(flagged),
        "decliners": len(truth),
        "flagged_decliners": hits,
        "precision": round(hits / len(flagged), 4) if flagged else None,
        "recall": round(hits / len(truth), 4) if truth else None,
        "share_flagged": round(len(flagged) / len(performance), 4),
        "rules_fired": performance.loc[performance["is_underperforming"], "reasons"]
        .str.split(";")
        .explode()
        .value_counts()
        .to_dict(),
        "plans": plans,
        "uplift_vs_do_nothing": round(uplift["shelfcast"], 2),
        "uplift_vs_do_nothing_pct": round(100 * uplift["shelfcast"] / nothing, 3)
        if nothing
        else None,
        "oracle_uplift": round(oracle, 2),
        "oracle_share": round(uplift["shelfcast"] / oracle, 4) if oracle else None,
        "losses": losses,
        "naive_uplift": round(naive["margin"] - naive["do_nothing"], 2),
        "violations": plans["shelfcast"]["violations"],
        "max_changes": params.max_changes,
        "seconds": round(time.perf_counter() - started, 2),
    }


def summary(cases: list[dict]) -> dict:
    """Pooled flag quality, mean oracle share and losses, worst uplift and violations."""
    if not cases:
        return {}
    flagged = sum(c["flagged"] for c in cases)
    hits = sum(c["flagged_decliners"] for c in cases)
    shares = [c["oracle_share"] for c in cases if c["oracle_share"] is not None]
    return {
        "partitions": len(cases),
        "precision": round(hits / flagged, 4) if flagged else None,
        "recall": round(hits / sum(c["decliners"] for c in cases), 4),
        "min_precision": min(c["precision"] or 0.0 for c in cases),
        "min_recall": min(c["recall"] or 0.0 for c in cases),
        "share_flagged": round(flagged / sum(c["products"] for c in cases), 4),
        "oracle_share": round(float(np.mean(shares)), 4),
        "median_oracle_share": round(float(np.median(shares)), 4),
        "min_oracle_share": round(float(min(shares)), 4),
        "losses": {
            piece: round(float(np.mean([c["losses"][piece] for c in cases])), 4) for piece in LOSSES
        },
        "min_uplift_vs_do_nothing_pct": min(c["uplift_vs_do_nothing_pct"] for c in cases),
        "beats_do_nothing": sum(c["uplift_vs_do_nothing"] > 0 for c in cases),
        "beats_naive": sum(c["uplift_vs_do_nothing"] > c["naive_uplift"] for c in cases),
        "violations": sum(c["violations"] for c in cases),
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


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.0f} %"


def table(results: dict) -> str:
    m = results["machine"]
    s = results["held_out"] or results["all_seeds"]
    seeds = ", ".join(str(x) for x in results["seeds"])
    scope = "held-out" if results["held_out"] else "all (including calibration seeds)"
    summary_rows = [
        "| seeds | partitions | precision | recall | flagged | oracle share: mean (median, min) "
        "| lost to flags / forecast / elasticity | worst uplift vs nothing | violations |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for label, row in [*results["by_seed"].items(), (f"{scope} ({seeds})", s)]:
        loss = row["losses"]
        summary_rows.append(
            f"| {label} | {row['partitions']} | {row['precision']:.2f} | {row['recall']:.2f} "
            f"| {_pct(row['share_flagged'])} | {_pct(row['oracle_share'])} "
            f"({_pct(row['median_oracle_share'])}, {_pct(row['min_oracle_share'])}) "
            f"| {_pct(loss['flags'])} / {_pct(loss['forecast'])}"
            f" / {_pct(loss['elasticity'])} | {row['min_uplift_vs_do_nothing_pct']:+.1f} % "
            f"| {row['violations']} |"
        )
    case_rows = [
        "| seed | market | products | month | flagged | decliners | precision | recall "
        "| changes (down/up) | do nothing | shelfcast uplift | oracle uplift | share "
        "| lost: flags / forecast / elasticity | naive −20 % uplift | violations |",
        "|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for c in results["cases"]:
        p, loss = c["plans"]["shelfcast"], c["losses"]
        case_rows.append(
            f"| {c['seed']} | {c['market']} | {c['products']:,} | {c['month']} | {c['flagged']} "
            f"| {c['decliners']} | {c['precision']:.2f} | {c['recall']:.2f} "
            f"| {p['changes']} ({p['markdowns']}/{p['markups']}) | {p['do_nothing']:,.0f} "
            f"| {c['uplift_vs_do_nothing']:+,.0f} ({c['uplift_vs_do_nothing_pct']:+.1f} %) "
            f"| {c['oracle_uplift']:+,.0f} | {_pct(c['oracle_share'])} "
            f"| {_pct(loss['flags'])} / {_pct(loss['forecast'])} / {_pct(loss['elasticity'])} "
            f"| {c['naive_uplift']:+,.0f} | {c['violations']} |"
        )
    met = {
        "precision": s["precision"] >= TARGETS["precision"],
        "recall": s["recall"] >= TARGETS["recall"],
        "oracle share": s["oracle_share"] >= TARGETS["oracle_share"],
        "never below doing nothing": s["beats_do_nothing"] == s["partitions"],
        "no violation": s["violations"] == 0,
    }
    verdict = ", ".join(f"{k} **{'met' if v else 'missed'}**" for k, v in met.items())
    scale = [c for c in results["scale_cases"]]
    scale_rows = [
        f"| {c['market']} | {c['products']:,} | {c['month']} | {c['max_changes']} | {c['flagged']} "
        f"| {c['precision']:.2f} | {c['recall']:.2f} | {c['plans']['shelfcast']['changes']} "
        f"| {c['uplift_vs_do_nothing']:+,.0f} ({c['uplift_vs_do_nothing_pct']:+.1f} %) "
        f"| {c['oracle_uplift']:+,.0f} | {_pct(c['oracle_share'])} | {c['violations']} |"
        for c in scale
    ]
    return "\n".join(
        [
            "## Decision quality: the flags against the generator's truth, the prices against an oracle",
            "",
            f"`python benchmarks/decision_quality.py{' --quick' if results['quick'] else ''}`, "
            f"{m['date'][:10]}, {m['cpu']} ({m['cpus']} CPUs), {results['seconds']:.0f} s. "
            "Each partition runs the core steps as the pipeline does (clean → flag → forecast with "
            "the configured forecaster → elasticity → optimise; default parameters and market "
            f"overlays) on the demo generator's data of seeds {seeds}, which the calibration of "
            f"the performance rules (seeds {', '.join(map(str, CALIBRATION_SEEDS))}, "
            "`flag_calibration.py`) never saw. A product truly underperforms when its planted "
            "decline has started by the month. Prices are scored on the generator's noise-free "
            "demand over the 28 days after the month (true elasticities, sales capped by stock); "
            "the oracle is the same optimiser and constraints given the truth (the true "
            "underperformers, their true expected demand and elasticities, no elasticity "
            "caution). Losses swap the "
            "truth in one piece at a time (flags, then demand, then elasticity), as shares of the "
            "oracle's uplift. Precision and recall are pooled over the partitions.",
            "",
            *summary_rows,
            "",
            f"Targets on the {scope} seeds (precision and recall ≥ 0.8, ≥ 70 % of the oracle's "
            f"uplift on average, above doing nothing in every partition, no violation): {verdict}. "
            f"shelfcast beats the naive −20 % markdown in {s['beats_naive']}/{s['partitions']} "
            "partitions.",
            "",
            "Reading the numbers: the elasticity is where the margin goes "
            f"({_pct(s['losses']['elasticity'])} of the oracle's uplift on average). Every "
            "product is priced with its category's estimate while the true elasticities spread "
            "around it, and the estimates themselves miss by a few tenths; the caution "
            "(`optimiser.elasticity_caution`) gives up a little of the average to keep every "
            "partition above doing nothing. The forecast costs nothing here: with a few dozen "
            "flagged products no limit binds, and under constant elasticity a product's best "
            "price does not depend on its demand level (only the stock cap and the limits bring "
            "the level in). A negative flag loss means that shelfcast's false flags, healthy "
            "products some of which a markup helps, earned more than the decliners it missed "
            "would have; that is also why a partition's share can exceed 100 %.",
            "",
            "<details><summary>Every partition</summary>",
            "",
            *case_rows,
            "",
            "</details>",
            "",
            "At scale (seed 7, one market of 2,000 products, the limits scaled from the "
            "240-product defaults):",
            "",
            "| market | products | month | max changes | flagged | precision | recall | changes "
            "| shelfcast uplift | oracle uplift | share | violations |",
            "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            *scale_rows,
            "",
            "Raw numbers: `benchmarks/results/decision_quality.json`.",
        ]
    )


def partitions(spec: GeneratorSpec, markets, months):
    for market in markets:
        drops = drops_for(spec, market)
        truth = ground_truth(spec, market)
        for month in months:
            yield Partition(spec, market, month, drops, truth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default=",".join(map(str, HELD_OUT_SEEDS)))
    parser.add_argument("--quick", action="store_true", help="seed 7, US, two months; no files")
    parser.add_argument("--no-write", action="store_true", help="print the results only")
    parser.add_argument("--no-scale", action="store_true", help="skip the 2,000-product cases")
    parser.add_argument(
        "--patch", action="append", default=[], help="a run patch for every case, KEY=VALUE"
    )
    args = parser.parse_args()
    facts = machine()  # before the work, so the load average is the background load
    started = time.perf_counter()
    seeds = [7] if args.quick else [int(s) for s in args.seeds.split(",")]
    markets, months = (["US"], MONTHS[:2]) if args.quick else (MARKETS, MONTHS)
    cases = []
    for seed in seeds:
        for part in partitions(GeneratorSpec(seed=seed, last_month=LAST_MONTH), markets, months):
            case = evaluate(part, args.patch)
            cases.append(case)
            print(
                f"seed {seed} {part.market} {part.month}: flagged {case['flagged']} "
                f"(precision {case['precision']}, recall {case['recall']}), uplift "
                f"{case['uplift_vs_do_nothing']:+.0f}, oracle {case['oracle_uplift']:+.0f} "
                f"(share {case['oracle_share']}), losses {case['losses']}",
                flush=True,
            )
    # 2,000 products with the limits scaled from the 240-product defaults (40 changes, 25,000)
    scaled = ["optimiser.max_changes=333", "optimiser.discount_budget=208000.0"]
    big = GeneratorSpec(seed=7, last_month=LAST_MONTH).with_size(products=2000, markets=["US"])
    scale_cases = (
        []
        if args.quick
        else [
            evaluate(part, [*scaled, *args.patch]) for part in partitions(big, ["US"], MONTHS[:2])
        ]
    )
    held_out = [c for c in cases if c["role"] == "held_out"]
    results = {
        "name": NAME,
        "quick": args.quick,
        "machine": facts,
        "seeds": seeds,
        "calibration_seeds": list(CALIBRATION_SEEDS),
        "targets": TARGETS,
        "naive_markdown": NAIVE_MARKDOWN,
        "held_out": summary(held_out),
        "all_seeds": summary(cases),
        "by_seed": {
            f"{seed}{' (calibration)' if seed in CALIBRATION_SEEDS else ''}": summary(
                [c for c in cases if c["seed"] == seed]
            )
            for seed in seeds
        },
        "cases": cases,
        "scale_cases": scale_cases,
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(results["held_out"] or results["all_seeds"], indent=2))
    if args.quick or args.no_write:
        return
    out = ROOT / "benchmarks" / "results" / f"{NAME}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=float) + "\n")
    write_section(NAME, table(results))
    print(f"wrote {out.relative_to(ROOT)} and benchmarks/README.md")


if __name__ == "__main__":
    main()
