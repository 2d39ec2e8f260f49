"""Seasonal profiles: one season upward, additive where multiplicative cannot run, shrunk by noise."""

from __future__ import annotations

import numpy as np

from shelfcast.core.forecast_seasonality import (
    centred_moving_average,
    detrending_trend,
    group_seasonal_indices,
    seasonal_profile,
)

MONTHS = np.array([0.8, 0.85, 0.9, 1.0, 1.1, 1.2, 1.3, 1.25, 1.1, 0.95, 0.8, 0.75])


def test_a_season_is_found_under_a_strong_trend_and_noise_keeps_a_flat_profile():
    rng = np.random.default_rng(3)
    t = np.arange(72)
    trended = (50 + 5 * t) * np.tile(MONTHS, 6) + rng.normal(0, 1, 72)
    noise = 100 + rng.normal(0, 1, (20, 72))
    profile = seasonal_profile(np.vstack([trended, noise]), 12)
    np.testing.assert_allclose(profile.ahead(12)[0], MONTHS, atol=0.03)
    assert np.abs(profile.values[1:] - 1).mean() < 0.005


def test_ratios_where_they_are_sound_and_offsets_for_zero_seasons_or_negatives():
    t = np.arange(36)
    positive = 100 * np.tile(MONTHS, 3)
    one_zero = positive.copy()
    one_zero[5] = 0.0  # a count with a zero: ratios still work
    closed_in_winter = positive * (np.arange(36) % 12 != 11)  # nothing sold in one month
    negative = 10 * (np.tile(MONTHS, 3) - 1) + 0.1 * t
    y = np.vstack([positive, one_zero, closed_in_winter, negative])
    profile = seasonal_profile(y, 12)
    assert profile.multiplicative.tolist() == [True, True, False, False]
    np.testing.assert_allclose(profile.values[3], 10 * (MONTHS - 1), atol=0.2)
    assert np.isfinite(profile.remove(y)).all()
    assert profile.values[2, 11] < -50  # the closed month: an offset of minus its usual sales


def test_one_season_of_a_strong_pattern_is_kept_and_recent_seasons_weigh_more():
    # With a single season, signal and noise cannot be told apart: the shape is kept, shrunk.
    one = seasonal_profile(100 * MONTHS[None, :], 12).values[0]
    assert np.corrcoef(one, MONTHS)[0, 1] > 0.99
    assert 0.5 < np.ptp(one) / np.ptp(MONTHS) <= 1.0
    # The pattern flipped three seasons ago: the recent one dominates the estimate.
    old, new = MONTHS[::-1], MONTHS
    y = 100 * np.r_[np.tile(old, 3), np.tile(new, 3)][None, :]
    estimate = seasonal_profile(y, 12).values[0]
    assert np.corrcoef(estimate, new)[0, 1] > 0.8


def test_trend_is_extended_over_the_last_half_season_and_a_short_series_gets_a_line():
    y = (10 + 2.0 * np.arange(40))[None, :]
    np.testing.assert_allclose(detrending_trend(y, 12), y)
    short = np.r_[np.full(30, np.nan), 5 + 0.5 * np.arange(10)][None, :]
    trend = detrending_trend(short, 12)
    assert np.isnan(trend[0, :30]).all()
    np.testing.assert_allclose(trend[0, 30:], short[0, 30:])


def test_centred_moving_average_of_an_even_season_is_2_by_m():
    y = np.arange(1.0, 15.0)[None, :]
    average = centred_moving_average(y, 4)
    assert np.isnan(average[0, :2]).all() and np.isnan(average[0, -2:]).all()
    np.testing.assert_allclose(average[0, 2:-2], y[0, 2:-2])  # a line is its own average


def test_a_group_of_pure_noise_keeps_flat_indices():
    rng = np.random.default_rng(8)
    y = 20 * rng.gamma(2.0, 0.5, (2, 104))  # noisy, no season
    index = group_seasonal_indices(y, np.array(["a", "a"]), 52)
    assert np.abs(index - 1).max() < 0.1
