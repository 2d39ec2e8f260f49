"""Switching the forecaster by a run patch changes the model and nothing else in the path."""

from __future__ import annotations

import pandas as pd
import pytest

from shelfcast.core.forecast import FORECASTERS
from shelfcast.pipeline.runner import run_partitions
from shelfcast.platform.config import ConfigError


def read(workspace, asset: str) -> pd.DataFrame:
    return pd.read_parquet(workspace.lake / asset / "market=US" / "month=2024-03.parquet")


@pytest.mark.slow
def test_a_patch_switches_the_model_and_prices_are_still_recommended(workspace):
    outcomes = run_partitions(["US"], ["2024-03"], ["forecast.model=auto_theta"])
    assert [o.error for o in outcomes if not o.success] == []

    forecast = read(workspace, "demand_forecast")
    recommendations = read(workspace, "price_recommendations")
    assert not forecast.empty and set(forecast["model"]) == {"auto_theta"}
    assert set(recommendations["product_id"]) == set(forecast["product_id"])
    assert (recommendations["baseline_units"] >= 0).all()


def test_an_unknown_model_stops_before_any_run_naming_the_valid_ones(workspace):
    with pytest.raises(ConfigError, match="'prophet'") as error:
        run_partitions(["US"], ["2024-03"], ["forecast.model=prophet"])
    for name in FORECASTERS:
        assert name in str(error.value)
    assert not workspace.lake.exists()


def test_the_metadata_shows_the_backtest_table_and_a_forecast_plot():
    from shelfcast.core.forecast import get_forecaster
    from shelfcast.core.forecast_backtest import backtest
    from shelfcast.pipeline.assets.forecast import backtest_summary, forecast_plot
    from shelfcast_tests.core.test_forecast import noisy_panel

    history = noisy_panel(products=6, days=200)
    groups = {f"P{i:02d}": "Snacks" if i < 3 else "Dairy" for i in range(6)}
    model = get_forecaster("shelfcast")
    summary = backtest_summary(backtest(history, model, 28, 2, groups=groups))
    assert "`shelfcast` vs `seasonal_naive`" in summary
    assert (
        "| Dairy | 3 |" in summary and "| Snacks | 3 |" in summary and "| **all** | 6 |" in summary
    )

    plot = forecast_plot(history, model.fit_predict(history, 28))
    line = plot.split("```")[1].strip()
    assert len(line.split(" | ")[0]) == 26 and len(line.split(" | ")[1]) == 4
    assert backtest_summary({"folds": 0}).startswith("No backtest")
