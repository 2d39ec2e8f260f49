"""Rolling-origin backtest of a forecaster against the weekly seasonal-naive baseline."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from shelfcast.core.forecast import SEASON, Forecaster, SeasonalNaive, nanmean, to_panel

MIN_TRAIN_DAYS = 28  # a backtest fold needs this much history before its cut
SCORES = ("wape", "mase", "baseline_wape", "baseline_mase")


def backtest(
    history: pd.DataFrame,
    forecaster: Forecaster,
    horizon_days: int,
    folds: int,
    groups: Mapping[str, str] | pd.Series | None = None,
) -> dict:
    """Accuracy of ``forecaster`` and of seasonal naive on the last ``folds`` horizons of history.

    Fold k = 1..folds hides the last k × horizon days, forecasts them from the days before (the
    products seen by then, missing days as 0) and compares. WAPE = Σ|error| / Σ actual over all
    products, days and folds. MASE = mean over (product, fold) of the fold's MAE / that product's
    in-sample MAE of the weekly seasonal-naive forecast, over products whose scale is nonzero.
    Folds with fewer than MIN_TRAIN_DAYS days before the cut are skipped; with none left
    ``folds`` is 0 and the scores NaN. ``groups`` (product_id -> category) adds ``per_category``:
    the same four scores and the number of products, per category.
    """
    baseline = SeasonalNaive()
    result: dict = {"model": forecaster.name, "baseline": baseline.name, "folds": 0}
    result |= dict.fromkeys(SCORES, math.nan)
    if history.empty or folds <= 0 or horizon_days <= 0:
        return result
    panel = to_panel(history)
    dates = pd.date_range(panel.start, periods=panel.units.shape[1], freq="D")
    scores = []
    for k in range(1, folds + 1):
        cut = panel.units.shape[1] - k * horizon_days
        if cut < MIN_TRAIN_DAYS:
            break
        seen = ~np.isnan(panel.units[:, cut - 1])
        train, actual = panel.units[seen, :cut], panel.units[seen, cut : cut + horizon_days]
        product, day = np.nonzero(~np.isnan(train))
        rows = pd.DataFrame(
            {
                "product_id": panel.ids[seen][product],
                "date": dates[day],
                "units": train[product, day],
            }
        )
        fold = pd.DataFrame({"product_id": panel.ids[seen], "actual": actual.sum(axis=1)})
        fold["scale"] = nanmean(np.abs(train[:, SEASON:] - train[:, :-SEASON]), axis=1)
        for label, model in (("model", forecaster), ("baseline", baseline)):
            forecast = model.fit_predict(rows, horizon_days).pivot(
                index="product_id", columns="date", values="units_forecast"
            )
            forecast = forecast.reindex(
                index=fold["product_id"], columns=dates[cut:][:horizon_days]
            )
            fold[label] = np.abs(forecast.fillna(0.0).to_numpy() - actual).sum(axis=1)
        scores.append(fold)
    if not scores:
        return result
    every = pd.concat(scores, ignore_index=True)
    result["folds"] = len(scores)
    result |= _scores(every, horizon_days)
    if groups is not None:
        category = every["product_id"].map(pd.Series(groups)).fillna("unknown")
        result["per_category"] = {
            str(name): _scores(part, horizon_days) | {"products": int(part["product_id"].nunique())}
            for name, part in every.groupby(category)
        }
    return result


def _scores(fold_errors: pd.DataFrame, horizon_days: int) -> dict:
    """WAPE and MASE of the model and of the baseline over some (product, fold) rows."""
    scaled = fold_errors.loc[fold_errors["scale"] > 0]
    out = {}
    for label, prefix in (("model", ""), ("baseline", "baseline_")):
        out[f"{prefix}wape"] = _wape(fold_errors[label], fold_errors["actual"])
        mase = scaled[label] / horizon_days / scaled["scale"]
        out[f"{prefix}mase"] = float(mase.mean()) if len(mase) else math.nan
    return out


def _wape(abs_errors: pd.Series, actual: pd.Series) -> float:
    total = float(actual.sum())
    return float(abs_errors.sum()) / total if total > 0 else math.nan


def accuracy_table(result: Mapping) -> str:
    """The backtest as a markdown table: one row per category, then all products."""
    head = "| category | products | WAPE | baseline WAPE | MASE | baseline MASE |\n|---|---|---|---|---|---|"
    rows = [
        (name, scores.get("products", ""), scores)
        for name, scores in sorted(result.get("per_category", {}).items())
    ]
    rows.append(("**all**", sum(r[1] or 0 for r in rows) or "", result))
    lines = [
        f"| {name} | {count} | "
        + " | ".join(
            _fmt(scores.get(k)) for k in ("wape", "baseline_wape", "mase", "baseline_mase")
        )
        + " |"
        for name, count, scores in rows
    ]
    return "\n".join([head, *lines])


def _fmt(value) -> str:
    return f"{value:.3f}" if isinstance(value, float) and math.isfinite(value) else "–"
