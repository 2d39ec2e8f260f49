"""Forecasters: a registry of swappable models, complete horizons, known patterns recovered."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shelfcast.core.forecast import (
    DEFAULT_MODEL,
    FORECASTERS,
    SeasonalNaive,
    Shelfcast,
    get_forecaster,
)
from shelfcast.core.forecast_seasonal_trend import SeasonalTrend
from shelfcast.schemas import DemandForecastSchema

START = pd.Timestamp("2023-01-02")  # a Monday
WEEK = np.array([1.0, 0.8, 0.8, 0.9, 1.2, 1.6, 0.7])  # Monday … Sunday, mean 1


def long(units: dict[str, np.ndarray], start: pd.Timestamp = START) -> pd.DataFrame:
    """Long history from one daily array per product."""
    frames = [
        pd.DataFrame(
            {
                "product_id": product,
                "date": pd.date_range(start, periods=len(values), freq="D"),
                "units": values,
            }
        )
        for product, values in units.items()
    ]
    return pd.concat(frames, ignore_index=True)


def weekly(days: int) -> np.ndarray:
    return np.resize(WEEK, days)


def wide(forecast: pd.DataFrame) -> pd.DataFrame:
    return forecast.pivot(index="product_id", columns="date", values="units_forecast")


def noisy_panel(products: int, days: int, seed: int = 3) -> pd.DataFrame:
    """Seasonal, drifting, overdispersed demand: weekly pattern × yearly wave × level."""
    rng = np.random.default_rng(seed)
    t = np.arange(days)
    series = {}
    for i in range(products):
        level = rng.uniform(5, 40)
        wave = 1 + rng.uniform(0.2, 0.6) * np.sin(2 * np.pi * t / 365.25 + rng.uniform(0, 6.3))
        mean = level * weekly(days) * wave * np.exp(rng.normal(0, 0.5) * t / 365)
        series[f"P{i:02d}"] = rng.negative_binomial(5, 5 / (5 + mean)).astype(float)
    return long(series)


@pytest.mark.parametrize("model", sorted(FORECASTERS))
def test_horizon_is_complete_right_after_history_and_non_negative(model):
    history = long(
        {
            "old": np.r_[np.full(60, 10.0), np.linspace(10, 0, 40)],  # collapsing to zero
            "late": np.full(20, 3.0),  # first sold 80 days in
        }
    )
    history.loc[history["product_id"] == "late", "date"] += pd.Timedelta(days=80)
    history = history.drop(index=[5, 6, 7])  # days without a row are days without sales
    forecast = get_forecaster(model).fit_predict(history, 28)

    assert list(forecast.columns) == ["product_id", "date", "units_forecast"]
    expected = pd.date_range(START + pd.Timedelta(days=100), periods=28, freq="D")
    for _, part in forecast.groupby("product_id"):
        assert list(part["date"]) == list(expected)
    assert sorted(forecast["product_id"].unique()) == ["late", "old"]
    assert (forecast["units_forecast"] >= 0).all()
    DemandForecastSchema.validate(forecast.assign(market="US", month="2023-04", model=model))


def test_seasonal_naive_repeats_the_last_week():
    values = np.arange(1.0, 31.0)
    forecast = SeasonalNaive().fit_predict(long({"A": values}), 10)
    assert forecast["units_forecast"].tolist() == [24, 25, 26, 27, 28, 29, 30, 24, 25, 26]


def test_seasonal_trend_recovers_weekly_pattern_times_level():
    days = 20 * 7 + 3  # the history ends mid-week
    history = long({"small": 5 * weekly(days), "large": 40 * weekly(days)})
    forecast = wide(SeasonalTrend().fit_predict(history, 14))
    after = np.resize(np.roll(WEEK, -(days % 7)), 14)  # the pattern continued
    np.testing.assert_allclose(forecast.loc["small"], 5 * after, rtol=1e-6)
    np.testing.assert_allclose(forecast.loc["large"], 40 * after, rtol=1e-6)


def test_seasonal_trend_follows_a_linear_decline_and_a_rise():
    t = np.arange(140.0)
    history = long({"down": 100 - 0.4 * t, "up": 20 + 0.2 * t})
    forecast = wide(SeasonalTrend().fit_predict(history, 28))
    down, up = forecast.loc["down"].to_numpy(), forecast.loc["up"].to_numpy()
    assert (np.diff(down) < 0).all() and down.mean() < 100 - 0.4 * 139
    assert down[0] == pytest.approx(100 - 0.4 * 140, rel=0.05)  # on the line where it starts
    assert (np.diff(up) > 0).all() and up.mean() > 20 + 0.2 * 139


def test_seasonal_trend_uses_last_years_change_over_the_same_weeks():
    # Demand doubles every year in the weeks the forecast covers; it is flat elsewhere.
    days = 364 + 140
    values = np.full(days, 10.0)
    values[140:168] = 20.0  # last year's target window: 364 days before the horizon
    forecast = SeasonalTrend().fit_predict(long({"A": values}), 28)
    assert forecast["units_forecast"].to_numpy() == pytest.approx(20.0)


def test_intermittent_series_get_a_flat_rate_near_their_mean():
    rng = np.random.default_rng(7)
    series = {
        f"S{i}": (rng.random(365) < 0.1) * (rng.poisson(3, 365) + 1.0)  # mean 0.1 × 4 = 0.4
        for i in range(40)
    }
    forecast = wide(SeasonalTrend().fit_predict(long(series), 28))
    assert np.allclose(forecast.to_numpy(), forecast.iloc[:, [0]].to_numpy())  # flat
    assert forecast.to_numpy().mean() == pytest.approx(0.4, rel=0.1)


def test_missing_days_count_as_zero_sales():
    values = np.tile([5.0, 0.0, 0.0, 9.0, 0.0, 0.0, 3.0], 12)  # first and last day sold
    complete = long({"A": values})
    sparse = complete.loc[complete["units"] > 0]
    for model in FORECASTERS.values():
        pd.testing.assert_frame_equal(
            model().fit_predict(sparse, 14), model().fit_predict(complete, 14)
        )


def test_empty_history_gives_an_empty_forecast():
    empty = pd.DataFrame({"product_id": [], "date": pd.to_datetime([]), "units": []})
    forecast = SeasonalTrend().fit_predict(empty, 28)
    assert forecast.empty and list(forecast.columns) == ["product_id", "date", "units_forecast"]


def test_registry_lists_and_builds_every_model():
    assert set(FORECASTERS) == {
        "shelfcast",
        "seasonal_naive",
        "seasonal_trend",
        "auto_ets",
        "auto_theta",
        "croston_optimized",
    }
    for name in FORECASTERS:
        assert get_forecaster(name).name == name


def test_unknown_model_lists_the_valid_ones():
    with pytest.raises(ValueError, match="'prophet'") as error:
        get_forecaster("prophet")
    for name in FORECASTERS:
        assert name in str(error.value)
    assert DEFAULT_MODEL == "shelfcast" and get_forecaster(DEFAULT_MODEL).name == DEFAULT_MODEL


def test_shelfcast_recovers_weekly_pattern_times_level():
    days = 20 * 7 + 3  # the history ends mid-week
    history = long({"small": 5 * weekly(days), "large": 40 * weekly(days)})
    forecast = wide(Shelfcast().fit_predict(history, 14))
    after = np.resize(np.roll(WEEK, -(days % 7)), 14)  # the pattern continued
    np.testing.assert_allclose(forecast.loc["small"], 5 * after, rtol=0.02)
    np.testing.assert_allclose(forecast.loc["large"], 40 * after, rtol=0.02)


def test_shelfcast_continues_a_decline_and_a_rise():
    t = np.arange(140.0)
    history = long({"down": 100 - 0.4 * t, "up": 20 + 0.2 * t})
    forecast = wide(Shelfcast().fit_predict(history, 28))
    down, up = forecast.loc["down"].sum(), forecast.loc["up"].sum()
    assert down == pytest.approx((100 - 0.4 * np.arange(140, 168)).sum(), rel=0.05)
    assert up == pytest.approx((20 + 0.2 * np.arange(140, 168)).sum(), rel=0.05)


def test_shelfcast_gives_intermittent_products_a_rate_near_their_mean():
    rng = np.random.default_rng(7)
    series = {
        f"S{i}": (rng.random(365) < 0.02) * (rng.poisson(3, 365) + 1.0)  # 0.02 × 4 = 0.08 a day
        for i in range(200)
    }
    forecast = wide(Shelfcast().fit_predict(long(series), 28))
    assert forecast.to_numpy().mean() == pytest.approx(0.08, rel=0.25)


def test_shelfcast_forecasts_a_product_younger_than_a_week_at_its_mean():
    history = long({"old": 5 * weekly(70), "new": np.array([3.0, 5.0, 4.0])})
    history.loc[history["product_id"] == "new", "date"] += pd.Timedelta(days=67)
    forecast = wide(Shelfcast().fit_predict(history, 7))
    assert forecast.loc["new"].mean() == pytest.approx(4.0, rel=0.01)


def test_shelfcast_aggregates_by_week_or_by_day_only():
    assert (
        Shelfcast(period_days=1, season_length=7).fit_predict(noisy_panel(3, 100), 5).shape[0] == 15
    )
    with pytest.raises(ValueError, match="period_days"):
        Shelfcast(period_days=30)


def test_shelfcast_forecasts_yearly_seasonality_from_two_years_better_with_the_category():
    rng = np.random.default_rng(9)
    t = np.arange(728 + 28)  # two years of history (too short for a product's own), 4 weeks ahead
    waves = {"summer": np.sin(2 * np.pi * t / 364), "winter": -np.sin(2 * np.pi * t / 364)}
    frames, truth = [], {}
    for category, wave in waves.items():
        mean = 10 * (1 + 0.4 * wave)
        for i in range(10):
            product = f"{category}{i}"
            frames.append(long({product: rng.poisson(mean[:728]).astype(float)}))
            frames[-1]["category"] = category
            truth[product] = mean[728:].sum()
    history = pd.concat(frames, ignore_index=True)
    truth = pd.Series(truth)

    def error(frame: pd.DataFrame) -> float:
        totals = Shelfcast().fit_predict(frame, 28).groupby("product_id")["units_forecast"].sum()
        return float((totals - truth).abs().sum() / truth.sum())

    # Two years give each product a seasonal estimate of its own; the category's, as the prior
    # it is shrunk toward, makes it better still.
    assert error(history) < 0.05
    assert error(history) < 0.8 * error(history.drop(columns="category")) < 0.08
