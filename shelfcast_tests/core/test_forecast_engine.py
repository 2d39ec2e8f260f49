"""The vectorised engine: known patterns recovered for many ragged series at once, and a
per-series choice that never loses to seasonal naive in its own backtest."""

from __future__ import annotations

import numpy as np
import pytest

from shelfcast.core.forecast_engine import (
    BACKTEST_FOLDS,
    SEASONAL_NAIVE,
    TREND,
    backtested_candidates,
    forecast_matrix,
    forecast_with_choice,
)

MONTHS = np.array([0.8, 0.85, 0.9, 1.0, 1.1, 1.2, 1.3, 1.25, 1.1, 0.95, 0.8, 0.75])  # mean 1


def right_aligned(*series: np.ndarray) -> np.ndarray:
    """Series of different lengths in one array, each ending in the last column."""
    out = np.full((len(series), max(len(s) for s in series)), np.nan)
    for row, values in enumerate(series):
        out[row, out.shape[1] - len(values) :] = values
    return out


def test_multiplicative_seasonality_and_trend_are_continued_for_ragged_series():
    rng = np.random.default_rng(1)
    series, truth = [], []
    for length in (72, 96, 126):  # ragged, like M3 monthly: different lengths in one call
        t = np.arange(length + 18)
        mean = (100 + 2 * t) * MONTHS[(t - length) % 12]  # month 0 is the first forecast one
        series.append(mean[:length] * rng.normal(1, 0.01, length))
        truth.append(mean[length:])
    forecast = forecast_matrix(right_aligned(*series), 12, 18)
    np.testing.assert_allclose(forecast, np.array(truth), rtol=0.04)


def test_a_flat_noisy_series_is_forecast_flat_at_its_level():
    rng = np.random.default_rng(2)
    y = 50 + rng.normal(0, 5, (20, 80))
    forecast = forecast_matrix(y, 12, 12)
    assert forecast.mean() == pytest.approx(50, rel=0.03)
    assert np.abs(forecast[:, -1] - forecast[:, 0]).max() < 5


def test_a_series_with_zeros_and_negatives_gets_a_finite_seasonal_forecast():
    # Net flows around zero: an additive season of ±40, a slow rise, some exact zeros.
    rng = np.random.default_rng(3)
    t = np.arange(60 + 12)
    season = 40 * (MONTHS[t % 12] - 1) / 0.3
    mean = 2 + 0.05 * t + season
    y = np.round(mean[:60] + rng.normal(0, 2, 60))
    y[::7] = 0.0
    forecast = forecast_matrix(y[None, :], 12, 12)[0]
    assert np.isfinite(forecast).all() and (forecast < 0).any() and (forecast > 0).any()
    assert np.abs(forecast - mean[60:]).mean() < 0.25 * np.abs(season).mean()
    assert np.corrcoef(forecast, season[60:])[0, 1] > 0.95


def test_a_strong_peak_is_forecast_from_one_and_from_two_seasons_of_weekly_history():
    rng = np.random.default_rng(4)
    week = np.arange(52)
    peak = np.where(np.isin(week, [46, 47, 50, 51]), 3.0, 1.0)  # holiday weeks triple sales
    peak = peak / peak.mean()
    for seasons in (1.2, 2.0):
        length = int(seasons * 52)
        t = np.arange(length + 13) - length  # week 0 is the first forecast week
        phase = (t + 40) % 52  # the horizon covers weeks 40-52, the holiday peak
        y = 100 * peak[phase] * rng.normal(1, 0.05, (20, length + 13))
        forecast = forecast_matrix(y[:, :length], 52, 13)
        actual = 100 * peak[phase[length:]]
        holiday = np.isin(phase[length:], [46, 47, 50, 51])
        assert forecast[:, holiday].mean() > 2.2 * forecast[:, ~holiday].mean()
        assert np.abs(forecast - actual).mean() < 0.15 * actual.mean()


