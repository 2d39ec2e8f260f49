"""The Dagster code location of shelfcast: the assets, and the resources of the deployment.

Locations are resolved here and nowhere else: every resource that touches storage reads them
from the one ``Locations`` resource, whose empty fields fall back to the environment
(``SHELFCAST_STORAGE``, ``SHELFCAST_LANDING``, ``SHELFCAST_OUTBOX``, ``SHELFCAST_CONFIG_DIR``,
``SHELFCAST_CONFIG_URL``) when a run starts. The embedded default keeps data under the
checkout's ``data/`` (an installed package: the working directory's); production sets S3 URLs
in the same variables. Where steps execute is the deployment's too (``SHELFCAST_EXECUTOR``, see
``shelfcast.pipeline.executors``).
"""

from __future__ import annotations

from dagster import Definitions, colored_console_logger

from shelfcast.pipeline.assets import forecast, ingest, partner, performance, pricing
from shelfcast.pipeline.executors import deployment_executor
from shelfcast.pipeline.jobs import monthly_pricing, monthly_pricing_schedule, sales_history
from shelfcast.pipeline.loggers import cli_logger
from shelfcast.pipeline.params import PipelineParams, checked_at_launch
from shelfcast.pipeline.resources import LakeIOManager, LandingZone, Locations
from shelfcast.pipeline.sensors import landing_drops_sensor, latest_parameters_sensor

deployment = Locations()

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
    sensors=[landing_drops_sensor, latest_parameters_sensor],
    resources={
        "deployment": deployment,
        "io_manager": LakeIOManager(deployment=deployment),
        "landing": LandingZone(deployment=deployment),
        # Run patches are checked when a run is launched, not only when its first step starts.
        "params": checked_at_launch(PipelineParams(deployment=deployment)),
    },
    # Dagster's console logger for every run; `shelfcast run` selects its one-line logger.
    loggers={"console": colored_console_logger, "shelfcast_cli": cli_logger},
    # Steps in processes of their own, on Celery workers or as Kubernetes Jobs: SHELFCAST_EXECUTOR.
    executor=deployment_executor(),
)
