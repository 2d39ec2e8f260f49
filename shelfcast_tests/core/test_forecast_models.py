"""The engine's models: exact least-squares initial states, the TSB rate, seasonal naive."""

from __future__ import annotations

import numpy as np
import pytest

from shelfcast.core.forecast_models import seasonal_naive, smooth, tsb_rate


def test_smoothing_initial_states_are_the_least_squares_ones():
    rng = np.random.default_rng(4)
    y = (20 + 0.5 * np.arange(30) + rng.normal(0, 1, 30))[None, :]
    fit = smooth(y, [0.3], [0.1 / 0.3], [0.9])
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


def test_tsb_rate_of_no_demand_is_zero_and_of_steady_demand_its_mean():
    assert tsb_rate(np.zeros((1, 5)))[0] == 0.0
    assert tsb_rate(np.tile([0.0, 4.0], 20)[None, :])[0] == pytest.approx(2.0, rel=0.1)


def test_seasonal_naive_repeats_the_last_season_and_is_undefined_before_one():
    y = np.arange(1.0, 9.0)[None, :]
    assert seasonal_naive(y, 3, 5).tolist() == [[6, 7, 8, 6, 7]]
    assert np.isnan(seasonal_naive(y, 12, 2)).all()
