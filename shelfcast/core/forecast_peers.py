"""statsforecast's models behind shelfcast's ``Forecaster`` protocol: the field's reference peers.

``forecast.model: auto_ets`` (or ``auto_theta``, ``croston_optimized``) runs the model on each
product's daily history, from its first sale to the last day (missing days are 0), with the
weekly season (``season_length`` 7). A product with less than two weeks of history, too short
for these models, gets the mean of its days. This module (and statsforecast) is imported only
when one of these models is chosen, so importing shelfcast stays quick.

``n_jobs`` is 1: a partition forecasts a few dozen products, for which a process pool costs
more than it saves, and Dagster's multiprocess executor already runs partitions in parallel.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from shelfcast.core.forecast import SEASON, forecast_frame, nanmean

MIN_DAYS = 2 * SEASON


def _models() -> dict[str, Callable[[], object]]:
    from statsforecast.models import AutoETS, AutoTheta, CrostonOptimized

    return {
        "auto_ets": lambda: AutoETS(season_length=SEASON),
        "auto_theta": lambda: AutoTheta(season_length=SEASON),
        "croston_optimized": CrostonOptimized,
    }


PEERS = ("auto_ets", "auto_theta", "croston_optimized")


@dataclass(frozen=True)
class StatsForecastPeer:
    """One statsforecast model run per product on daily units."""

    name: str
    n_jobs: int = 1

    def __post_init__(self) -> None:
        if self.name not in PEERS:
            raise ValueError(f"unknown statsforecast peer {self.name!r}; valid: {PEERS}")

    def fit_predict(self, history: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
        return forecast_frame(history, horizon_days, self.predict)

    def predict(self, units: np.ndarray, horizon_days: int) -> np.ndarray:
        """Forecast (products × horizon_days) from a products × days panel (NaN = unknown)."""
        from statsforecast import StatsForecast

        known = ~np.isnan(units)
        forecast = np.repeat(np.nan_to_num(nanmean(units, axis=1))[:, None], horizon_days, 1)
        long_enough = np.flatnonzero(known.sum(axis=1) >= MIN_DAYS)
        if not len(long_enough):
            return forecast
        rows, days = np.nonzero(known[long_enough])
        frame = pd.DataFrame(
            {"unique_id": long_enough[rows], "ds": days, "y": units[long_enough][rows, days]}
        )
        model = _models()[self.name]()
        with warnings.catch_warnings():  # statsmodels warns on a constant series' ACF
            warnings.simplefilter("ignore", RuntimeWarning)
            fitted = StatsForecast(models=[model], freq=1, n_jobs=self.n_jobs).forecast(
                df=frame, h=horizon_days
            )
        fitted = fitted.sort_values(["unique_id", "ds"])
        values = fitted[str(model)].to_numpy(dtype=float).reshape(len(long_enough), horizon_days)
        forecast[long_enough] = np.clip(np.nan_to_num(values), 0.0, None)
        return forecast


def peer(name: str, n_jobs: int = 1) -> StatsForecastPeer:
    """The statsforecast peer registered as ``name`` (the registry's lazy factory calls this)."""
    return StatsForecastPeer(name=name, n_jobs=n_jobs)
