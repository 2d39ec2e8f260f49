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


def test_the_metadata_shows_the_backtest_table_and_forecast_charts():
    from shelfcast.core.forecast import get_forecaster
    from shelfcast.core.forecast_backtest import backtest
    from shelfcast.pipeline.asset_metadata import backtest_method, backtest_rows, forecast_metadata
    from shelfcast_tests.core.test_forecast import noisy_panel

    history = noisy_panel(products=6, days=200)
    groups = {f"P{i:02d}": "Snacks" if i < 3 else "Dairy" for i in range(6)}
    history = history.assign(category=history["product_id"].map(groups))
    model = get_forecaster("shelfcast")
    accuracy = backtest(history, model, 28, 2, groups=groups)
    assert backtest_method(accuracy).startswith("shelfcast vs seasonal_naive, rolling origin")
    rows = {row["category"]: row for row in backtest_rows(accuracy)}
    assert [rows[name]["products"] for name in ("Dairy", "Snacks", "all")] == [3, 3, 6]
    assert all(round(row["wape"], 3) == row["wape"] for row in rows.values())

    forecast = model.fit_predict(history, 28).assign(market="US")
    metadata = forecast_metadata(forecast, history, accuracy, "US")
    for chart in ("forecast_top_products", "forecast_by_category"):
        assert metadata[chart].value.startswith("![")
        assert "data:image/png;base64," in metadata[chart].value
    assert {"backtest_wape_US", "baseline_wape_US"} <= set(metadata)
    assert backtest_method({"folds": 0}).startswith("No backtest")
