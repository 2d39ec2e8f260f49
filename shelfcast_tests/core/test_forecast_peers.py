"""statsforecast's models behind the Forecaster protocol: the contract shape on a tiny panel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shelfcast.core.forecast import get_forecaster
from shelfcast.core.forecast_peers import PEERS, StatsForecastPeer
from shelfcast.schemas import DemandForecastSchema
from shelfcast_tests.core.test_forecast import START, long, weekly


def tiny_panel() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    history = long(
        {
            "steady": 10 * weekly(84) + rng.normal(0, 0.5, 84),
            "sparse": (rng.random(84) < 0.15) * 2.0,
            "stopped": np.r_[np.full(40, 3.0), np.zeros(44)],
            "new": np.array([2.0, 4.0, 3.0, 5.0, 1.0]),  # too short for these models
        }
    )
    history.loc[history["product_id"] == "new", "date"] += pd.Timedelta(days=79)
    return history


@pytest.mark.parametrize("name", PEERS)
def test_each_peer_returns_a_complete_non_negative_horizon(name):
    forecast = get_forecaster(name).fit_predict(tiny_panel(), 10)
    assert list(forecast.columns) == ["product_id", "date", "units_forecast"]
    expected = pd.date_range(START + pd.Timedelta(days=84), periods=10, freq="D")
    for _, part in forecast.groupby("product_id"):
        assert list(part["date"]) == list(expected)
    assert set(forecast["product_id"]) == {"steady", "sparse", "stopped", "new"}
    assert (forecast["units_forecast"] >= 0).all() and forecast["units_forecast"].notna().all()
    DemandForecastSchema.validate(forecast.assign(market="US", month="2023-03", model=name))
    by_product = forecast.groupby("product_id")["units_forecast"].mean()
    assert by_product["steady"] == pytest.approx(10, rel=0.15)
    assert by_product["new"] == pytest.approx(3.0)  # the mean of its days


def test_auto_ets_keeps_the_weekly_pattern():
    forecast = get_forecaster("auto_ets").fit_predict(long({"A": 10 * weekly(84)}), 7)
    after = np.roll(10 * weekly(7), -(84 % 7))
    np.testing.assert_allclose(forecast["units_forecast"], after, rtol=0.05)


def test_an_unknown_peer_is_refused():
    with pytest.raises(ValueError, match="auto_arima"):
        StatsForecastPeer("auto_arima")
