"""shelfcast's forecasting engine: many series at once, any frequency, in plain numpy.

``forecast_matrix(y, season_length, horizon)`` forecasts every row of a series × periods array
(right-aligned: a shorter series starts later, NaN before its first period). No loop runs over
series; the only Python loop is over periods, each step updating every series × parameter pair.

1. **Seasonality**, when a series has three full seasons: classical multiplicative
   decomposition (ratios to a centred moving average, averaged per season position), kept when
   the ratios pass the 90 % autocorrelation test at lag ``season_length`` used by the Theta
   method (Assimakopoulos & Nikolopoulos 2000). Testing the ratios, not the raw series, keeps a
   strong trend from hiding a season. A series without its own (too short, or failing the
   test) may borrow its group's indices: the shrunk seasonal indices of its group's total
   (e.g. a product category). A seasonal series is modelled deseasonalised.
2. **Two exponential-smoothing models** on the deseasonalised series, scaled to mean 1:
   SES with drift (the state-space form of Theta, Hyndman & Billah 2003, with the drift fitted)
   and damped-trend Holt (Gardner & McKenzie 1985). Each model's parameters come from a small
   grid, chosen per series by in-sample one-step squared error. For every grid point the initial
   level and trend that minimise that error are solved exactly: the one-step errors are linear in
   the initial states, so least squares gives them from sums gathered during the one pass.
3. **The forecast is the mean of the two**, reseasonalised: combining a trend-extrapolating and
   a damped model is the classic way to be robust to both (Makridakis & Hibon 2000).
4. **Intermittent series** (average inter-demand interval > 1.32 periods, the Syntetos–Boylan
   cut-off) get a flat rate instead: TSB (smoothed probability of demand × smoothed size), which,
   unlike Croston, decays to 0 for an item that stopped selling.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

INTERMITTENT_ADI = 1.32
SEASONALITY_Z = 1.645  # one-sided 90 %: the Theta method's seasonality test
DRIFT_ALPHAS = np.linspace(0.05, 1.0, 20)
DAMPED_ALPHAS = np.array([0.1, 0.2, 0.35, 0.5, 0.75, 1.0])
DAMPED_BETAS = np.array([0.02, 0.1, 0.3])  # as a share of alpha, so beta <= alpha
DAMPED_PHIS = np.array([0.8, 0.9, 0.98])
TSB_ALPHA, TSB_BETA = 0.1, 0.1  # smoothing of demand size and of demand probability


class Fit(NamedTuple):
    """Per series: the final level and trend, and the parameters chosen (alpha, beta, phi)."""

    level: np.ndarray
    trend: np.ndarray
    params: np.ndarray


def forecast_matrix(
    y: np.ndarray,
    season_length: int,
    horizon: int,
    *,
    groups: np.ndarray | None = None,
    intermittent: bool = True,
) -> np.ndarray:
    """Forecast (series × horizon) of right-aligned series ``y``; rows without data get 0.

    ``groups`` (one label per series, e.g. the product category) lends a series that is too
    short or too noisy for its own seasonal indices the shrunk indices of its group's total.
    """
    y = np.asarray(y, dtype=float)
    count = (~np.isnan(y)).sum(axis=1)
    forecast = np.zeros((y.shape[0], horizon))
    rows = count > 0
    if horizon <= 0 or not rows.any():
        return forecast
    y = y[rows]
    y = y[:, y.shape[1] - count[rows].max() :]  # drop periods no series has
    groups = None if groups is None else np.asarray(groups)[rows]
    index, future = seasonal_indices(y, season_length, horizon, groups)
    deseasonalised = y / index
    scale = np.abs(nanmean_rows(deseasonalised))[:, None]
    scale = np.where(scale > 0, scale, 1.0)
    d = deseasonalised / scale
    steps = np.arange(1, horizon + 1)[None, :]
    drift = smooth(d, DRIFT_ALPHAS, np.zeros(1), np.ones(1))
    with_drift = drift.level[:, None] + steps * drift.trend[:, None]
    damped = smooth(d, DAMPED_ALPHAS, DAMPED_BETAS, DAMPED_PHIS)
    phi = damped.params[:, 2:3]
    damped_path = damped.level[:, None] + np.cumsum(phi**steps, axis=1) * damped.trend[:, None]
    combined = (with_drift + damped_path) / 2 * scale * future
    if intermittent:
        sparse = intermittent_rows(y)
        combined[sparse] = tsb_rate(y[sparse])[:, None]
    forecast[rows] = combined
    return forecast


def seasonal_indices(
    y: np.ndarray, m: int, horizon: int, groups: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Multiplicative seasonal index of every period of ``y`` and of the ``horizon`` after it.

    A series' own indices when it has three seasons and they pass the seasonality test; else its
    group's (``group_seasonal_indices``) when ``groups`` is given; else 1.
    """
    n, t = y.shape
    if m <= 1:
        return np.ones((n, t)), np.ones((n, horizon))
    phase = (np.arange(t) - t) % m  # phase of the first period after the history is 0
    ratio, index, complete = _ratios_by_phase(y, m)
    seasonal = (~np.isnan(y)).sum(axis=1) >= 3 * m
    seasonal &= seasonality_test(ratio, m) & complete & (index > 0.01).all(axis=1)
    fallback = np.ones((n, m)) if groups is None else group_seasonal_indices(y, groups, m)
    index = np.where(seasonal[:, None], index, fallback)
    return index[:, phase], index[:, np.arange(horizon) % m]


