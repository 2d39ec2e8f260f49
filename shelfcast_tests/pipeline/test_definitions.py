"""The code location loads, and its graph is the one the design describes.

``definitions_snapshot.json`` records the whole graph (asset keys, dependencies, partitions,
groups, kinds, owners, checks, jobs, schedules, sensors): a change to the graph shows up in
review as a change to that file. Regenerate it on purpose with
``SHELFCAST_UPDATE_SNAPSHOT=1 pytest shelfcast_tests/pipeline/test_definitions.py``.
"""

import json
import os
from pathlib import Path

from dagster import AssetKey

from shelfcast import schemas
from shelfcast.definitions import defs
from shelfcast.pipeline.jobs import MONTHLY_PRICING

SNAPSHOT = Path(__file__).with_name("definitions_snapshot.json")
CONTRACTS = {
    "sales": schemas.SalesSchema,
    "products": schemas.ProductsSchema,
    "product_performance": schemas.ProductPerformanceSchema,
    "demand_forecast": schemas.DemandForecastSchema,
    "price_recommendations": schemas.PriceRecommendationsSchema,
    "partner_export": schemas.PartnerExportSchema,
    "partner_delivery": schemas.PartnerDeliverySchema,
}


def graph_snapshot() -> dict:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        partitions = node.partitions_def
        assets[key.to_user_string()] = {
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "partitions": sorted(d.name for d in partitions.partitions_defs)
            if partitions
            else None,
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "owners": sorted(node.owners),
            "tags": dict(sorted(node.tags.items())),
            "code_version": node.code_version,
            "contract": node.metadata.get("contract"),
        }
    checks = sorted(
        f"{key.asset_key.to_user_string()}:{key.name}" for key in graph.asset_check_keys
    )
    jobs = {
        job.name: sorted(k.to_user_string() for k in job.asset_layer.selected_asset_keys)
        for job in defs.resolve_all_job_defs()
        if not job.name.startswith("__")
    }
    schedules = {s.name: [s.job_name, s.cron_schedule] for s in defs.schedules or []}
    sensors = sorted(s.name for s in defs.sensors or [])
    resources = sorted(defs.resources or {})
    return {
        "assets": assets,
        "checks": checks,
        "jobs": jobs,
        "schedules": schedules,
        "sensors": sensors,
        "resources": resources,
    }


def test_the_graph_matches_its_reviewed_snapshot():
    current = graph_snapshot()
    if os.environ.get("SHELFCAST_UPDATE_SNAPSHOT"):
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    assert current == json.loads(SNAPSHOT.read_text()), (
        "the definitions changed: review the difference and regenerate the snapshot with "
        "SHELFCAST_UPDATE_SNAPSHOT=1"
    )


def test_the_seven_assets_and_their_dependencies():
    graph = defs.resolve_asset_graph()
    keys = sorted(key.to_user_string() for key in graph.get_all_asset_keys())
    assert keys == sorted(CONTRACTS)
    parents = {
        name: sorted(k.to_user_string() for k in graph.get(AssetKey(name)).parent_keys)
        for name in CONTRACTS
    }
    assert parents == {
        "sales": [],
        "products": ["sales"],  # order only: a refused sales drop keeps products unwritten
        "product_performance": ["products", "sales"],
        "demand_forecast": ["product_performance", "sales"],
        "price_recommendations": ["demand_forecast", "product_performance", "products", "sales"],
        "partner_export": ["price_recommendations", "product_performance"],
        "partner_delivery": ["partner_export"],
    }


def test_every_asset_publishes_exactly_its_contract_columns_and_names_its_contract():
    for name, contract in CONTRACTS.items():
        spec = defs.resolve_assets_def(name).specs_by_key[AssetKey(name)]
        published = [column.name for column in spec.metadata["dagster/column_schema"].columns]
        assert published == list(schemas.contract_columns(contract)), name
        assert spec.metadata["contract"] == f"shelfcast.schemas.{contract.__name__}", name


def test_the_job_schedule_and_blocking_check_resolve():
    job = defs.resolve_job_def(MONTHLY_PRICING)
    assert job.partitions_def is not None
    assert defs.resolve_schedule_def("monthly_pricing_schedule").cron_schedule == "0 6 2 * *"
    checks = defs.resolve_asset_graph().asset_check_keys
    assert any(k.name == "recommendations_satisfy_constraints" for k in checks)
