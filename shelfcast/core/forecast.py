"""Daily demand forecasters for a one-month pricing decision, chosen by name from config.

Every model follows one small protocol, ``Forecaster.fit_predict(history, horizon_days)``: it
fits on a long frame of many series (product_id, date, units, and optionally category) and
returns the daily units of every product for the ``horizon_days`` days right after the history
(product_id, date, units_forecast; ≥ 0, complete). ``forecast.model`` in config picks one from
the registry, so a model is replaced without touching the rest of the application:

- ``shelfcast`` (the default): :class:`Shelfcast`, shelfcast's own vectorised model;
- ``seasonal_trend``: the earlier explainable daily model (``forecast_seasonal_trend.py``);
- ``seasonal_naive``: the last week repeated, the baseline every backtest compares against;
- ``auto_ets``, ``auto_theta``, ``croston_optimized``: statsforecast's models, the field's
  reference peers (``forecast_peers.py``, imported only when chosen).

**Why the default forecasts weekly totals.** The optimiser consumes one number per product: the
units over the horizon. Daily retail series are mostly noise (a product selling 4 a day has a
day-to-day spread of ±50 %, and a slow one sells nothing on most days), and the weekday pattern
is stable. So ``Shelfcast`` sums each product's days into 7-day weeks ending on the last day of
history, forecasts the weeks with the engine (``forecast_engine.py``: seasonal profile, Theta and
damped trend combined, intermittent weeks by TSB, and per product a blend with last year's weeks
as far as its own backtest asks), and splits each week into days with the product's weekday
profile (its last 12 weeks, shrunk toward the panel's profile by the units behind it). Yearly
seasonality (``season_length`` 52 weeks) is each product's own estimate from however many years
it has, shrunk by its noise toward its category's (group seasonal indices, shrunk in turn), so
the pipeline's two-year window gives a product with a clear season its own and a slow product
its category's. On the generator's 2,000-product panel, weekly beats forecasting the days
directly with the same engine, on daily WAPE and on the 28-day totals the optimiser uses
(``benchmarks/README.md``); ``Shelfcast(period_days=1, season_length=7)`` is that daily variant.

``history`` is long. Missing days inside a product's span, from its first row to the last date
of the history, are 0 units; days before its first row are unknown.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import numpy as np
import pandas as pd

from shelfcast.core.forecast_engine import forecast_matrix
from shelfcast.core.rows import as_datetimes
from shelfcast.errors import UserError

SEASON = 7  # days in the weekly season


@dataclass(frozen=True)
class ForecastParams:
    """Which model forecasts, over how many days, from how much history (section ``forecast``)."""

    model: str  # a name in FORECASTERS
    horizon_days: int  # days forecast after the month closes
    history_months: int  # months of sales history, the partition's month included
    backtest_folds: int  # rolling-origin folds, each one horizon long

    def __post_init__(self) -> None:
        checks = [
            ("model", self.model in FORECASTERS,
             f"must be one of {', '.join(sorted(FORECASTERS))}, got {self.model!r}"),
            ("horizon_days", self.horizon_days >= 1, f"must be >= 1, got {self.horizon_days}"),
            ("history_months", self.history_months >= 1,
             f"must be >= 1, got {self.history_months}"),
            ("backtest_folds", self.backtest_folds >= 0,
             f"must be >= 0, got {self.backtest_folds}"),
        ]  # fmt: skip
        wrong = [f"forecast.{key} {message}" for key, ok, message in checks if not ok]
        if wrong:
            raise ForecastConfigError("; ".join(wrong))


class ForecastConfigError(UserError, ValueError):
    """A forecast parameter is out of range; the message names the key."""


FORECAST_COLUMNS = {"product_id": object, "date": "datetime64[ns]", "units_forecast": float}


class Forecaster(Protocol):
    """Forecasts daily units of every product in ``history`` for the days right after it."""

    @property
    def name(self) -> str: ...

    def fit_predict(self, history: pd.DataFrame, horizon_days: int) -> pd.DataFrame: ...


class Panel(NamedTuple):
    """Daily units: one row per product (``ids``), one column per day from ``start``; NaN = unknown."""

    ids: np.ndarray
    start: pd.Timestamp
    units: np.ndarray


def to_panel(history: pd.DataFrame) -> Panel:
    """Long history -> panel; a missing day after a product's first row is 0, before it NaN."""
    dates = as_datetimes(history["date"]).dt.normalize()
    codes, ids = pd.factorize(_as_text(history["product_id"]), sort=True)
    start = dates.min()
    day = (dates - start).dt.days.to_numpy()
    n, t = len(ids), int(day.max()) + 1
    units = np.bincount(
        codes * t + day, weights=history["units"].to_numpy(dtype=float), minlength=n * t
    ).reshape(n, t)
    first = np.full(n, t)
    np.minimum.at(first, codes, day)
    units[np.arange(t)[None, :] < first[:, None]] = np.nan
    return Panel(np.asarray(ids, dtype=object), start, units)


