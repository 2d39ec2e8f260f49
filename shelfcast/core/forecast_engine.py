"""shelfcast's forecasting engine: many series at once, any frequency, in plain numpy.

``forecast_matrix(y, season_length, horizon)`` forecasts every row of a series × periods array
(right-aligned: a shorter series starts later, NaN before its first period). No loop runs over
series; the Python loops are over periods and backtest folds, each step updating every series.

1. **Seasonality** (``forecast_seasonality.py``): each series' own seasonal profile from as
   little as one season, recent seasons weighted most and the estimate shrunk by its noise
   toward a prior (flat, or the shrunk profile of the series' group total, e.g. its product
   category); multiplicative for positive series, additive where there are zeros or negatives.
2. **Trend** (``forecast_models.py``): on the deseasonalised series, the mean of SES with drift
   (the Theta method's model) and damped-trend Holt, parameters chosen per series; then the
   profile is put back. Intermittent series get a TSB rate instead.
3. **A choice per series, by its own backtest.** Three candidates — that trend forecast, the
   seasonal naive forecast (the last season repeated) and their mean — are scored on the
   series' own rolling-origin backtest (``BACKTEST_FOLDS`` origins, one horizon apart, every
   series and fold in one call of steps 1-2), and each series gets the candidate with the lowest
   mean absolute error there. Seasonal naive is a candidate, so no series gets a forecast that
   did worse than repeating its last season in its own backtest; where the trend model misses
   a calendar effect (a holiday peak, a shifted season) the naive or mixed forecast takes over.
   A series without a backtest fold (too short) keeps the trend forecast.
"""

from __future__ import annotations

import numpy as np

from shelfcast.core.forecast_models import (
    intermittent_rows,
    seasonal_naive,
    trend_paths,
    tsb_rate,
)
from shelfcast.core.forecast_seasonality import seasonal_profile

BACKTEST_FOLDS = 4  # rolling origins, one horizon apart (chosen on M3 monthly: 3, 4 or 6)
MAX_HISTORY_SEASONS = 30  # seasons further back weigh < 0.1 % (halflife 3): left out, for speed
MIN_HISTORY = 200  # periods kept at least, whatever the season length
CANDIDATES = ("trend", "mixed", "seasonal_naive")


def forecast_matrix(
    y: np.ndarray,
    season_length: int,
    horizon: int,
    *,
    groups: np.ndarray | None = None,
    intermittent: bool = True,
    folds: int = BACKTEST_FOLDS,
) -> np.ndarray:
    """Forecast (series × horizon) of right-aligned series ``y``; rows without data get 0.

    ``groups`` (one label per series, e.g. the product category) makes the shrunk seasonal
    profile of the group's total each series' prior. ``folds`` = 0 skips the backtest choice
    (every series gets the trend forecast).
    """
    forecast, _ = forecast_with_choice(
        y, season_length, horizon, groups=groups, intermittent=intermittent, folds=folds
    )
    return forecast


def forecast_with_choice(
    y: np.ndarray,
    season_length: int,
    horizon: int,
    *,
    groups: np.ndarray | None = None,
    intermittent: bool = True,
    folds: int = BACKTEST_FOLDS,
) -> tuple[np.ndarray, np.ndarray]:
    """``forecast_matrix``'s forecast and, per series, the index into ``CANDIDATES`` chosen."""
    y = np.asarray(y, dtype=float)
    count = (~np.isnan(y)).sum(axis=1)
    forecast = np.zeros((y.shape[0], max(horizon, 0)))
    choice = np.zeros(y.shape[0], dtype=int)
    rows = count > 0
    if horizon <= 0 or not rows.any():
        return forecast, choice
    y = y[rows]
    keep = min(count[rows].max(), max(MAX_HISTORY_SEASONS * season_length, MIN_HISTORY))
    y = y[:, y.shape[1] - keep :]  # drop periods no series has, and the distant past
    groups = None if groups is None else np.asarray(groups).astype(str)[rows]
    # The forecast and every backtest fold are one stacked call: fold 0 is the full history.
    train, actual, fold_groups = rolling_origins(y, season_length, horizon, groups, folds)
    candidates = candidate_forecasts(train, season_length, horizon, fold_groups, intermittent)
    n = y.shape[0]
    errors = backtest_errors(candidates[:, n:], actual[n:], season_length, train[n:], n)
    chosen = choose(errors)
    forecast[rows] = candidates[chosen, np.arange(n)]
    choice[rows] = chosen
    return forecast, choice


