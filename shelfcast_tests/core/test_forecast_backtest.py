"""Rolling-origin backtest: scores per category and overall, and the default beats naive."""

from __future__ import annotations

import math

import numpy as np
import pytest

from shelfcast.core.forecast import SeasonalNaive, get_forecaster
from shelfcast.core.forecast_backtest import accuracy_table, backtest
from shelfcast.core.forecast_seasonal_trend import SeasonalTrend
from shelfcast_tests.core.test_forecast import long, noisy_panel, weekly

GROUPS = {f"P{i:02d}": "even" if i % 2 == 0 else "odd" for i in range(30)}


@pytest.mark.parametrize("model", ["shelfcast", "seasonal_trend"])
def test_the_model_beats_seasonal_naive_overall_and_per_category(model):
    history = noisy_panel(products=30, days=2 * 365)
    scores = backtest(history, get_forecaster(model), 28, 4, groups=GROUPS)
    assert scores["model"] == model and scores["folds"] == 4
    assert scores["wape"] < 0.9 * scores["baseline_wape"]
    assert scores["mase"] < scores["baseline_mase"]
    assert set(scores["per_category"]) == {"even", "odd"}
    for group in scores["per_category"].values():
        assert group["products"] == 15
        assert group["wape"] < group["baseline_wape"]
        assert group["mase"] < group["baseline_mase"]


def test_the_accuracy_table_has_a_row_per_category_and_one_for_all():
    scores = backtest(
        noisy_panel(products=30, days=200), get_forecaster("shelfcast"), 28, 2, GROUPS
    )
    table = accuracy_table(scores).splitlines()
    assert table[0].startswith("| category | products | WAPE")
    assert [row.split(" | ")[0] for row in table[2:]] == ["| even", "| odd", "| **all**"]
    assert table[-1].split(" | ")[1] == "30"
    assert f"{scores['wape']:.3f}" in table[-1] and f"{scores['baseline_mase']:.3f}" in table[-1]


def test_backtest_of_the_baseline_scores_like_the_baseline():
    history = noisy_panel(products=5, days=120)
    scores = backtest(history, SeasonalNaive(), 14, 2)
    assert scores["wape"] == pytest.approx(scores["baseline_wape"])
    assert scores["mase"] == pytest.approx(scores["baseline_mase"])


def test_backtest_on_too_short_history_has_no_folds():
    scores = backtest(long({"A": np.full(40, 3.0)}), SeasonalTrend(), 28, 2)
    assert scores["folds"] == 0
    assert all(math.isnan(scores[k]) for k in ("wape", "mase", "baseline_wape", "baseline_mase"))


def test_backtest_skips_only_the_folds_that_are_too_short():
    scores = backtest(long({"A": 5 * weekly(70)}), SeasonalTrend(), 14, 5)
    assert scores["folds"] == 3  # cuts at 56, 42, 28 days; 14 is too short
    assert scores["wape"] == pytest.approx(0.0, abs=1e-9)