def _as_text(ids: pd.Series) -> pd.Series:
    """Ids as text; text ids as they are (boxing millions of Arrow strings costs seconds)."""
    return ids if pd.api.types.is_string_dtype(ids) else ids.astype(str)


def forecast_frame(
    history: pd.DataFrame,
    horizon_days: int,
    predict: Callable[..., np.ndarray],
    by_category: bool = False,
) -> pd.DataFrame:
    """Run ``predict`` (panel units, horizon -> products × horizon array) on a long history.

    With ``by_category``, ``predict`` also gets ``groups=`` each product's ``category`` (from
    the history's optional column of that name; None when it has none).
    """
    if history.empty or horizon_days <= 0:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in FORECAST_COLUMNS.items()})
    panel = to_panel(history)
    n, days = panel.units.shape
    dates = pd.date_range(panel.start + pd.Timedelta(days=days), periods=horizon_days, freq="D")
    if by_category:
        groups = None
        if "category" in history.columns:
            category = history.groupby(_as_text(history["product_id"]))["category"].first()
            groups = category.reindex(panel.ids).fillna("").astype(str).to_numpy()
        forecast = predict(panel.units, horizon_days, groups=groups)
    else:
        forecast = predict(panel.units, horizon_days)
    forecast = np.clip(np.nan_to_num(forecast), 0.0, None)
    return pd.DataFrame(
        {
            "product_id": np.repeat(panel.ids, horizon_days),
            "date": np.tile(dates.to_numpy(), n),
            "units_forecast": forecast.ravel(),
        }
    )


def nanmean(values: np.ndarray, axis) -> np.ndarray:
    """Mean over non-NaN values; NaN (and no warning) where there are none."""
    count = (~np.isnan(values)).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nansum(values, axis=axis) / np.where(count > 0, count, np.nan)


