"""A real partner API on a free 127.0.0.1 port for tests, and small calls to drive it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd

from shelfcast.partner_api.server import PartnerServer

TOKEN = "test-partner-token-6f1c2a"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@contextlib.contextmanager
def running_partner(db: Path, port: int = 0) -> Iterator[PartnerServer]:
    with PartnerServer(db, TOKEN, port=port) as server:
        yield server


def set_faults(server: PartnerServer, **faults) -> dict:
    response = httpx.post(f"{server.url}/_faults", json=faults, headers=AUTH)
    response.raise_for_status()
    return response.json()


def stored_batches(server: PartnerServer) -> list[dict]:
    return httpx.get(f"{server.url}/batches", headers=AUTH).json()["batches"]


def stats(server: PartnerServer) -> dict:
    return httpx.get(f"{server.url}/_stats", headers=AUTH).json()


def export_rows(count: int, market: str = "US", first: int = 0) -> pd.DataFrame:
    """Rows that satisfy the partner's export contract."""
    return pd.DataFrame(
        {
            "sku": [f"P{i:05d}" for i in range(first, first + count)],
            "market": market,
            "currency": "USD",
            "effective_date": "2024-04-01",
            "current_price": 9.99,
            "new_price": 8.99,
            "change_pct": -10.01,
            "reason": "overstock",
        }
    )
