"""Helpers the forecasting benchmarks share: the engine and statsforecast from one long frame,
M3-style scores, machine facts and markdown tables."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def long_frame(train: list[np.ndarray]) -> pd.DataFrame:
    """statsforecast's input: unique_id, ds (integer periods), y."""
    ids = np.repeat(np.arange(len(train)), [len(y) for y in train])
    ds = np.concatenate([np.arange(len(y)) for y in train])
    return pd.DataFrame({"unique_id": ids, "ds": ds, "y": np.concatenate(train)})


def shelfcast_forecast(frame: pd.DataFrame, season: int, horizon: int, **options) -> np.ndarray:
    """The default engine from the long frame: right-align, forecast every series at once."""
    from shelfcast.core.forecast_engine import forecast_matrix

    lengths = frame.groupby("unique_id").size().to_numpy()
    width = lengths.max()
    column = frame["ds"].to_numpy() + np.repeat(width - lengths, lengths)
    values = np.full((len(lengths), width), np.nan)
    values[frame["unique_id"].to_numpy(), column] = frame["y"].to_numpy()
    return forecast_matrix(values, season, horizon, **options)


def statsforecast_forecast(model, frame: pd.DataFrame, horizon: int, n_jobs: int) -> np.ndarray:
    from statsforecast import StatsForecast

    fitted = StatsForecast(models=[model], freq=1, n_jobs=n_jobs).forecast(df=frame, h=horizon)
    fitted = fitted.sort_values(["unique_id", "ds"])
    return fitted[str(model)].to_numpy(dtype=float).reshape(-1, horizon)


def scores(train: list[np.ndarray], test: np.ndarray, forecast: np.ndarray, season: int) -> dict:
    """Mean MASE (in-sample seasonal-naive scale) and mean sMAPE (%) over the series."""
    scale = np.array([np.mean(np.abs(y[season:] - y[:-season])) for y in train])
    mase = np.mean(np.abs(test - forecast), axis=1) / scale
    with np.errstate(invalid="ignore", divide="ignore"):
        smape = 200 * np.abs(test - forecast) / (np.abs(test) + np.abs(forecast))
    return {"mase": float(mase.mean()), "smape": float(np.nan_to_num(smape).mean())}


def machine_facts(
    n_jobs: int, packages: tuple[str, ...] = ("numpy", "pandas", "statsforecast")
) -> dict:
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


def markdown_table(
    rows: list[dict], columns: dict[str, tuple[str, str]], first: str = "model"
) -> str:
    """Rows of results as a markdown table; columns maps header -> (key, format)."""
    head = f"| {first} | " + " | ".join(columns) + " |\n|---|" + "---:|" * len(columns)
    lines = [
        f"| {row[first]} | "
        + " | ".join(format(row[key], spec) for key, spec in columns.values())
        + " |"
        for row in rows
    ]
    return "\n".join([head, *lines])