@dataclass(frozen=True)
class SeasonalNaive:
    """Repeats each product's last 7 days: the baseline every model must beat."""

    name: str = field(default="seasonal_naive", init=False)

    def fit_predict(self, history: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
        return forecast_frame(history, horizon_days, self.predict)

    def predict(self, units: np.ndarray, horizon_days: int) -> np.ndarray:
        last = np.pad(units, ((0, 0), (SEASON, 0)), constant_values=np.nan)[:, -SEASON:]
        last = np.where(np.isnan(last), nanmean(last, axis=1)[:, None], last)
        return np.tile(last, -(-horizon_days // SEASON))[:, :horizon_days]


@dataclass(frozen=True)
class Shelfcast:
    """Weekly totals forecast by the engine, split into days by each product's weekday profile."""

    name: str = field(default="shelfcast", init=False)
    period_days: int = 7  # 7: forecast weeks (the default); 1: forecast days directly
    season_length: int = 52  # periods per season: 52 weeks a year, or 7 days a week
    profile_weeks: int = 12
    profile_prior_units: float = 200.0

    def __post_init__(self) -> None:
        if self.period_days not in (1, SEASON):
            raise ValueError(f"period_days must be 1 or {SEASON}, got {self.period_days}")

    def fit_predict(self, history: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
        return forecast_frame(history, horizon_days, self.predict, by_category=True)

    def predict(
        self, units: np.ndarray, horizon_days: int, groups: np.ndarray | None = None
    ) -> np.ndarray:
        """Forecast (products × horizon_days) from a products × days panel (NaN = unknown).

        ``groups`` (e.g. categories) pool yearly seasonality; without them the whole panel is
        one group.
        """
        groups = np.zeros(units.shape[0]) if groups is None else groups
        if self.period_days == 1:
            return forecast_matrix(units, self.season_length, horizon_days, groups=groups)
        n, days = units.shape
        weeks = days // SEASON
        block = units[:, days - weeks * SEASON :].reshape(n, weeks, SEASON)
        # A week is known when all its days are: a product's first, partial week is left out.
        totals = np.where(np.isnan(block).any(axis=2), np.nan, block.sum(axis=2))
        weeks_ahead = -(-horizon_days // SEASON)
        weekly = forecast_matrix(totals, self.season_length, weeks_ahead, groups=groups)
        # A product younger than a week: its mean daily units so far.
        young = np.isnan(totals).all(axis=1)
        weekly[young] = np.nan_to_num(nanmean(units[young], axis=1))[:, None] * SEASON
        day = np.arange(horizon_days)
        return weekly[:, day // SEASON] / SEASON * self.weekday_profile(units)[:, day % SEASON]

    def weekday_profile(self, units: np.ndarray) -> np.ndarray:
        """Weekday multipliers (mean 1); column r is for days r, r + 7, ... after the history."""
        days = self.profile_weeks * SEASON
        recent = np.pad(units, ((0, 0), (max(0, days - units.shape[1]), 0)), constant_values=np.nan)
        block = recent[:, -days:].reshape(units.shape[0], self.profile_weeks, SEASON)
        by_weekday = nanmean(block, axis=1)
        volume = np.nansum(block, axis=(1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            own = by_weekday / nanmean(by_weekday, axis=1)[:, None]
        known = np.isfinite(own).all(axis=1)
        pooled = np.ones(SEASON)
        if known.any() and volume[known].sum() > 0:
            pooled = (volume[known, None] * own[known]).sum(axis=0) / volume[known].sum()
        weight = np.where(known, volume / (volume + self.profile_prior_units), 0.0)[:, None]
        return weight * np.nan_to_num(own) + (1 - weight) * pooled


def _lazy(module: str, factory: str, **kwargs) -> Callable[[], Forecaster]:
    """A factory that imports ``module`` only when the model is built (keeps import quick)."""

    def build() -> Forecaster:
        return getattr(importlib.import_module(f"shelfcast.core.{module}"), factory)(**kwargs)

    return build


FORECASTERS: dict[str, Callable[[], Forecaster]] = {
    "shelfcast": Shelfcast,
    "seasonal_naive": SeasonalNaive,
    "seasonal_trend": _lazy("forecast_seasonal_trend", "SeasonalTrend"),
    "auto_ets": _lazy("forecast_peers", "peer", name="auto_ets"),
    "auto_theta": _lazy("forecast_peers", "peer", name="auto_theta"),
    "croston_optimized": _lazy("forecast_peers", "peer", name="croston_optimized"),
}
DEFAULT_MODEL = "shelfcast"


def get_forecaster(name: str) -> Forecaster:
    """The registered forecaster called ``name``."""
    if name not in FORECASTERS:
        valid = ", ".join(sorted(FORECASTERS))
        raise ValueError(f"unknown forecast model {name!r}; valid models are {valid}")
    return FORECASTERS[name]()
