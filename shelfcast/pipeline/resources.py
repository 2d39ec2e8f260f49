"""Resources: where the deployment keeps things, the lake's IO manager and the landing zone.

``Locations`` is the one place that turns the deployment's settings into URLs. Every field left
empty falls back to its environment variable, read when a run (or the CLI) asks, so one code
location serves every deployment and a test can point a run at its own folders:

SHELFCAST_STORAGE     the lake the IO manager writes (default: ``<project>/data/lake``)
SHELFCAST_LANDING     where upstream drops arrive (default: ``<project>/data/landing``)
SHELFCAST_OUTBOX      the outbox delivery folder (default: ``<project>/data/outbox``)
SHELFCAST_CONFIG_DIR  versioned parameter files (default: the project's ``configs/``)
SHELFCAST_CONFIG_URL  remote parameter overlays (default: none)

Each may be a local path or any fsspec URL (``s3://bucket/prefix``). ``<project>`` is the
checkout the package runs from.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from dagster import ConfigurableIOManagerFactory, ConfigurableResource
from pydantic import Field
from upath import UPath

from shelfcast.platform.io_manager import ParquetIOManager
from shelfcast.platform.landing import read_drop
from shelfcast.platform.storage import as_upath

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Locations(ConfigurableResource):
    """The deployment's storage URLs; empty fields come from the environment at use."""

    storage: str = Field(default="", description="The lake; empty: $SHELFCAST_STORAGE")
    landing: str = Field(default="", description="Landing zone; empty: $SHELFCAST_LANDING")
    outbox: str = Field(default="", description="Outbox; empty: $SHELFCAST_OUTBOX")
    config_dir: str = Field(default="", description="defaults.yaml's folder; empty: the repo's")
    config_url: str = Field(
        default="", description="Remote parameter overlays; empty: $SHELFCAST_CONFIG_URL"
    )

    def storage_url(self) -> str:
        return self.storage or os.environ.get("SHELFCAST_STORAGE") or _data("lake")

    def landing_url(self) -> str:
        return self.landing or os.environ.get("SHELFCAST_LANDING") or _data("landing")

    def outbox_url(self) -> str:
        return self.outbox or os.environ.get("SHELFCAST_OUTBOX") or _data("outbox")

    def config_folder(self) -> str:
        return (
            self.config_dir
            or os.environ.get("SHELFCAST_CONFIG_DIR")
            or str(PROJECT_ROOT / "configs")
        )

    def overlays_url(self) -> str:
        return (self.config_url or os.environ.get("SHELFCAST_CONFIG_URL", "")).rstrip("/")

    def lake(self) -> UPath:
        return as_upath(self.storage_url())

    def landing_zone(self) -> UPath:
        return as_upath(self.landing_url())


def _data(name: str) -> str:
    return str(PROJECT_ROOT / "data" / name)


class LakeIOManager(ConfigurableIOManagerFactory):
    """Parquet in the lake, each frame checked against its asset's contract on write and read."""

    deployment: Locations

    def create_io_manager(self, context) -> ParquetIOManager:
        return ParquetIOManager(self.deployment.lake())


class LandingZone(ConfigurableResource):
    """Upstream drops under ``<landing>/<dataset>/market=<M>/month=<YYYY-MM>/``."""

    deployment: Locations

    def root(self) -> UPath:
        return self.deployment.landing_zone()

    def folder(self, dataset: str, market: str, month: str) -> UPath:
        return self.root() / dataset / f"market={market}" / f"month={month}"

    def read_drop(self, dataset: str, market: str, month: str) -> pd.DataFrame:
        """The partition's drop as one frame; a drop that cannot be read names its folder."""
        folder = self.folder(dataset, market, month)
        return read_drop(folder)
