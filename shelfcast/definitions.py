"""The Dagster code location of shelfcast."""

from __future__ import annotations

from dagster import Definitions, multiprocess_executor
from dagster_aws.s3 import S3Resource

from shelfcast.pipeline.assets import forecast, ingest, partner, performance, pricing
from shelfcast.pipeline.jobs import monthly_pricing, monthly_pricing_schedule, sales_history
from shelfcast.pipeline.resources import LakeIOManager, LandingZone, PipelineParams
from shelfcast.pipeline.sensors import landing_drops_sensor

defs = Definitions(
    assets=[
        ingest.sales,
        ingest.products,
        performance.product_performance,
        forecast.demand_forecast,
        pricing.price_recommendations,
        partner.partner_export,
        partner.partner_delivery,
    ],
    asset_checks=[pricing.recommendations_satisfy_constraints],
    jobs=[monthly_pricing, sales_history],
    schedules=[monthly_pricing_schedule],
    sensors=[landing_drops_sensor],
    resources={
        "io_manager": LakeIOManager(),
        "landing": LandingZone(),
        "params": PipelineParams(),
        # The landing sensor's S3 client: endpoint and credentials from the standard AWS chain.
        "s3": S3Resource(),
    },
    executor=multiprocess_executor.configured({"max_concurrent": 2}),
)
