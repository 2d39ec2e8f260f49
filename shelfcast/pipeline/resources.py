"""Resources: the parameters of a run, the lake's IO manager and the landing zone."""

from __future__ import annotations

import pandas as pd
from dagster import ConfigurableIOManagerFactory, ConfigurableResource
from pydantic import Field

from shelfcast import locations, schemas
from shelfcast.pipeline.params import PipelineParams
from shelfcast.platform.io_manager import ParquetIOManager
from shelfcast.platform.landing import read_drop
from shelfcast.platform.storage import as_upath

__all__ = ["CONTRACTS", "LakeIOManager", "LandingZone", "PipelineParams"]

# The contract each asset's frames are validated against when a downstream step loads them.
CONTRACTS = {
    "sales": schemas.SalesSchema,
    "products": schemas.ProductsSchema,
    "product_performance": schemas.ProductPerformanceSchema,
    "demand_forecast": schemas.DemandForecastSchema,
    "price_recommendations": schemas.PriceRecommendationsSchema,
    "partner_export": schemas.PartnerExportSchema,
    "partner_delivery": schemas.PartnerDeliverySchema,
}


class LakeIOManager(ConfigurableIOManagerFactory):
    """Parquet in the lake at ``base_url`` (empty: $SHELFCAST_STORAGE or the repo's data/lake)."""

    base_url: str = Field(default="", description="Local folder or fsspec URL of the lake")

    def create_io_manager(self, context) -> ParquetIOManager:
        return ParquetIOManager(as_upath(self.base_url or locations.storage_url()), CONTRACTS)


class LandingZone(ConfigurableResource):
    """Upstream drops under ``<url>/<dataset>/market=<M>/month=<YYYY-MM>/``."""

    url: str = Field(
        default="", description="Local folder or fsspec URL; empty: $SHELFCAST_LANDING"
    )

    def folder(self, dataset: str, market: str, month: str):
        return (
            as_upath(self.url or locations.landing_url())
            / dataset
            / f"market={market}"
            / f"month={month}"
        )

    def read(self, dataset: str, market: str, month: str) -> pd.DataFrame:
        return read_drop(self.folder(dataset, market, month))