def rolling_origins(
    y: np.ndarray, m: int, horizon: int, groups: np.ndarray | None, folds: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The full history and each fold's history stacked (fold × series rows, right-aligned),
    what each fold hides (NaN for the full history), and fold-qualified group labels.

    Fold k = 1..folds hides the last k horizons; folds whose cut leaves no more than a season
    of the longest series are left out.
    """
    n, t = y.shape
    cuts = [t - k * horizon for k in range(1, folds + 1) if t - k * horizon > max(m, 1)]
    train = np.full(((len(cuts) + 1) * n, t), np.nan)
    actual = np.full(((len(cuts) + 1) * n, horizon), np.nan)
    train[:n] = y
    for k, cut in enumerate(cuts, start=1):
        # Fold k's history is y before its cut, shifted right to end in the last column.
        train[k * n : (k + 1) * n, t - cut :] = y[:, :cut]
        actual[k * n : (k + 1) * n, : min(horizon, t - cut)] = y[:, cut : cut + horizon]
    fold_groups = None
    if groups is not None:  # a group's total is taken within a fold, never across folds
        fold = np.repeat(np.arange(len(cuts) + 1), n).astype(str)
        fold_groups = np.char.add(np.char.add(fold, "|"), np.tile(groups, len(cuts) + 1))
    return train, actual, fold_groups


def candidate_forecasts(
    y: np.ndarray, m: int, horizon: int, groups: np.ndarray | None, intermittent: bool
) -> np.ndarray:
    """The ``CANDIDATES`` (candidate × series × horizon); where seasonal naive is undefined (a
    series shorter than a season) every candidate is the trend forecast."""
    profile = seasonal_profile(y, m, groups)
    trend = profile.restore(trend_paths(profile.remove(y), horizon))
    if intermittent:
        sparse = intermittent_rows(y)
        trend[sparse] = tsb_rate(y[sparse])[:, None]
    naive = seasonal_naive(y, m, horizon)
    naive = np.where(np.isnan(naive), trend, naive)
    return np.stack([trend, (trend + naive) / 2, naive])


def backtest_errors(
    forecast: np.ndarray, actual: np.ndarray, m: int, train: np.ndarray, n: int
) -> np.ndarray:
    """Mean absolute error (candidate × series) of each candidate over the series' folds.

    ``forecast`` (candidate × fold rows × horizon) and ``actual`` are the folds' rows of the
    stacked call. A series takes part in a fold when it has more than a season of history
    before the cut (so that seasonal naive is defined) and the fold's actual values are all
    known. NaN: a series without a fold.
    """
    folds = len(actual) // n
    if not folds:
        return np.full((len(CANDIDATES), n), np.nan)
    valid = ((~np.isnan(train)).sum(axis=1) > max(m, 1)) & ~np.isnan(actual).any(axis=1)
    error = np.abs(forecast - actual[None]).mean(axis=2)  # candidate × (fold, series)
    error = np.where(valid[None], error, 0.0).reshape(len(CANDIDATES), folds, n)
    used = valid.reshape(folds, n).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(used > 0, error.sum(axis=1) / used, np.nan)


def choose(errors: np.ndarray) -> np.ndarray:
    """Per series, an index into ``CANDIDATES``: the trend forecast unless seasonal naive did
    better in the backtest; then the mixed forecast if it did no worse than seasonal naive, else
    seasonal naive. So no series gets a forecast that did worse than seasonal naive in its own
    backtest. Preferring the trend forecast (rather than the lowest error of the three) keeps
    the choice from chasing noise: on M3 monthly the lowest-error rule scored MASE 0.844, this
    one 0.827.
    """
    trend, mixed, naive = np.nan_to_num(errors, nan=np.inf)
    pick = np.where(trend <= naive, 0, np.where(mixed <= naive, 1, 2))
    return np.where(np.isnan(errors).any(axis=0), 0, pick)
