"""Delivery of rows to a destination in batches, each acknowledged by a receipt.

What every destination shares lives here: canonical batch bytes, an idempotency key derived from
the scope (e.g. a partition) and the content, the receipt, and the outbox destination. The outbox
writes one data file per scope and then a manifest with the row count and checksum; a reader takes
a batch only once its manifest exists, and both files are written atomically, so nobody sees a
partial batch. Delivering the same content again finds the manifest and reports
``already_delivered`` instead of writing a second copy. The HTTP destination is in
``http_delivery``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import httpx
import pandas as pd
from upath import UPath

from shelfcast.errors import UserError
from shelfcast.platform.storage import write_bytes_atomic

DELIVERED = "delivered"
ALREADY_DELIVERED = "already_delivered"


class DeliveryError(UserError):
    """The destination refused a batch or stayed unreachable: one message saying what to fix."""


DELIVERY_KINDS = ("outbox", "http")
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class DeliveryParams:
    """Where the rows go and how hard to try (section ``delivery``); every range checked here."""

    kind: str = "outbox"  # outbox (files in object storage) or http (the partner's API)
    outbox_url: str = ""  # empty: the deployment's outbox
    url: str = ""  # the partner endpoint for kind http
    token_env: str = "PARTNER_API_TOKEN"  # the environment variable holding the token
    force: bool = False  # send again under new keys even if delivered before
    batch_size: int = 500
    timeout_seconds: float = 10.0
    max_attempts: int = 6
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 30.0
    max_retry_after_seconds: float = 120.0
    concurrency: int = 4
    effective_after_days: int = 1  # changes take effect this many days after the period

    def __post_init__(self) -> None:
        checks = [
            ("kind", self.kind in DELIVERY_KINDS,
             f"must be one of {', '.join(DELIVERY_KINDS)}, got {self.kind!r}"),
            ("batch_size", self.batch_size >= 1, f"must be >= 1, got {self.batch_size}"),
            ("timeout_seconds", 0 < self.timeout_seconds < math.inf,
             f"must be > 0, got {self.timeout_seconds}"),
            ("max_attempts", self.max_attempts >= 1, f"must be >= 1, got {self.max_attempts}"),
            ("backoff_seconds", 0 <= self.backoff_seconds < math.inf,
             f"must be >= 0, got {self.backoff_seconds}"),
            ("max_backoff_seconds", 0 <= self.max_backoff_seconds < math.inf,
             f"must be >= 0, got {self.max_backoff_seconds}"),
            ("max_retry_after_seconds", 0 <= self.max_retry_after_seconds < math.inf,
             f"must be >= 0, got {self.max_retry_after_seconds}"),
            ("concurrency", self.concurrency >= 1, f"must be >= 1, got {self.concurrency}"),
            ("effective_after_days", self.effective_after_days >= 0,
             f"must be >= 0, got {self.effective_after_days}"),
        ]  # fmt: skip
        wrong = [f"delivery.{key} {message}" for key, ok, message in checks if not ok]
        if self.kind == "http" or self.url:
            try:
                check_url(self.url)
            except DeliveryError as error:
                wrong.append(str(error))
        if wrong:
            raise DeliveryError("; ".join(wrong))


def check_url(url: str) -> httpx.URL:
    """The partner URL, refused when the token would travel in clear text or in the URL."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        raise DeliveryError(f"delivery.url {url!r} is not a URL: {error}") from None
    if parsed.userinfo:  # checked first: such a URL is never quoted in a message
        raise DeliveryError(
            "delivery.url must not hold credentials (user:password@); delivery.token_env names "
            "the environment variable of the token"
        )
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise DeliveryError(f"delivery.url {url!r}: expected https://host/path")
    if parsed.scheme == "http" and parsed.host not in LOOPBACK_HOSTS:
        raise DeliveryError(
            f"delivery.url {url!r}: plain http would send the token in clear text; use https "
            "(http is accepted only for 127.0.0.1 and localhost)"
        )
    return parsed


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


@dataclass(frozen=True)
class Batch:
    """One batch ready to send: its position, canonical bytes, key and checksum."""

    index: int
    count: int
    row_count: int
    payload: bytes
    idempotency_key: str
    checksum: str


def batch_payload(rows: pd.DataFrame, header: dict) -> bytes:
    """Canonical JSON bytes of a batch: the same rows always give the same bytes."""
    body = {**header, "rows": json.loads(rows.to_json(orient="records", double_precision=10))}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def content_key(scope: str, payload: bytes) -> tuple[str, str]:
    """Idempotency key and checksum of a batch, from its scope (e.g. a partition) and content."""
    digest = hashlib.sha256(payload).hexdigest()
    key = hashlib.sha256(f"{scope}\n{digest}".encode()).hexdigest()[:32]
    return key, f"sha256:{digest}"


