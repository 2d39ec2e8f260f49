"""Drift against a partition's own history, and the demo data's passage through every check."""

from __future__ import annotations

import pandas as pd
import pytest

from shelfcast.core.cleaning import IngestParams, check_complete, clean_products, clean_sales
from shelfcast.core.demo_data import GeneratorSpec, generate
from shelfcast.core.drift import drifted, products_profile, sales_profile

DEFAULTS = IngestParams(
    max_missing_days=0,
    max_unknown_products=0,
    drift_band=(0.2, 5.0),
    drift_months=6,
    drift_min_months=3,
)
HISTORY = {f"2024-0{m}": {"total_units": 1000.0 + 50 * m, "median_price": 2.0} for m in range(1, 7)}


def test_a_month_inside_the_band_does_not_drift():
    assert drifted({"total_units": 1200.0, "median_price": 2.1}, HISTORY, (0.2, 5.0), 3) == []


@pytest.mark.parametrize("metric, value", [("total_units", 1_150_000.0), ("median_price", 205.0)])
def test_thousands_of_units_and_prices_in_cents_drift_naming_metric_range_and_parameter(
    metric, value
):
    profile = {"total_units": 1150.0, "median_price": 2.0, metric: value}
    [drift] = drifted(profile, HISTORY, (0.2, 5.0), 3)
    text = drift.describe((0.2, 5.0), "ingest.drift_band")
    assert drift.metric == metric
    assert "trailing median" in text and "2024-01 … 2024-06" in text
    assert "0.2× … 5×" in text and "ingest.drift_band" in text


def test_with_too_few_trailing_months_nothing_is_judged():
    two = dict(list(HISTORY.items())[:2])
    assert drifted({"total_units": 1e9}, two, (0.2, 5.0), 3) == []


def test_a_zero_history_drifts_only_when_the_month_is_not_zero():
    zeros = {m: {"total_units": 0.0} for m in HISTORY}
    assert drifted({"total_units": 0.0}, zeros, (0.2, 5.0), 3) == []
    assert [d.metric for d in drifted({"total_units": 5.0}, zeros, (0.2, 5.0), 3)] == [
        "total_units"
    ]


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"drift_band": (1.5, 5.0)}, "ingest.drift_band must be [low, high]"),
        ({"drift_band": (0.2,)}, "ingest.drift_band must be [low, high]"),
        ({"max_missing_days": -1}, "ingest.max_missing_days must be 0 … 31"),
        ({"drift_min_months": 9}, "ingest.drift_min_months must be 1 … drift_months"),
    ],
)
def test_ingest_parameters_are_ranged(changes, expected):
    from dataclasses import asdict

    with pytest.raises(ValueError, match=expected.replace("[", r"\[").replace("…", ".")):
        IngestParams(**{**asdict(DEFAULTS), **changes})


@pytest.mark.slow
def test_the_demo_data_pass_every_completeness_and_drift_check():
    """4 markets × 36 months: the generator's seasonality, promotions and declines are real
    business, not drift, so the defaults must accept all of it."""
    spec = GeneratorSpec(first_month="2022-01", last_month="2024-12")
    currencies = {m.code: m.currency for m in spec.markets}
    profiles: dict[str, dict[str, dict[str, float]]] = {}
    refused = []
    months = 0
    for drop in generate(spec):
        months += 1
        sales = clean_sales(drop.sales, drop.market, drop.month)
        products = clean_products(drop.products, drop.market, drop.month, currencies[drop.market])
        refused += check_complete(sales, drop.month, set(products["product_id"]), DEFAULTS)
        history = profiles.setdefault(drop.market, {})
        period = pd.Period(drop.month, freq="M")
        trailing = {
            str(period - k): history[str(period - k)]
            for k in range(1, DEFAULTS.drift_months + 1)
            if str(period - k) in history
        }
        profile = sales_profile(sales, len(products))
        for found in (
            drifted(profile, trailing, DEFAULTS.drift_band, DEFAULTS.drift_min_months),
            drifted(
                products_profile(products), trailing, DEFAULTS.drift_band, DEFAULTS.drift_min_months
            ),
        ):
            refused += [
                f"{drop.market} {drop.month}: {d.describe(DEFAULTS.drift_band, 'band')}"
                for d in found
            ]
        history[drop.month] = profile
    assert months == 4 * 36
    assert refused == []
