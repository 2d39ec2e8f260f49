"""The ``seasonal_trend`` forecaster: shelfcast's first daily model, kept as an alternative.

An explainable daily model built for the demand *level* over a few weeks. The default,
``shelfcast`` (see ``forecast.py``), beats it in backtests; this one stays selectable by
``forecast.model: seasonal_trend``. On a products × days array (numpy, no loop over series) it
multiplies:

- **level**: exponentially weighted mean of the last 8 weekly means (half-life 2 weeks); whole
  weeks are averaged, so the weekday mix never biases it;
- **weekday profile**: each series' ratios to a centred 7-day mean over the last 12 weeks (so a
  trend does not leak into it), shrunk toward the pooled profile by the units behind them;
- **year-over-year factor**, when the series has a year of history: demand in the target window
  last year / the level window last year (52 weeks back, same weekdays), clipped to [0.5, 2];
- **damped trend**: the slope of the weekly means once last year's seasonal movement is removed
  (so a seasonal ramp is not counted twice), damped day by day and capped at ±50 %.

The factor and the slope are noisy per series, so both are shrunk by empirical Bayes: how much
a series' own estimate is trusted depends on its noise (estimated from week-apart differences)
against the spread of true values across the panel (estimated from the panel, with a prior for
small panels). Where the data carry no signal the model falls back to level × profile, so the
extra terms cost little when they do not help. The trend weight also discounts the noise the
slope shares with the level: an unlucky last week must not be extrapolated.

**Intermittent series** (average inter-demand interval > 1.32 days over 12 weeks, the
Syntetos–Boylan cut-off) get a flat rate instead of a weekday pattern: the TSB variant of Croston
(smoothed demand probability × smoothed demand size), unbiased like SBA and, unlike Croston,
decaying to 0 for a product that stopped selling.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from shelfcast.core.forecast import SEASON, forecast_frame, nanmean

YEAR = 364  # 52 weeks: a year back on the same weekday


def _weekly_means(units: np.ndarray, weeks: int, end: int = 0) -> np.ndarray:
    """Mean daily units of the ``weeks`` weeks ending ``end`` days before the last day, latest first."""
    stop = units.shape[1] - end
    block = units[:, stop - weeks * SEASON : stop].reshape(units.shape[0], weeks, SEASON)
    return nanmean(block, axis=2)[:, ::-1]


def _weighted(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return (weights * np.nan_to_num(values)).sum(axis=1) / weights.sum(axis=1)


def _noise_variance(block: np.ndarray) -> np.ndarray:
    """Daily noise variance per series from week-apart differences (blind to weekday and level)."""
    return np.nan_to_num(nanmean((block[:, SEASON:] - block[:, :-SEASON]) ** 2, axis=1) / 2)


@dataclass(frozen=True)
class SeasonalTrend:
    """Level × weekday profile × year-over-year factor × damped trend (see the module docstring)."""

    name: str = field(default="seasonal_trend", init=False)
    level_weeks: int = 8
    level_half_life_weeks: float = 2.0
    profile_weeks: int = 12
    profile_prior_units: float = 200.0
    yoy_prior_sd: float = 0.15  # spread of true factors assumed before the panel says otherwise
    yoy_clip: tuple[float, float] = (0.5, 2.0)
    trend_prior_sd: float = 0.003  # of daily relative slopes, likewise
    trend_damping: float = 0.97  # per day
    trend_cap: float = 0.5
    intermittent_adi: float = 1.32
    tsb_size_alpha: float = 0.1
    tsb_prob_beta: float = 0.015
    tsb_weeks: int = 26

    def fit_predict(self, history: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
        return forecast_frame(history, horizon_days, self.predict)

    def predict(self, units: np.ndarray, horizon_days: int) -> np.ndarray:
        """Forecast (products × horizon_days) from a products × days panel (NaN = unknown)."""
        weeks, h = self.level_weeks, np.arange(horizon_days)
        need = YEAR + max(weeks + 1, self.profile_weeks + 1, self.tsb_weeks) * SEASON
        y = np.pad(units, ((0, 0), (max(0, need - units.shape[1]), 0)), constant_values=np.nan)

        weekly = _weekly_means(y, weeks)
        age = SEASON * np.arange(weeks) + (SEASON + 1) / 2  # days from week centre to the horizon
        decay = 0.5 ** (np.arange(weeks) / self.level_half_life_weeks)
        ew = np.where(np.isnan(weekly), 0.0, decay)
        level = _weighted(weekly, ew)
        level_age = (ew * age).sum(axis=1) / ew.sum(axis=1)

        factor, index, index_variance = self._year_over_year(y, decay, horizon_days)
        phi = self.trend_damping
        damped = phi * (1 - phi ** (h + 1)) / (1 - phi)
        slope = self._trend(
            weekly - level[:, None] * (index - 1),  # this year's weeks without last year's shape
            level,
            ew,
            _noise_variance(y[:, -(self.profile_weeks + 1) * SEASON :]),
            index_variance,
            level_age + damped[horizon_days // 2],
        )
        growth = 1 + slope[:, None] * (level_age[:, None] + damped)
        growth = np.clip(growth, 1 - self.trend_cap, 1 + self.trend_cap)
        regular = level[:, None] * growth * self._weekday_profile(y)[:, h % SEASON]

        recent = y[:, -self.profile_weeks * SEASON :]
        with np.errstate(divide="ignore", invalid="ignore"):
            adi = (~np.isnan(recent)).sum(axis=1) / (recent > 0).sum(axis=1)
        flat = np.repeat(self._tsb_rate(y)[:, None], horizon_days, axis=1)
        forecast = np.where((adi > self.intermittent_adi)[:, None], flat, regular)
        return np.clip(np.nan_to_num(forecast * factor[:, None]), 0.0, None)

    def _weekday_profile(self, y: np.ndarray) -> np.ndarray:
        """Weekday multipliers (mean 1); column r is for days r, r + 7, ... after the history.

        Each day is compared with its centred 7-day mean (ratio to moving average), so a trend
        inside the window does not leak into the weekday shape.
        """
        days = self.profile_weeks * SEASON
        block = y[:, -(days + SEASON - 1) :]  # 3 days of context either side of the window
        moving = np.lib.stride_tricks.sliding_window_view(block, SEASON, axis=1).mean(axis=2)
        centre = block[:, SEASON // 2 : SEASON // 2 + days]
        valid = ~np.isnan(moving) & ~np.isnan(centre)
        shape = (y.shape[0], self.profile_weeks, SEASON)
        sold = np.where(valid, centre, 0.0).reshape(shape).sum(axis=1)
        typical = np.where(valid, moving, 0.0).reshape(shape).sum(axis=1)
        # Window day j is (j - 3) mod 7 days after the history: reorder to that.
        sold, typical = (
            np.roll(sold, -(SEASON // 2), axis=1),
            np.roll(typical, -(SEASON // 2), axis=1),
        )
        known = (typical > 0).all(axis=1)
        pooled = sold.sum(axis=0) / typical.sum(axis=0) if known.any() else np.ones(SEASON)
        pooled = pooled / pooled.mean()
        with np.errstate(invalid="ignore", divide="ignore"):
            own = sold / typical
            own = np.where(known[:, None], own / own.mean(axis=1, keepdims=True), pooled)
        volume = typical.sum(axis=1)
        weight = np.where(known, volume / (volume + self.profile_prior_units), 0.0)[:, None]
        return weight * own + (1 - weight) * pooled

    def _year_over_year(self, y: np.ndarray, decay: np.ndarray, horizon_days: int):
        """Factor target window / level window a year ago (1 where unknown), last year's weekly
        index as used (shrunk likewise), and the relative variance that index adds to a week."""
        n, weeks, days = y.shape[0], self.level_weeks, y.shape[1]
        if horizon_days >= YEAR:
            return np.ones(n), np.ones((n, weeks)), np.zeros(n)
        weekly_ly = _weekly_means(y, weeks, end=YEAR)
        target_ly = y[:, days - YEAR : days - YEAR + horizon_days]
        weights = np.where(np.isnan(weekly_ly), 0.0, decay)
        level_ly = _weighted(weekly_ly, weights)
        known = ((weights > 0).sum(axis=1) >= weeks // 2) & ~np.isnan(target_ly).any(axis=1)
        known &= level_ly > 0
        start = days - YEAR - (weeks + 1) * SEASON
        noise = _noise_variance(y[:, start : days - YEAR + horizon_days])
        with np.errstate(invalid="ignore", divide="ignore"):
            raw = np.clip(nanmean(target_ly, axis=1) / level_ly, 0.2, 5.0)
            level_variance = (weights**2).sum(axis=1) / weights.sum(axis=1) ** 2 / SEASON
            variance = noise * (1 / horizon_days + raw**2 * level_variance) / level_ly**2
            index = np.nan_to_num(weekly_ly / level_ly[:, None] - 1)
            week_variance = np.nan_to_num(noise / SEASON / level_ly**2)
        # Shrink toward the market's factor: the ratio of the totals of all known series.
        market = (
            np.nansum(target_ly[known]) / horizon_days / level_ly[known].sum() if known.any() else 1
        )
        change, weight = _partial_pool(raw - 1, variance, known, self.yoy_prior_sd, market - 1)
        index = np.clip(1 + weight[:, None] * index, 0.25, 4.0)
        return np.clip(1 + change, *self.yoy_clip), index, weight**2 * week_variance

    def _trend(self, weekly, level, ew, noise, index_variance, distance) -> np.ndarray:
        """Least-squares daily slope of the weekly means as a share of the level, pooled."""
        w = (~np.isnan(weekly)).astype(float)
        age = SEASON * np.arange(weekly.shape[1]) + (SEASON + 1) / 2
        count = w.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            centred = (((w * age).sum(axis=1) / count)[:, None] - age) * w  # time, centred
            sxx = (centred**2).sum(axis=1)
            relative = (centred * np.nan_to_num(weekly)).sum(axis=1) / sxx / level
            week_variance = noise / SEASON / level**2  # of a weekly mean, relative to level²
            shared = week_variance * (ew * centred).sum(axis=1) / ew.sum(axis=1) / sxx
            variance = (week_variance + index_variance) / sxx
        known = (count >= 4) & (level > 0)
        relative = np.clip(relative, -0.02, 0.02)
        return _partial_pool(
            relative, variance, known, self.trend_prior_sd, 0.0, shared / distance
        )[0]

    def _tsb_rate(self, y: np.ndarray) -> np.ndarray:
        """Teunter–Syntetos–Babai rate (P(demand) × size) over the last ``tsb_weeks`` weeks."""
        window = y[:, -self.tsb_weeks * SEASON :]
        demand = window > 0
        prob = np.nan_to_num(nanmean(np.where(np.isnan(window), np.nan, demand), axis=1))
        size = np.nan_to_num(nanmean(np.where(demand, window, np.nan), axis=1))
        for day in window.T:  # a loop over days, vectorised across series
            seen, hit = ~np.isnan(day), day > 0
            prob = np.where(seen, prob + self.tsb_prob_beta * (hit - prob), prob)
            size = np.where(hit, size + self.tsb_size_alpha * (day - size), size)
        return prob * size


def _partial_pool(estimate, variance, known, prior_sd: float, centre=0.0, shared=0.0):
    """Empirical-Bayes shrinkage of per-series estimates toward ``centre``.

    tau², the spread of true values around the centre, is a method-of-moments estimate from the
    known series blended with ``prior_sd``² worth 10 series (a panel of one uses the prior). A
    series' weight on its own estimate is (tau² − shared) / (tau² + variance), clipped to [0, 1],
    where ``shared`` is the error covariance with what the estimate is added to. Returns the
    shrunk estimates (0 where unknown) and the weights.
    """
    precision = 1 / np.maximum(variance[known], 1e-12)
    k, tau2 = int(known.sum()), 0.0
    if k:
        spread = (precision * (estimate[known] - centre) ** 2).sum()
        tau2 = max(0.0, (spread - k) / precision.sum())
    tau2 = (k * tau2 + 10 * prior_sd**2) / (k + 10)
    with np.errstate(invalid="ignore", divide="ignore"):
        weight = np.clip(np.nan_to_num((tau2 - shared) / (tau2 + variance)), 0.0, 1.0)
    weight = np.where(known, weight, 0.0)
    return np.where(known, centre + weight * (np.nan_to_num(estimate) - centre), 0.0), weight
