"""The whole pipeline on 2 markets × 2 months, in-process, against a temporary lake."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from shelfcast.core.optimiser import OptimiserParams, check_recommendations
from shelfcast.pipeline.partitions import versioned_defaults
from shelfcast.pipeline.runner import run_partitions

MARKETS = ["US", "GB"]
MONTHS = ["2024-02", "2024-03"]
ASSETS = [
    "sales",
    "products",
    "product_performance",
    "demand_forecast",
    "price_recommendations",
    "partner_export",
    "partner_delivery",
]


@pytest.fixture
def lake_after_runs(workspace):
    outcomes = run_partitions(MARKETS, MONTHS, [])
    assert [o.error for o in outcomes if not o.success] == []
    return workspace


def read(workspace, asset: str, market: str, month: str) -> pd.DataFrame:
    return pd.read_parquet(workspace.lake / asset / f"market={market}" / f"month={month}.parquet")


@pytest.mark.slow
def test_two_markets_two_months_end_to_end(lake_after_runs):
    space = lake_after_runs
    defaults = versioned_defaults()

    # One Parquet object per asset per partition, nothing else in the lake; sales also holds
    # the history the forecasts read (the 24 months up to each month run, loaded in one run).
    history = [p.strftime("%Y-%m") for p in pd.period_range("2022-03", "2024-03", freq="M")]
    expected = sorted(
        [f"{a}/market={m}/month={mo}.parquet" for a in ASSETS[1:] for m in MARKETS for mo in MONTHS]
        + [f"sales/market={m}/month={mo}.parquet" for m in MARKETS for mo in history]
    )
    assert space.lake_files() == expected

    for market in MARKETS:
        for month in MONTHS:
            performance = read(space, "product_performance", market, month)
            forecast = read(space, "demand_forecast", market, month)
            recommendations = read(space, "price_recommendations", market, month)
            export = read(space, "partner_export", market, month)
            delivery = read(space, "partner_delivery", market, month)
            flagged = performance.loc[performance["is_underperforming"]]

            # The generator plants declining products: the rules must find some, not all.
            assert 0 < len(flagged) < len(performance)
            assert_flags_meet_their_rules(flagged, defaults["performance"])

            # Forecasts: every flagged product, the full horizon right after the month, >= 0.
            horizon = defaults["forecast"]["horizon_days"]
            month_end = pd.Period(month, freq="M").end_time.normalize()
            assert set(forecast["product_id"]) == set(flagged["product_id"])
            assert (forecast["units_forecast"] >= 0).all()
            dates = sorted(forecast["date"].unique())
            assert dates[0] == month_end + pd.Timedelta(days=1)
            assert len(dates) == horizon
            assert (forecast.groupby("product_id").size() == horizon).all()

            # Recommendations: one per flagged product, every constraint satisfied.
            assert set(recommendations["product_id"]) == set(flagged["product_id"])
            params = OptimiserParams(
                **{
                    **defaults["optimiser"],
                    "price_ladder": tuple(defaults["optimiser"]["price_ladder"]),
                }
            )
            assert check_recommendations(recommendations, params) == []
            changes = recommendations.loc[recommendations["is_change"]]
            assert len(changes) <= params.max_changes
            assert (changes["price_change"].abs() <= params.max_price_change + 1e-9).all()
            margin = 1 - recommendations["unit_cost"] / recommendations["recommended_price"]
            assert (margin >= params.min_margin - 1e-9).all()
            assert recommendations["discount_cost"].sum() <= params.discount_budget + 1e-6
            assert (
                recommendations["expected_margin"].sum()
                >= recommendations["baseline_margin"].sum() - 1e-6
            )

            # Export: exactly the changed products; delivery: the outbox holds them with a manifest.
            assert sorted(export["sku"]) == sorted(changes["product_id"])
            assert delivery["status"].tolist() == ["delivered"]
            outbox = space.outbox / f"market={market}" / f"month={month}"
            manifest = json.loads((outbox / "manifest.json").read_text())
            batch = json.loads((outbox / "batch.json").read_text())
            assert manifest["row_count"] == len(export) == len(batch["rows"])
            assert manifest["checksum"] == delivery["checksum"].iloc[0]


def assert_flags_meet_their_rules(flagged: pd.DataFrame, rules: dict) -> None:
    """A flagged product meets the condition of every rule it cites."""
    unbounded = lambda r: pd.isna(r.stock_cover_days)  # noqa: E731  (stock but no sales)
    conditions = {
        "demand_decline": lambda r: (
            r.demand_trend < -rules["demand_decline"]
            and r.demand_trend_z <= -rules["min_decline_z"]
        ),
        "stock_piling": lambda r: (
            (unbounded(r) or r.stock_cover_days > rules["piling_cover_days"])
            and r.demand_trend < -rules["piling_decline"]
        ),
        "overstock": lambda r: unbounded(r) or r.stock_cover_days > rules["max_stock_cover_days"],
        "yoy_decline": lambda r: r.yoy_change < -rules["yoy_decline"],
        "trend_decline": lambda r: r.trend_change < -rules["trend_decline"],
        "category_laggard": lambda r: (
            r.category_share < rules["category_share_floor"]
            and r.demand_trend < -rules["laggard_decline"]
        ),
        "low_margin": lambda r: r.margin_rate < rules["min_margin_rate"],
    }
    for row in flagged.itertuples():
        for reason in row.reasons.split(";"):
            assert conditions[reason](row), (row.product_id, reason)


@pytest.mark.slow
def test_a_month_run_beside_a_later_one_decides_as_when_it_runs_alone(
    lake_after_runs, tmp_path, monkeypatch
):
    monkeypatch.setenv("SHELFCAST_STORAGE", str(tmp_path / "alone" / "lake"))
    monkeypatch.setenv("SHELFCAST_OUTBOX", str(tmp_path / "alone" / "outbox"))
    assert run_partitions(["US"], ["2024-02"], [])[0].success
    for asset in ("demand_forecast", "price_recommendations"):
        alone = pd.read_parquet(tmp_path / f"alone/lake/{asset}/market=US/month=2024-02.parquet")
        pd.testing.assert_frame_equal(read(lake_after_runs, asset, "US", "2024-02"), alone)


@pytest.mark.slow
def test_rerunning_a_partition_gives_identical_outputs(lake_after_runs):
    space = lake_after_runs
    before = read(space, "price_recommendations", "US", "2024-03")
    assert run_partitions(["US"], ["2024-03"], [])[0].success
    pd.testing.assert_frame_equal(read(space, "price_recommendations", "US", "2024-03"), before)
    assert read(space, "partner_delivery", "US", "2024-03")["status"].tolist() == [
        "already_delivered"
    ]


@pytest.mark.slow
def test_a_patch_changes_the_decision(workspace):
    assert run_partitions(["US"], ["2024-03"], ["optimiser.max_changes=1"])[0].success
    recommendations = read(workspace, "price_recommendations", "US", "2024-03")
    assert recommendations["is_change"].sum() <= 1
