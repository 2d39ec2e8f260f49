"""Delivery of a batch of rows to a destination, with a receipt.

The outbox destination writes one data file per partition and then a manifest with the row count
and checksum; a reader takes a batch only once its manifest exists, and both files are written
atomically, so nobody sees a partial batch. Delivering the same content again finds the manifest
and reports ``already_delivered`` instead of writing a second copy.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass

import pandas as pd
from upath import UPath

from shelfcast.platform.storage import write_bytes_atomic


@dataclass(frozen=True)
class Receipt:
    """What the destination acknowledged for one batch."""

    batch: int
    idempotency_key: str
    destination: str
    attempts: int
    status: str
    row_count: int
    accepted_count: int
    partner_reference: str
    checksum: str
    delivered_at: dt.datetime


def batch_payload(rows: pd.DataFrame, header: dict) -> bytes:
    """Canonical JSON bytes of a batch: the same rows always give the same bytes."""
    body = {**header, "rows": json.loads(rows.to_json(orient="records", double_precision=10))}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def content_key(scope: str, payload: bytes) -> tuple[str, str]:
    """Idempotency key and checksum of a batch, from its scope (e.g. a partition) and content."""
    digest = hashlib.sha256(payload).hexdigest()
    key = hashlib.sha256(f"{scope}\n{digest}".encode()).hexdigest()[:32]
    return key, f"sha256:{digest}"


def deliver_to_outbox(folder: UPath, scope: str, rows: pd.DataFrame, header: dict) -> Receipt:
    """Write ``rows`` as ``batch.json`` plus ``manifest.json`` under ``folder``."""
    payload = batch_payload(rows, header)
    key, checksum = content_key(scope, payload)
    manifest_path = folder / "manifest.json"
    if manifest_path.exists():
        previous = json.loads(manifest_path.read_text())
        if previous.get("checksum") == checksum:
            return Receipt(
                batch=0,
                idempotency_key=key,
                destination=str(folder),
                attempts=0,
                status="already_delivered",
                row_count=len(rows),
                accepted_count=len(rows),
                partner_reference=previous["reference"],
                checksum=checksum,
                delivered_at=dt.datetime.fromisoformat(previous["delivered_at"]),
            )
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    write_bytes_atomic(folder / "batch.json", payload)
    manifest = {
        "scope": scope,
        "idempotency_key": key,
        "row_count": len(rows),
        "checksum": checksum,
        "file": "batch.json",
        "reference": f"outbox:{key[:12]}",
        "delivered_at": now.isoformat(),
    }
    write_bytes_atomic(manifest_path, json.dumps(manifest, indent=2).encode())
    return Receipt(
        batch=0,
        idempotency_key=key,
        destination=str(folder),
        attempts=1,
        status="delivered",
        row_count=len(rows),
        accepted_count=len(rows),
        partner_reference=manifest["reference"],
        checksum=checksum,
        delivered_at=now,
    )


def receipts_frame(receipts: list[Receipt]) -> pd.DataFrame:
    return pd.DataFrame([asdict(r) for r in receipts])
