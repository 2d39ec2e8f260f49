"""Single assets materialized in-process over stub upstream frames: the fast tier of the pipeline.

Each test stores tiny upstream partitions in a temporary lake through the real IO manager, then
materializes one asset with ``materialize()`` and reads what it stored, so the asset's wiring
(inputs, parameters, contract, metadata, error mapping) is exercised without a landing zone.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance, asset, materialize

from shelfcast.pipeline.assets.partner import partner_export
from shelfcast.pipeline.assets.performance import product_performance
from shelfcast.pipeline.factory import contract_metadata
from shelfcast.pipeline.params import PipelineParams
from shelfcast.pipeline.partitions import market_month, partition_key
from shelfcast.pipeline.resources import LakeIOManager, LandingZone, Locations
from shelfcast.schemas import ProductsSchema, SalesSchema

KEY = str(partition_key("US", "2024-03"))


def stub(name: str, frame: pd.DataFrame, contract):
    """An upstream asset of the pipeline's name that returns ``frame``, under ``contract``."""

    @asset(name=name, partitions_def=market_month, metadata=contract_metadata(contract))
    def upstream() -> pd.DataFrame:
        return frame

    return upstream


def sales_frame() -> pd.DataFrame:
    dates = pd.date_range("2024-03-01", "2024-03-31")
    rows = [
        {"product_id": pid, "date": day, "units": units, "price": 2.0, "promo": False}
        for pid, units in (("P1", 10), ("P2", 0))
        for day in dates
    ]
    frame = pd.DataFrame(rows).assign(market="US", month="2024-03")
    return frame.assign(revenue=frame["units"] * frame["price"])


def products_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "market": "US",
            "month": "2024-03",
            "product_id": ["P1", "P2"],
            "name": ["Tea", "Coffee"],
            "category": ["Drinks", "Drinks"],
            "currency": "USD",
            "unit_cost": [1.0, 1.0],
            "price": [2.0, 2.0],
            "stock_on_hand": [50, 400],
        }
    )


def run(tmp_path: Path, assets, patches=()):
    deployment = Locations(storage=str(tmp_path / "lake"), landing=str(tmp_path / "landing"))
    return materialize(
        assets,
        partition_key=KEY,
        resources={
            "io_manager": LakeIOManager(deployment=deployment),
            "params": PipelineParams(patches=list(patches), deployment=deployment),
            "deployment": deployment,
            "landing": LandingZone(deployment=deployment),
        },
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def stored(tmp_path: Path, asset_name: str) -> pd.DataFrame:
    return pd.read_parquet(tmp_path / "lake" / asset_name / "market=US" / "month=2024-03.parquet")


def test_product_performance_flags_the_overstocked_non_seller_and_names_the_rule(tmp_path):
    result = run(
        tmp_path,
        [
            stub("sales", sales_frame(), SalesSchema),
            stub("products", products_frame(), ProductsSchema),
            product_performance,
        ],
    )
    assert result.success
    frame = stored(tmp_path, "product_performance").set_index("product_id")
    assert "overstock" in frame.loc["P2", "reasons"] and frame.loc["P2", "is_underperforming"]
    assert not frame.loc["P1", "is_underperforming"]
    metadata = result.asset_materializations_for_node("product_performance")[0].metadata
    assert metadata["underperforming"].value == 1
    parameters = {row.data["parameter"]: row.data for row in metadata["parameters"].records}
    assert parameters["performance.max_stock_cover_days"]["layer"].startswith(
        "configs/defaults.yaml@sha256:"
    )
    assert metadata["preview"].records[0].data["revenue"].endswith(" USD")


def test_a_parameter_error_fails_the_asset_with_one_message_naming_it_and_writes_nothing(
    tmp_path,
):
    result = run(
        tmp_path,
        [
            stub("sales", sales_frame(), SalesSchema),
            stub("products", products_frame(), ProductsSchema),
            product_performance,
        ],
        patches=["performance.max_stock_cover_days=-1"],
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert failure.step_key == "product_performance"
    description = failure.step_failure_data.user_failure_data.description
    assert description.startswith("product_performance US 2024-03: ")
    assert "performance.max_stock_cover_days" in description and "(set by --patch)" in description
    assert not (tmp_path / "lake" / "product_performance").exists()


def test_an_output_that_breaks_its_contract_is_refused_before_it_is_stored(tmp_path):
    bad = products_frame().assign(unit_cost=[1.0, -3.0])
    result = run(tmp_path, [stub("products", bad, ProductsSchema)])
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    description = failure.step_failure_data.user_failure_data.description
    assert "products US 2024-03 breaks its contract ProductsSchema" in description
    assert "column 'unit_cost' fails check greater_than(0): 1 failing value(s)" in description
    assert not (tmp_path / "lake" / "products").exists()


@pytest.mark.parametrize("days", [0, 3])
def test_partner_export_dates_the_changes_days_after_the_month_ends(tmp_path, days):
    recommendations = pd.DataFrame(
        {
            "market": "US",
            "month": "2024-03",
            "product_id": ["P1"],
            "category": ["Drinks"],
            "currency": "USD",
            "unit_cost": [1.0],
            "current_price": [2.0],
            "recommended_price": [1.8],
            "price_change": [-0.1],
            "is_change": [True],
            "elasticity": [-1.5],
            "baseline_units": [10.0],
            "stock_on_hand": [50.0],
            "expected_units": [11.7],
            "expected_revenue": [21.06],
            "expected_margin": [9.36],
            "baseline_margin": [10.0],
            "discount_cost": [2.34],
        }
    )
    performance = pd.DataFrame(
        {
            "market": "US",
            "month": "2024-03",
            "product_id": ["P1"],
            "category": ["Drinks"],
            "units": [10],
            "revenue": [20.0],
            "gross_margin": [10.0],
            "margin_rate": [0.5],
            "units_last_year": [40.0],
            "yoy_change": [-0.75],
            "trend_change": [None],
            "demand_trend": [-0.6],
            "demand_trend_z": [-8.0],
            "category_share": [1.0],
            "stock_cover_days": [155.0],
            "is_underperforming": [True],
            "reasons": ["demand_decline;overstock"],
        }
    )
    from shelfcast.schemas import PriceRecommendationsSchema, ProductPerformanceSchema

    result = run(
        tmp_path,
        [
            stub("price_recommendations", recommendations, PriceRecommendationsSchema),
            stub("product_performance", performance, ProductPerformanceSchema),
            partner_export,
        ],
        patches=[f"delivery.effective_after_days={days}"],
    )
    assert result.success
    export = stored(tmp_path, "partner_export")
    month_end = pd.Timestamp("2024-03-31")
    assert export["effective_date"].tolist() == [
        (month_end + pd.Timedelta(days=days)).date().isoformat()
    ]
    assert export["sku"].tolist() == ["P1"]
    assert export["reason"].tolist() == ["demand_decline, overstock"]
    assert result.asset_materializations_for_node("partner_export")[0].asset_key == AssetKey(
        "partner_export"
    )
