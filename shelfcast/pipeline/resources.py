"""Resources: where the deployment keeps things, the lake's IO manager and the landing zone.

``Locations`` is the one place that turns the deployment's settings into URLs. Every field left
empty falls back to its environment variable, read when a run (or the CLI) asks, so one code
location serves every deployment and a test can point a run at its own folders:

SHELFCAST_STORAGE     the lake the IO manager writes (default: ``<data>/lake``)
SHELFCAST_LANDING     where upstream drops arrive (default: ``<data>/landing``)
SHELFCAST_OUTBOX      the outbox delivery folder (default: ``<data>/outbox``)
SHELFCAST_CONFIG_DIR  versioned parameter files (default: the package's ``shelfcast/configs/``)
SHELFCAST_CONFIG_URL  remote parameter overlays (default: none)

Each may be a local path or any fsspec URL (``s3://bucket/prefix``). The versioned parameters
ship inside the package (the repository's top-level ``configs`` is a link to them), so an
installed wheel finds them as a checkout does. ``<data>`` is the checkout's ``data/`` when the
package runs from a checkout (an editable install, or ``PYTHONPATH``); an installed package has
no project folder of its own, so it is ``data/`` under the current working directory, resolved
when a location is asked for. Deployments set the three variables and never rely on it.
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

PACKAGE_DIR = Path(__file__).resolve().parents[1]
# The versioned parameters: package data, so they travel with the wheel.
CONFIG_DIR = PACKAGE_DIR / "configs"


def _checkout() -> Path | None:
    """The repository the package runs from, or None when it is installed (site-packages)."""
    root = PACKAGE_DIR.parent
    return root if (root / "pyproject.toml").is_file() else None


CHECKOUT = _checkout()


class Locations(ConfigurableResource):
    """The deployment's storage URLs; empty fields come from the environment at use.

    Unset everywhere, the lake, landing zone and outbox are ``data/lake``, ``data/landing`` and
    ``data/outbox`` under the checkout when the package runs from one, else under the current
    working directory; the parameter files are the package's own ``configs/``.
    """

    storage: str = Field(default="", description="The lake; empty: $SHELFCAST_STORAGE")
    landing: str = Field(default="", description="Landing zone; empty: $SHELFCAST_LANDING")
    outbox: str = Field(default="", description="Outbox; empty: $SHELFCAST_OUTBOX")
    config_dir: str = Field(
        default="",
        description="defaults.yaml's folder; empty: $SHELFCAST_CONFIG_DIR, else the package's",
    )
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
        return self.config_dir or os.environ.get("SHELFCAST_CONFIG_DIR") or str(CONFIG_DIR)

    def overlays_url(self) -> str:
        return (self.config_url or os.environ.get("SHELFCAST_CONFIG_URL", "")).rstrip("/")

    def lake(self) -> UPath:
        return as_upath(self.storage_url())

    def landing_zone(self) -> UPath:
        return as_upath(self.landing_url())


def _data(name: str) -> str:
    """The default folder ``name`` of the embedded mode: in the checkout, else in the cwd."""
    return str((CHECKOUT or Path.cwd()) / "data" / name)


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
