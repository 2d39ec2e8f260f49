"""Resources: the parameters of a run, the lake's IO manager and the landing zone."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from dagster import ConfigurableIOManagerFactory, ConfigurableResource
from pydantic import Field

from shelfcast import locations, schemas
from shelfcast.platform.config import Layer, ResolvedConfig, merge_layers, patch_layer, read_layer
from shelfcast.platform.io_manager import ParquetIOManager
from shelfcast.platform.landing import read_drop
from shelfcast.platform.storage import as_upath

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


class PipelineParams(ConfigurableResource):
    """Layered parameters: versioned defaults, repo and remote overlays, then run patches."""

    patches: list[str] = Field(
        default=[],
        description="Run patches as KEY=VALUE, e.g. optimiser.max_price_change=0.1",
    )
    config_dir: str = Field(default="", description="Folder of defaults.yaml; empty: the repo's")
    config_url: str = Field(
        default="", description="Remote overlays (fsspec URL); empty: $SHELFCAST_CONFIG_URL"
    )

    def resolve(self, market: str, month: str) -> ResolvedConfig:
        """The parameters of ``market`` and ``YYYY-MM``, with the layer of every value."""
        folder = self.config_dir or locations.config_dir()
        defaults = read_layer(str(Path(folder, "defaults.yaml")))
        overlays: list[Layer | None] = [
            read_layer(str(Path(folder, "markets", f"{market}.yaml")), optional=True)
        ]
        remote = (self.config_url or locations.config_url()).rstrip("/")
        if remote:
            for name in (
                f"market={market}.yaml",
                f"month={month}.yaml",
                f"market={market}/month={month}.yaml",
            ):
                overlays.append(read_layer(f"{remote}/{name}", optional=True))
        if self.patches:
            overlays.append(patch_layer(self.patches))
        assert defaults is not None
        return merge_layers(defaults, [layer for layer in overlays if layer is not None])


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