def resend_salt(previous_keys: Iterable[str]) -> str:
    """What makes the keys of a forced re-send new, yet stable across retries of that re-send.

    It is derived from the keys already delivered, so a forced run that fails halfway and is run
    again reuses its keys (the destination deduplicates), while the next forced run, which sees
    the forced receipts as previous, gets new ones.
    """
    keys = "\n".join(sorted(previous_keys))
    return "resend:" + hashlib.sha256(keys.encode()).hexdigest()[:16]


def batch_sizes(row_count: int, batch_size: int) -> list[int]:
    """Rows in each batch when ``row_count`` rows go ``batch_size`` at a time (at least one)."""
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    full, rest = divmod(row_count, batch_size)
    return [batch_size] * full + ([rest] if rest or not full else [])


def plan_batches(
    scope: str, rows: pd.DataFrame, header: dict, sizes: list[int], salt: str = ""
) -> list[Batch]:
    """Split ``rows`` into consecutive batches of ``sizes`` rows, each with its key and checksum.

    Each batch's header says which batch it is (``batch``, ``batch_count``), so its bytes, and
    therefore its key, differ from every other batch of the scope.
    """
    if sum(sizes) != len(rows):
        raise ValueError(f"batch sizes {sizes} do not add up to {len(rows)} rows")
    batches, start = [], 0
    for index, size in enumerate(sizes):
        chunk = rows.iloc[start : start + size]
        start += size
        payload = batch_payload(chunk, {**header, "batch": index, "batch_count": len(sizes)})
        key, checksum = content_key(f"{scope}|{salt}" if salt else scope, payload)
        batches.append(Batch(index, len(sizes), size, payload, key, checksum))
    return batches


def delivered_before(
    previous: list[Receipt], destination: str, scope: str, rows: pd.DataFrame, header: dict
) -> bool:
    """Whether ``previous`` receipts show these very rows delivered to ``destination``.

    The rows are cut the way they were cut then (the receipts' row counts) and compared by
    checksum, so a changed batch size does not make old content look new.
    """
    if not previous or any(
        r.destination != destination or r.status not in (DELIVERED, ALREADY_DELIVERED)
        for r in previous
    ):
        return False
    sizes = [r.row_count for r in sorted(previous, key=lambda r: r.batch)]
    if sum(sizes) != len(rows):
        return False
    replanned = plan_batches(scope, rows, header, sizes)
    return [b.checksum for b in replanned] == [
        r.checksum for r in sorted(previous, key=lambda r: r.batch)
    ]


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def deliver_to_outbox(
    folder: UPath, scope: str, rows: pd.DataFrame, header: dict, force: bool = False
) -> Receipt:
    """Write ``rows`` as ``batch.json`` plus ``manifest.json`` under ``folder``.

    Identical content already in the outbox is not written again unless ``force`` is set, which
    writes it again under a new key.
    """
    payload = batch_payload(rows, header)
    manifest_path = folder / "manifest.json"
    previous = json.loads(manifest_path.read_text()) if manifest_path.exists() else None
    salt = resend_salt([previous["idempotency_key"]] if previous else []) if force else ""
    key, checksum = content_key(f"{scope}|{salt}" if salt else scope, payload)
    if previous is not None and not force and previous.get("checksum") == checksum:
        return Receipt(
            batch=0,
            idempotency_key=previous.get("idempotency_key", key),
            destination=str(folder),
            attempts=0,
            status=ALREADY_DELIVERED,
            row_count=len(rows),
            accepted_count=len(rows),
            partner_reference=previous["reference"],
            checksum=checksum,
            delivered_at=dt.datetime.fromisoformat(previous["delivered_at"]),
        )
    now = now_utc()
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
    # The manifest goes last: a reader that finds it finds the whole batch it describes.
    write_bytes_atomic(manifest_path, json.dumps(manifest, indent=2).encode())
    return Receipt(
        batch=0,
        idempotency_key=key,
        destination=str(folder),
        attempts=1,
        status=DELIVERED,
        row_count=len(rows),
        accepted_count=len(rows),
        partner_reference=str(manifest["reference"]),
        checksum=checksum,
        delivered_at=now,
    )


def receipts_frame(receipts: list[Receipt]) -> pd.DataFrame:
    columns = list(Receipt.__dataclass_fields__)
    return pd.DataFrame([asdict(r) for r in receipts], columns=columns)


def receipts_from_frame(frame: pd.DataFrame) -> list[Receipt]:
    """Receipts stored earlier (e.g. a previous materialization), back as Receipt objects."""
    return [
        Receipt(
            batch=int(row.batch),
            idempotency_key=str(row.idempotency_key),
            destination=str(row.destination),
            attempts=int(row.attempts),
            status=str(row.status),
            row_count=int(row.row_count),
            accepted_count=int(row.accepted_count),
            partner_reference=str(row.partner_reference),
            checksum=str(row.checksum),
            delivered_at=pd.Timestamp(row.delivered_at).to_pydatetime(),
        )
        for row in frame.itertuples(index=False)
    ]
