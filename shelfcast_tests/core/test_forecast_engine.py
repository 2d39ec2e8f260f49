"""The vectorised engine: known patterns recovered for many ragged series at once."""

from __future__ import annotations

import numpy as np
import pytest

from shelfcast.core.forecast_engine import (
    centred_moving_average,
    forecast_matrix,
    group_seasonal_indices,
    seasonal_indices,
    smooth,
    tsb_rate,
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


def test_a_season_is_found_under_a_strong_trend_but_not_in_noise_or_short_series():
    rng = np.random.default_rng(3)
    t = np.arange(72)
    trended = (50 + 5 * t) * np.tile(MONTHS, 6) + rng.normal(0, 1, 72)
    noise = 100 + rng.normal(0, 1, 72)
    short = np.r_[np.full(37, np.nan), trended[:35]]  # fewer than three seasons
    index, future = seasonal_indices(np.stack([trended, noise, short]), 12, 12)
    np.testing.assert_allclose(future[0], MONTHS, atol=0.03)
    assert (future[1:] == 1).all() and (index[1:] == 1).all()


def test_centred_moving_average_of_an_even_season_is_2_by_m():
    y = np.arange(1.0, 15.0)[None, :]
    average = centred_moving_average(y, 4)
    assert np.isnan(average[0, :2]).all() and np.isnan(average[0, -2:]).all()
    np.testing.assert_allclose(average[0, 2:-2], y[0, 2:-2])  # a line is its own average


def test_smoothing_initial_states_are_the_least_squares_ones():
    rng = np.random.default_rng(4)
    y = (20 + 0.5 * np.arange(30) + rng.normal(0, 1, 30))[None, :]
    fit = smooth(y, [0.3], [0.1], [0.9])
    alpha, beta, phi = fit.params[0]

    def final_state(level0, trend0):
        level, trend, sse = level0, trend0, 0.0
        for value in y[0]:
            fitted = level + phi * trend
            error = value - fitted
            sse += error**2
            level, trend = fitted + alpha * error, phi * trend + beta * error
        return level, trend, sse

    # Least squares by brute force: the states that minimise the one-step squared error.
    grid = [(a, b) for a in np.linspace(15, 25, 101) for b in np.linspace(-1, 2, 61)]
    best = min(grid, key=lambda s: final_state(*s)[2])
    level, trend, _ = final_state(*best)
    assert fit.level[0] == pytest.approx(level, abs=0.05)
    assert fit.trend[0] == pytest.approx(trend, abs=0.02)


def test_intermittent_series_get_a_flat_rate_and_a_dead_one_decays():
    rng = np.random.default_rng(5)
    sparse = (rng.random((30, 150)) < 0.2) * (rng.poisson(4, (30, 150)) + 1.0)  # mean 1.0
    dead = np.r_[np.full(50, 3.0), np.zeros(100)]
    forecast = forecast_matrix(np.vstack([sparse, dead]), 12, 10)
    assert np.allclose(forecast[:30], forecast[:30, :1])
    assert forecast[:30].mean() == pytest.approx(1.0, rel=0.25)
    assert forecast[30, 0] < 0.01
    assert tsb_rate(np.zeros((1, 5)))[0] == 0.0


def test_rows_without_data_get_zero_and_the_horizon_is_complete():
    y = right_aligned(np.array([3.0, 4.0, 5.0]), np.array([np.nan]))
    forecast = forecast_matrix(y, 7, 9)
    assert forecast.shape == (2, 9) and (forecast[1] == 0).all()
    assert np.isfinite(forecast).all()


def test_series_too_short_for_their_own_season_borrow_their_groups():
    rng = np.random.default_rng(6)
    t = np.arange(24)  # two seasons: too short for a series' own indices (three needed)
    summer = 100 * MONTHS[(t - 24) % 12] * rng.normal(1, 0.05, (10, 24))
    winter = 100 * MONTHS[::-1][(t - 24) % 12] * rng.normal(1, 0.05, (10, 24))
    y = np.vstack([summer, winter])
    groups = np.repeat(["summer", "winter"], 10)

    forecast = forecast_matrix(y, 12, 12, groups=groups)
    shape = forecast / forecast.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(shape[:10].mean(axis=0), MONTHS, atol=0.08)
    np.testing.assert_allclose(shape[10:].mean(axis=0), MONTHS[::-1], atol=0.08)
    alone = forecast_matrix(y, 12, 12)  # without groups: no season at all
    alone = alone / alone.mean(axis=1, keepdims=True)
    assert np.abs(alone[:10].mean(axis=0) - MONTHS).max() > 0.2


def test_a_group_of_pure_noise_keeps_flat_indices():
    rng = np.random.default_rng(8)
    y = 20 * rng.gamma(2.0, 0.5, (2, 104))  # noisy, no season
    index = group_seasonal_indices(y, np.array(["a", "a"]), 52)
    assert np.abs(index - 1).max() < 0.1
