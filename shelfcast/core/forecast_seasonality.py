"""Seasonal profiles of many series at once, from one season of history upward, in plain numpy.

A series' profile is one value per season position (phase 0 is the first period after its
history): a multiplicative index (mean 1) where ratios are sound — no negative value, a positive
trend, no index under ``MIN_INDEX`` (a season position with next to no sales) — and an additive
offset (mean 0) otherwise, so that zeros and negative values never break the decomposition.

1. **Detrending.** The centred moving average (2×m for even m) is the trend; where it is
   undefined, the last and first half season, it is extended by the slope of its last (first)
   half season, so the most recent season — the one that matters most — is detrended too. A
   series shorter than two seasons, whose moving average covers less than one, is detrended
   by its least-squares line.
2. **Estimate.** The detrended values of each season position are averaged over the seasons
   with weights that halve every ``halflife`` seasons: a long series' pattern drifts (retail
   calendars, tourism, employment), and the recent seasons describe the next one best.
3. **Shrinkage.** With one to three seasons an average is noisy, so it is shrunk toward a prior
   (flat, or the series' group profile) by the share of its spread that is signal (James–Stein):
   noise is the within-position scatter across seasons (with a single season, the median step
   between neighbouring periods), its effect on the weighted mean follows from the weights;
   signal is the profile's spread beyond that. A sharp peak seen in two seasons survives; a
   pattern of noise shrinks to the prior.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

HALFLIFE_SEASONS = 3.0  # a season's weight halves every 3 seasons back (chosen on M3: 2-5)
MIN_INDEX = 0.1  # a multiplicative index below this makes deseasonalising blow up: use additive


class Profile(NamedTuple):
    """Per series: the seasonal profile (series × m, phase 0 = first future period) and whether
    it is multiplicative (else additive)."""

    values: np.ndarray
    multiplicative: np.ndarray

    def of_periods(self, t: int) -> np.ndarray:
        """The profile value of each of the last ``t`` periods of the history."""
        m = self.values.shape[1]
        return self.values[:, (np.arange(t) - t) % m]

    def ahead(self, horizon: int) -> np.ndarray:
        """The profile value of each of the ``horizon`` periods after the history."""
        m = self.values.shape[1]
        return self.values[:, np.arange(horizon) % m]

    def remove(self, y: np.ndarray) -> np.ndarray:
        """The series with the season taken out (divided out, or subtracted)."""
        season = self.of_periods(y.shape[1])
        with np.errstate(divide="ignore", invalid="ignore"):  # y / 0 only in additive rows
            return np.where(self.multiplicative[:, None], y / season, y - season)

    def restore(self, path: np.ndarray) -> np.ndarray:
        """A deseasonalised forecast ``path`` with the season put back."""
        season = self.ahead(path.shape[1])
        return np.where(self.multiplicative[:, None], path * season, path + season)


def flat_profile(n: int, m: int) -> Profile:
    """No season: every index 1."""
    return Profile(np.ones((n, max(m, 1))), np.ones(n, dtype=bool))


def seasonal_profile(
    y: np.ndarray,
    m: int,
    groups: np.ndarray | None = None,
    halflife: float = HALFLIFE_SEASONS,
) -> Profile:
    """Shrunk seasonal profile of every row of right-aligned ``y`` (NaN before a series starts).

    ``groups`` (one label per row) makes each row's prior its group total's profile
    (``group_seasonal_indices``) instead of a flat one.
    """
    n, t = y.shape
    if m <= 1 or t < m:
        return flat_profile(n, m)
    seen = ~np.isnan(y)
    count = seen.sum(axis=1)
    trend = detrending_trend(y, m)
    index = None if groups is None else group_seasonal_indices(y, groups, m)
    recent = y[:, -m:]  # the level an additive prior is scaled to: the last season's mean
    level = np.abs(np.nansum(recent, axis=1) / np.maximum((~np.isnan(recent)).sum(axis=1), 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        # Ratios need a positive trend; a count with some zeros has one, a negative value or a
        # trend through zero does not.
        positive = (np.where(seen, y, np.inf).min(axis=1) >= 0) & (
            np.where(seen, trend, np.inf).min(axis=1) > 0
        )
        ratio = _shrunk(*_position_means(y / trend, m, halflife, ratios=True),
                        np.ones((n, m)) if index is None else index)  # fmt: skip
        offset = _shrunk(*_position_means(y - trend, m, halflife, ratios=False),
                         np.zeros((n, m)) if index is None else (index - 1) * level[:, None])  # fmt: skip
    known = (count >= m)[:, None]
    ratio = np.where(known, ratio, 1.0 if index is None else index)
    offset = np.where(known, offset, 0.0)
    multiplicative = positive & (ratio.min(axis=1) >= MIN_INDEX)
    return Profile(np.where(multiplicative[:, None], ratio, offset), multiplicative)


def _position_means(
    detrended: np.ndarray, m: int, halflife: float, *, ratios: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Per series: the recency-weighted mean of each season position's detrended values
    (centred: mean 1 for ratios, 0 for offsets), and the sampling variance of those means."""
    n, t = detrended.shape
    seasons = -(-t // m)
    padded = np.pad(detrended, ((0, 0), (seasons * m - t, 0)), constant_values=np.nan)
    cycles = padded.reshape(n, seasons, m)[:, ::-1]  # column = phase, cycle 0 the latest
    cycles = np.where(np.isfinite(cycles), cycles, np.nan)
    known = ~np.isnan(cycles)
    weight = 0.5 ** (np.arange(seasons) / halflife)[None, :, None] * known
    total = np.where(known.any(axis=1), weight.sum(axis=1), 1.0)
    mean = np.nansum(cycles * weight, axis=1) / total
    mean = mean / mean.mean(axis=1, keepdims=True) if ratios else mean - mean.mean(1)[:, None]
    # Noise: scatter of a position's values around their plain mean, pooled over positions.
    per_position = known.sum(axis=1)
    plain = np.nansum(cycles, axis=1) / np.maximum(per_position, 1)
    dof = np.maximum(per_position - 1, 0).sum(axis=1)
    noise = np.nansum((cycles - plain[:, None, :]) ** 2, axis=(1, 2)) / np.maximum(dof, 1)
    # One value per position (exactly one season): noise from neighbouring periods'
    # differences, by their median so that a holiday peak's two steep steps do not count.
    steps = np.abs(np.diff(detrended, axis=1))
    steps = np.where(np.isnan(steps), np.inf, steps)  # sorted last, then skipped
    middle = np.maximum((np.isfinite(steps).sum(axis=1) - 1) // 2, 0)
    median = np.sort(steps, axis=1)[np.arange(n), middle] if steps.shape[1] else np.zeros(n)
    noise = np.where(dof > 0, noise, (np.nan_to_num(median, posinf=0.0) / 0.6745) ** 2 / 2)
    # The variance of a weighted mean: noise × Σw² / (Σw)², averaged over positions.
    spread = noise * ((weight**2).sum(axis=1) / total**2).mean(axis=1)
    return mean, spread


def _shrunk(mean: np.ndarray, spread: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """``mean`` shrunk toward ``prior`` by the share of its deviation that is signal (positive-
    part James–Stein: signal = mean squared deviation − sampling variance)."""
    signal = np.maximum(((mean - prior) ** 2).mean(axis=1) - spread, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        keep = np.nan_to_num(signal / (signal + spread), nan=1.0)
    keep = np.where(np.isfinite(mean).all(axis=1), keep, 0.0)[:, None]
    return prior + keep * (np.nan_to_num(mean, nan=0.0) - prior)


def detrending_trend(y: np.ndarray, m: int) -> np.ndarray:
    """The centred moving average, extended linearly over the half seasons at either end; the
    least-squares line for a series shorter than two seasons. NaN where y is."""
    n, t = y.shape
    average = centred_moving_average(y, m)
    has = ~np.isnan(average)
    cols = np.arange(t)
    first = np.where(has.any(axis=1), has.argmax(axis=1), -1)
    last = np.where(has.any(axis=1), t - 1 - has[:, ::-1].argmax(axis=1), -1)
    rows = np.arange(n)
    span = max(m // 2, 1)
    end = average[rows, np.maximum(last, 0)]
    end_slope = (end - average[rows, np.maximum(last - span, 0)]) / np.maximum(
        np.minimum(span, last - first), 1
    )
    start = average[rows, np.maximum(first, 0)]
    start_slope = (average[rows, np.minimum(first + span, t - 1)] - start) / np.maximum(
        np.minimum(span, last - first), 1
    )
    after = end[:, None] + (cols[None, :] - last[:, None]) * end_slope[:, None]
    before = start[:, None] + (cols[None, :] - first[:, None]) * start_slope[:, None]
    trend = np.where(cols[None, :] > last[:, None], after, average)
    trend = np.where(cols[None, :] < first[:, None], before, trend)
    # Under two seasons the moving average covers less than a season, and its slope is no
    # guide for a half season either way: over one or two seasons, a line is the trend.
    short = (~np.isnan(y)).sum(axis=1) < 2 * m
    trend = np.where(short[:, None], _least_squares_line(y), trend)
    return np.where(np.isnan(y), np.nan, trend)


def _least_squares_line(y: np.ndarray) -> np.ndarray:
    """Each row's least-squares line through its known values (flat through one value)."""
    seen = ~np.isnan(y)
    count = np.maximum(seen.sum(axis=1, keepdims=True), 1)
    x = np.where(seen, np.arange(y.shape[1])[None, :], 0.0)
    xm = x.sum(axis=1, keepdims=True) / count
    ym = np.nansum(y, axis=1, keepdims=True) / count
    dx = np.where(seen, x - xm, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.nansum(dx * (y - ym), axis=1, keepdims=True) / (dx**2).sum(axis=1, keepdims=True)
    return ym + np.nan_to_num(slope) * (np.arange(y.shape[1])[None, :] - xm)


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


def group_seasonal_indices(
    y: np.ndarray, groups: np.ndarray, m: int, smooth: int = 3
) -> np.ndarray:
    """Multiplicative seasonal indices (series × m) of each series' group total, shrunk by noise.

    Group seasonal indices (Withycombe 1989): a group's total is far less noisy than its
    members. Its ratios to the moving average are averaged per season position, smoothed over
    ``smooth`` neighbouring positions and shrunk toward 1 by the share of their variance that is
    signal (noise from period-to-period differences of the ratios), so a group of one or two
    slow products keeps almost flat indices.
    """
    codes, labels = pd.factorize(pd.Series(groups).astype(str))
    k, t = len(labels), y.shape[1]
    total, seen = np.zeros((k, t)), np.zeros((k, t))
    np.add.at(total, codes, np.nan_to_num(y))
    np.add.at(seen, codes, ~np.isnan(y))
    total = np.where(seen > 0, total, np.nan)
    phase = (np.arange(t) - t) % m
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = total / centred_moving_average(total, m)
        ratio = np.where(np.isfinite(ratio), ratio, np.nan)
        sums = np.stack([np.nansum(ratio[:, phase == p], axis=1) for p in range(m)], axis=1)
        counts = np.stack([(~np.isnan(ratio[:, phase == p])).sum(axis=1) for p in range(m)], 1)
        index = sums / counts
        index = index / index.mean(axis=1, keepdims=True)
    complete = (counts > 0).all(axis=1) & np.isfinite(index).all(axis=1)
    index = np.nan_to_num(index, nan=1.0)
    half = smooth // 2
    smoothed = sum(np.roll(index, shift, axis=1) for shift in range(-half, half + 1)) / smooth
    steps = np.diff(ratio, axis=1)
    noise = np.nansum(steps**2, axis=1) / np.maximum((~np.isnan(steps)).sum(axis=1), 1) / 2
    signal = np.maximum(index.var(axis=1) - noise, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        weight = np.nan_to_num(signal / (signal + noise / smooth))
    weight = np.where(complete, weight, 0.0)[:, None]
    shrunk = np.clip(1 + weight * (smoothed - 1), 0.1, None)  # a season without sales
    return (shrunk / shrunk.mean(axis=1, keepdims=True))[codes]
