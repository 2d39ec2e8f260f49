"""Outbox delivery: batch plus manifest, idempotent on identical content."""

import hashlib
import json
from pathlib import Path

import pandas as pd

from shelfcast.platform.delivery import deliver_to_outbox
from shelfcast.platform.storage import as_upath

ROWS = pd.DataFrame({"sku": ["A", "B"], "new_price": [1.99, 2.49]})


def test_batch_and_manifest_agree_on_count_and_checksum(tmp_path: Path):
    receipt = deliver_to_outbox(as_upath(tmp_path), "US|2024-03", ROWS, {"market": "US"})
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    batch = (tmp_path / "batch.json").read_bytes()
    assert manifest["row_count"] == 2 == receipt.row_count == receipt.accepted_count
    assert manifest["checksum"] == f"sha256:{hashlib.sha256(batch).hexdigest()}" == receipt.checksum
    assert json.loads(batch)["rows"][1] == {"sku": "B", "new_price": 2.49}
    assert receipt.status == "delivered" and receipt.attempts == 1


def test_delivering_the_same_batch_again_writes_nothing_new(tmp_path: Path):
    first = deliver_to_outbox(as_upath(tmp_path), "US|2024-03", ROWS, {"market": "US"})
    modified = (tmp_path / "manifest.json").stat().st_mtime_ns
    second = deliver_to_outbox(as_upath(tmp_path), "US|2024-03", ROWS, {"market": "US"})
    assert second.status == "already_delivered"
    assert second.idempotency_key == first.idempotency_key
    assert (tmp_path / "manifest.json").stat().st_mtime_ns == modified


def test_changed_content_gets_a_new_key(tmp_path: Path):
    first = deliver_to_outbox(as_upath(tmp_path), "US|2024-03", ROWS, {"market": "US"})
    changed = ROWS.assign(new_price=[1.89, 2.49])
    second = deliver_to_outbox(as_upath(tmp_path), "US|2024-03", changed, {"market": "US"})
    assert second.status == "delivered"
    assert second.idempotency_key != first.idempotency_key