def group_seasonal_indices(
    y: np.ndarray, groups: np.ndarray, m: int, smooth: int = 3
) -> np.ndarray:
    """Seasonal indices (series × m) of each series' group total, shrunk by their noise.

    Group seasonal indices (Withycombe 1989): a group's total is far less noisy than its
    members, and two seasons of it give one ratio to the moving average per season position.
    Those are smoothed over ``smooth`` neighbouring positions and shrunk toward 1 by the share
    of their variance that is signal: noise is estimated from period-to-period differences of
    the ratios, so a group of one or two slow products keeps almost flat indices.
    """
    codes, labels = pd.factorize(pd.Series(groups).astype(str))
    k, t = len(labels), y.shape[1]
    total, seen = np.zeros((k, t)), np.zeros((k, t))
    np.add.at(total, codes, np.nan_to_num(y))
    np.add.at(seen, codes, ~np.isnan(y))
    total = np.where(seen > 0, total, np.nan)
    ratio, index, complete = _ratios_by_phase(total, m)
    index = np.nan_to_num(index, nan=1.0)
    smoothed = sum(
        np.roll(index, shift, axis=1) for shift in range(-(smooth // 2), smooth // 2 + 1)
    )
    smoothed = smoothed / smooth
    noise = nanmean_rows(np.diff(ratio, axis=1) ** 2) / 2  # ratio-to-ratio noise variance
    signal = np.maximum(index.var(axis=1) - noise, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        weight = np.nan_to_num(signal / (signal + noise / smooth))
    weight = np.where(complete, weight, 0.0)[:, None]
    shrunk = np.clip(1 + weight * (smoothed - 1), 0.1, None)  # a season without sales
    return (shrunk / shrunk.mean(axis=1, keepdims=True))[codes]


def _ratios_by_phase(y: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ratios to the centred moving average, their mean per season position (normalised to
    mean 1), and whether every position has one."""
    t = y.shape[1]
    phase = (np.arange(t) - t) % m
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = y / centred_moving_average(y, m)
        ratio = np.where(np.isfinite(ratio), ratio, np.nan)
        sums = np.stack([np.nansum(ratio[:, phase == p], axis=1) for p in range(m)], axis=1)
        counts = np.stack([(~np.isnan(ratio[:, phase == p])).sum(axis=1) for p in range(m)], 1)
        index = sums / counts
        index = index / index.mean(axis=1, keepdims=True)
    complete = (counts > 0).all(axis=1) & np.isfinite(index).all(axis=1)
    return ratio, index, complete


def seasonality_test(y: np.ndarray, m: int, z: float = SEASONALITY_Z) -> np.ndarray:
    """|ACF(m)| > z · sqrt((1 + 2 Σ_{k<m} ACF(k)²) / n), the Theta method's test, per series.

    ``seasonal_indices`` applies it to the ratios to the moving average rather than to the
    series itself, so that a strong trend (whose ACF is high at every lag) cannot hide a season.
    NaN values (either end) are left out.
    """
    count = (~np.isnan(y)).sum(axis=1)
    deviation = np.nan_to_num(y - nanmean_rows(y)[:, None])
    variance = (deviation**2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        acf = np.stack(
            [
                (deviation[:, k:] * deviation[:, :-k]).sum(axis=1) / variance
                for k in range(1, m + 1)
            ],
            axis=1,
        )
        limit = z * np.sqrt((1 + 2 * (acf[:, :-1] ** 2).sum(axis=1)) / count)
    return (count > m) & (variance > 0) & (np.abs(acf[:, -1]) > limit)


def nanmean_rows(y: np.ndarray) -> np.ndarray:
    """Mean of each row's non-NaN values (0 for a row without any), without warnings."""
    count = (~np.isnan(y)).sum(axis=1)
    return np.nansum(y, axis=1) / np.maximum(count, 1)


def centred_moving_average(y: np.ndarray, m: int) -> np.ndarray:
    """Centred m-period moving average (2×m for even m); NaN where the window is incomplete."""
    n, t = y.shape
    width = m + 1 if m % 2 == 0 else m
    weights = np.ones(width) / m
    if m % 2 == 0:
        weights[[0, -1]] = 0.5 / m
    out = np.full((n, t), np.nan)
    if t >= width:
        windows = np.lib.stride_tricks.sliding_window_view(y, width, axis=1)
        half = width // 2
        out[:, half : t - half] = windows @ weights  # NaN inside a window gives NaN
    return out


def smooth(y: np.ndarray, alphas, betas, phis) -> Fit:
    """Damped-trend exponential smoothing, ETS(A,Ad,N), of every series on a parameter grid.

    beta = 0 and phi = 1 is SES with a constant drift; the best grid point per series (by
    in-sample one-step squared error, with least-squares initial states) is returned.
    """
    grid = np.array([(a, b * a, p) for a in alphas for b in betas for p in phis])
    alpha, beta, phi = grid.T
    n, t = y.shape
    count = (~np.isnan(y)).sum(axis=1)
    start = t - count
    # State (level, trend) evolves as x' = D x + g y; P[k] = D^k carries the initial state.
    transition = np.zeros((len(grid), 2, 2))
    transition[:, 0] = np.stack([1 - alpha, phi * (1 - alpha)], axis=1)
    transition[:, 1] = np.stack([-beta, phi * (1 - beta)], axis=1)
    power = np.empty((t + 1, len(grid), 2, 2))
    power[0] = np.eye(2)
    for k in range(t):
        power[k + 1] = transition @ power[k]
    # How the one-step forecast k steps after the start depends on the initial level and trend.
    on_level = power[:t, :, 0, 0] + phi * power[:t, :, 1, 0]
    on_trend = power[:t, :, 0, 1] + phi * power[:t, :, 1, 1]
    zero = np.zeros((1, len(grid)))
    gram = [np.concatenate([zero, np.cumsum(a * b, axis=0)]) for a, b in
            ((on_level, on_level), (on_level, on_trend), (on_trend, on_trend))]  # fmt: skip
    x = np.nan_to_num(y)
    level, trend = np.zeros((n, len(grid))), np.zeros((n, len(grid)))
    squares, by_level, by_trend = (np.zeros((n, len(grid))) for _ in range(3))
    error, fitted = np.empty((n, len(grid))), np.empty((n, len(grid)))
    for step in range(int(start.min()), t):
        # Before a series starts its state and error stay 0, since its values there are 0.
        k = np.maximum(step - start, 0)
        trend *= phi
        np.add(level, trend, out=fitted)
        np.subtract(x[:, step, None], fitted, out=error)
        squares += error * error
        by_level += error * on_level[k]
        by_trend += error * on_trend[k]
        np.multiply(error, alpha, out=level)
        level += fitted
        trend += error * beta
    a00, a01, a11 = (g[count] for g in gram)
    a00, a11 = a00 + 1e-9, a11 + 1e-9
    det = a00 * a11 - a01 * a01
    level0 = (a11 * by_level - a01 * by_trend) / det
    trend0 = (a00 * by_trend - a01 * by_level) / det
    sse = squares - level0 * by_level - trend0 * by_trend
    best = np.argmin(sse, axis=1)
    rows = np.arange(n)
    carry = power[count, best]  # D^n: the initial state's share in the final one
    level0, trend0 = level0[rows, best], trend0[rows, best]
    return Fit(
        level[rows, best] + carry[:, 0, 0] * level0 + carry[:, 0, 1] * trend0,
        trend[rows, best] + carry[:, 1, 0] * level0 + carry[:, 1, 1] * trend0,
        grid[best],
    )


def intermittent_rows(y: np.ndarray, cutoff: float = INTERMITTENT_ADI) -> np.ndarray:
    """Series whose average inter-demand interval (periods / periods with demand) > cutoff."""
    count = (~np.isnan(y)).sum(axis=1)
    demand = (y > 0).sum(axis=1)
    return count > cutoff * demand


def tsb_rate(y: np.ndarray, alpha: float = TSB_ALPHA, beta: float = TSB_BETA) -> np.ndarray:
    """Teunter–Syntetos–Babai rate: smoothed P(demand) × smoothed demand size, per series."""
    seen = ~np.isnan(y)
    demand = y > 0
    hits = demand.sum(axis=1)
    prob = hits / np.maximum(seen.sum(axis=1), 1)  # starting values: the series' means
    size = np.where(demand, y, 0.0).sum(axis=1) / np.maximum(hits, 1)
    for step in range(y.shape[1]):  # a loop over periods, vectorised across series
        hit = demand[:, step]
        prob = np.where(seen[:, step], prob + beta * (hit - prob), prob)
        size = np.where(hit, size + alpha * (y[:, step] - size), size)
    return prob * size
