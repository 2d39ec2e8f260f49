"""Calibration of the underperformer rules' thresholds against the demo generator's truth.

On the calibration seeds only (``CALIBRATION_SEEDS``, all four markets, the months that
decision_quality.py reports), it computes each partition's KPI frame once, as the
``product_performance`` asset does, then sweeps the thresholds of the default rules and scores
the flags against the truth: a product truly underperforms when its planted decline has started
by the month's end. Precision and recall are pooled over the partitions; a setting is as good as
the smaller of the two (both matter: a list a pricing team can act on, that misses few
decliners). It also shows what each rule that is off by default would add. decision_quality.py
then reports the chosen defaults on seeds this calibration never saw.

    python benchmarks/flag_calibration.py        # writes results/flag_calibration.json and its section
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _sections import write_section  # noqa: E402

from shelfcast.core import performance as perf  # noqa: E402
from shelfcast.core.demo_data import GeneratorSpec, ground_truth  # noqa: E402
from shelfcast.pipeline.partitions import versioned_defaults  # noqa: E402

NAME = "flag_calibration"
CALIBRATION_SEEDS = (1, 2, 3, 4, 5, 6)
MARKETS = ("US", "GB", "DE", "SE")
MONTHS = ("2024-03", "2024-06", "2024-09", "2024-11")
GRID = {
    "demand_decline": [0.15, 0.2, 0.25, 0.3],
    "min_decline_z": [2.0, 2.5, 3.0, 3.5],
    "piling_cover_days": [90, 100, 110, 120, 130],
    "piling_decline": [0.0, 0.05, 0.1, 0.15, 0.2],
    "max_stock_cover_days": [130, 150, 180, 210, 250],
}


def kpi_frames(seeds) -> pd.DataFrame:
    """Every calibration partition's KPI frame with the truth and the seed, in one frame."""
    from decision_quality import drops_for

    price_elasticity = versioned_defaults()["performance"]["price_elasticity"]
    frames = []
    for seed in seeds:
        spec = GeneratorSpec(seed=seed, last_month="2024-12")  # independent of today's date
        for market in MARKETS:
            drops = drops_for(spec, market)
            started = ground_truth(spec, market).set_index("product_id")["decline_start"]
            for month in MONTHS:
                end = pd.Period(month, "M")
                sales = pd.concat([drops[str(end - k)][0] for k in range(13)], ignore_index=True)
                kpis = perf.month_kpis(sales, drops[month][1], month, price_elasticity)
                truth = kpis["product_id"].map(started <= end.end_time).fillna(False)
                frames.append(kpis.assign(truth=truth.astype(bool), seed=seed))
    return pd.concat(frames, ignore_index=True)


def score(kpis: pd.DataFrame, params: perf.PerformanceParams) -> dict:
    flagged = np.zeros(len(kpis), dtype=bool)
    for rule in params.rules:
        flagged |= perf.RULE_CHECKS[rule](kpis, params).to_numpy()
    truth, seeds = kpis["truth"].to_numpy(), kpis["seed"].to_numpy()
    hits = flagged & truth
    per_seed = [
        min(
            hits[seeds == s].sum() / max(flagged[seeds == s].sum(), 1),
            hits[seeds == s].sum() / truth[seeds == s].sum(),
        )
        for s in np.unique(seeds)
    ]
    precision, recall = hits.sum() / max(flagged.sum(), 1), hits.sum() / truth.sum()
    return {
        "precision": round(float(precision), 4),
        "recall": round(float(recall), 4),
        "worse_of_the_two": round(float(min(precision, recall)), 4),
        "worst_seed": round(float(min(per_seed)), 4),
        "share_flagged": round(float(flagged.mean()), 4),
    }


def table(results: dict) -> str:
    keys = list(GRID)
    head = "| " + " | ".join(keys) + " | precision | recall | worst seed | flagged |"
    rows = [head, "|" + "---:|" * (len(keys) + 4)]

    def row(values: dict, s: dict, bold: bool = False) -> str:
        cells = [str(values[k]) for k in keys] + [
            f"{s['precision']:.3f}",
            f"{s['recall']:.3f}",
            f"{s['worst_seed']:.3f}",
            f"{100 * s['share_flagged']:.1f} %",
        ]
        return "| " + " | ".join(f"**{c}**" if bold else c for c in cells) + " |"

    for entry in results["best"]:
        rows.append(row(entry["thresholds"], entry["score"]))
    rows.append(row(results["defaults"]["thresholds"], results["defaults"]["score"], bold=True))
    extra = [
        "| rule added to the defaults | precision | recall | flagged |",
        "|---|---:|---:|---:|",
        *(
            f"| {name} | {s['precision']:.3f} | {s['recall']:.3f} | {100 * s['share_flagged']:.1f} % |"
            for name, s in results["added_rules"].items()
        ),
    ]
    seeds = ", ".join(map(str, results["seeds"]))
    return "\n".join(
        [
            "## Flag calibration: the performance rules' thresholds on the calibration seeds",
            "",
            f"`python benchmarks/flag_calibration.py`, {results['seconds']:.0f} s. Seeds {seeds} "
            f"of the demo generator, markets {', '.join(MARKETS)}, months {', '.join(MONTHS)} "
            f"({results['partitions']} partitions, {results['products']:,} product-months, "
            f"{results['decliners']:,} of them truly declining). Every combination of the grid "
            f"({results['combinations']:,}) of the default rules (demand_decline, stock_piling, "
            "overstock) is scored, pooled over the partitions; the best five by the worse of "
            "precision and recall, then the versioned defaults in bold (a round setting on the "
            "plateau rather than the single best cell). Worst seed: the worse of precision and "
            "recall on the weakest seed. The defaults are judged on other seeds in the "
            "decision-quality section.",
            "",
            *rows,
            "",
            "What each rule that is off by default adds to the defaults (its own thresholds "
            "as versioned):",
            "",
            *extra,
            "",
            "Raw numbers: `benchmarks/results/flag_calibration.json`.",
        ]
    )


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    started = time.perf_counter()
    kpis = kpi_frames(CALIBRATION_SEEDS)
    defaults = perf.PerformanceParams(**versioned_defaults()["performance"])
    results = []
    for values in itertools.product(*GRID.values()):
        thresholds = dict(zip(GRID, values, strict=True))
        results.append((thresholds, score(kpis, dataclasses.replace(defaults, **thresholds))))
    results.sort(key=lambda r: -r[1]["worse_of_the_two"])
    added = {
        rule: score(kpis, dataclasses.replace(defaults, rules=(*defaults.rules, rule)))
        for rule in perf.RULES
        if rule not in defaults.rules
    }
    out = {
        "name": NAME,
        "seeds": list(CALIBRATION_SEEDS),
        "partitions": len(CALIBRATION_SEEDS) * len(MARKETS) * len(MONTHS),
        "products": len(kpis),
        "decliners": int(kpis["truth"].sum()),
        "combinations": len(results),
        "best": [{"thresholds": t, "score": s} for t, s in results[:5]],
        "defaults": {
            "thresholds": {k: getattr(defaults, k) for k in GRID},
            "score": score(kpis, defaults),
        },
        "added_rules": added,
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps({k: out[k] for k in ("best", "defaults", "added_rules")}, indent=2))
    path = ROOT / "benchmarks" / "results" / f"{NAME}.json"
    path.write_text(json.dumps(out, indent=2, default=float) + "\n")
    write_section(NAME, table(out))
    print(f"wrote {path.relative_to(ROOT)} and benchmarks/README.md")


if __name__ == "__main__":
    main()
