"""Where shelfcast keeps things, from the environment, with local defaults under the repo.

SHELFCAST_STORAGE   the lake the IO manager writes (default: ``<repo>/data/lake``)
SHELFCAST_LANDING   where upstream drops arrive (default: ``<repo>/data/landing``)
SHELFCAST_OUTBOX    the outbox delivery folder (default: ``<repo>/data/outbox``)
SHELFCAST_CONFIG_DIR  versioned parameter files (default: ``<repo>/configs``)
SHELFCAST_CONFIG_URL  remote parameter overlays (default: none)
Each may be a local path or any fsspec URL (``s3://bucket/prefix``).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = REPO_ROOT / "data"


def storage_url() -> str:
    return os.environ.get("SHELFCAST_STORAGE") or str(DATA_DIR / "lake")


def landing_url() -> str:
    return os.environ.get("SHELFCAST_LANDING") or str(DATA_DIR / "landing")


def outbox_url() -> str:
    return os.environ.get("SHELFCAST_OUTBOX") or str(DATA_DIR / "outbox")


def config_dir() -> str:
    return os.environ.get("SHELFCAST_CONFIG_DIR") or str(REPO_ROOT / "configs")


def config_url() -> str:
    return os.environ.get("SHELFCAST_CONFIG_URL", "")