def test_no_series_gets_a_forecast_that_did_worse_than_seasonal_naive_in_its_backtest():
    # Trending series (the trend model wins) and series whose season drifts from year to year
    # (each season the last one times noise: repeating the last season is hard to beat).
    rng = np.random.default_rng(5)
    trending = 50 + 2 * np.arange(96) + rng.normal(0, 3, (10, 96))
    drifting = 20 * np.cumprod(rng.lognormal(0, 0.3, (10, 8, 12)), axis=1).reshape(10, 96)
    y = np.vstack([trending, drifting])
    forecast, choice = forecast_with_choice(y, 12, 12)

    candidates, errors = backtested_candidates(y, 12, 12, None, True, BACKTEST_FOLDS)
    n = len(y)
    naive = errors[SEASONAL_NAIVE]
    assert (errors[choice, np.arange(n)] <= naive).all()
    np.testing.assert_allclose(forecast, candidates[choice, np.arange(n)])
    assert (choice[:10] == TREND).all()
    assert (choice[10:] != TREND).sum() >= 8


def test_many_series_at_once_give_each_series_its_own_forecast():
    rng = np.random.default_rng(6)
    lengths = rng.integers(30, 100, 40)
    series = [
        (20 + rng.normal(0, 1) * np.arange(n)) * MONTHS[np.arange(n) % 12] + rng.normal(0, 2, n)
        for n in lengths
    ]
    together = forecast_matrix(right_aligned(*series), 12, 18)
    for row in (0, 7, 39):
        alone = forecast_matrix(series[row][None, :], 12, 18)[0]
        np.testing.assert_allclose(together[row], alone, rtol=1e-9, atol=1e-9)


def test_forecasts_are_deterministic():
    rng = np.random.default_rng(7)
    y = rng.gamma(2.0, 10.0, (50, 60))
    np.testing.assert_array_equal(forecast_matrix(y, 12, 12), forecast_matrix(y, 12, 12))


def test_intermittent_series_get_a_flat_rate_and_a_dead_one_decays():
    rng = np.random.default_rng(8)
    sparse = (rng.random((30, 150)) < 0.2) * (rng.poisson(4, (30, 150)) + 1.0)  # mean 1.0
    dead = np.r_[np.full(50, 3.0), np.zeros(100)]
    forecast, choice = forecast_with_choice(np.vstack([sparse, dead]), 12, 10)
    # The TSB rate is flat; where last season did better in the backtest, the choice blends it
    # in, which keeps the mean.
    flat = choice[:30] == TREND
    assert flat.any() and np.allclose(forecast[:30][flat], forecast[:30][flat, :1])
    assert forecast[:30].mean() == pytest.approx(1.0, rel=0.25)
    assert forecast[30, 0] < 0.01


def test_rows_without_data_get_zero_and_the_horizon_is_complete():
    y = right_aligned(np.array([3.0, 4.0, 5.0]), np.array([np.nan]))
    forecast = forecast_matrix(y, 7, 9)
    assert forecast.shape == (2, 9) and (forecast[1] == 0).all()
    assert np.isfinite(forecast).all()


def test_series_borrow_their_groups_season_and_estimate_their_own_from_two_seasons():
    rng = np.random.default_rng(9)
    t = np.arange(24)  # two seasons
    summer = 100 * MONTHS[(t - 24) % 12] * rng.normal(1, 0.05, (10, 24))
    winter = 100 * MONTHS[::-1][(t - 24) % 12] * rng.normal(1, 0.05, (10, 24))
    y = np.vstack([summer, winter])
    groups = np.repeat(["summer", "winter"], 10)

    def shape_error(forecast: np.ndarray) -> float:
        shape = forecast / forecast.mean(axis=1, keepdims=True)
        return max(
            np.abs(shape[:10].mean(axis=0) - MONTHS).max(),
            np.abs(shape[10:].mean(axis=0) - MONTHS[::-1]).max(),
        )

    with_groups = shape_error(forecast_matrix(y, 12, 12, groups=groups))
    alone = shape_error(forecast_matrix(y, 12, 12))
    assert with_groups < 0.08 and alone < 0.1
