"""The code location loads, and its graph is the one the design describes."""

from dagster import AssetKey

from shelfcast.definitions import defs
from shelfcast.pipeline.jobs import MONTHLY_PRICING

ASSETS = [
    "sales",
    "products",
    "product_performance",
    "demand_forecast",
    "price_recommendations",
    "partner_export",
    "partner_delivery",
]


def test_the_seven_assets_and_their_dependencies():
    graph = defs.resolve_asset_graph()
    keys = sorted(key.to_user_string() for key in graph.get_all_asset_keys())
    assert keys == sorted(ASSETS)
    parents = {
        name: sorted(k.to_user_string() for k in graph.get(AssetKey(name)).parent_keys)
        for name in ASSETS
    }
    assert parents == {
        "sales": [],
        "products": [],
        "product_performance": ["products", "sales"],
        "demand_forecast": ["product_performance", "sales"],
        "price_recommendations": ["demand_forecast", "product_performance", "products", "sales"],
        "partner_export": ["price_recommendations", "product_performance"],
        "partner_delivery": ["partner_export"],
    }


def test_every_asset_publishes_its_contract_columns():
    for name in ASSETS:
        spec = defs.resolve_assets_def(name).specs_by_key[AssetKey(name)]
        schema = spec.metadata["dagster/column_schema"]
        assert len(schema.columns) >= 5, name


def test_the_job_schedule_and_blocking_check_resolve():
    job = defs.resolve_job_def(MONTHLY_PRICING)
    assert job.partitions_def is not None
    assert defs.resolve_schedule_def("monthly_pricing_schedule").cron_schedule == "0 6 2 * *"
    checks = defs.resolve_asset_graph().asset_check_keys
    assert any(k.name == "recommendations_satisfy_constraints" for k in checks)
