"""Outbox delivery (batch plus manifest, idempotent on identical content) and batch planning."""

import datetime as dt
import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from shelfcast.platform.delivery import (
    Receipt,
    batch_sizes,
    deliver_to_outbox,
    delivered_before,
    plan_batches,
    resend_salt,
)
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


def test_force_writes_the_same_batch_again_under_a_new_key(tmp_path: Path):
    first = deliver_to_outbox(as_upath(tmp_path), "US|2024-03", ROWS, {"market": "US"})
    forced = deliver_to_outbox(as_upath(tmp_path), "US|2024-03", ROWS, {"market": "US"}, force=True)
    assert forced.status == "delivered"
    assert forced.idempotency_key != first.idempotency_key
    assert forced.checksum == first.checksum
    again = deliver_to_outbox(as_upath(tmp_path), "US|2024-03", ROWS, {"market": "US"})
    assert again.status == "already_delivered"
    assert again.idempotency_key == forced.idempotency_key


def test_no_reader_sees_a_batch_without_its_manifest_or_a_temporary_file(tmp_path: Path):
    deliver_to_outbox(as_upath(tmp_path), "US|2024-03", ROWS, {"market": "US"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["batch.json", "manifest.json"]


@pytest.mark.parametrize(
    ("rows", "size", "expected"),
    [(0, 10, [0]), (10, 10, [10]), (25, 10, [10, 10, 5]), (3, 1, [1, 1, 1])],
)
def test_batch_sizes_cover_every_row_and_an_empty_export_is_one_batch(rows, size, expected):
    assert batch_sizes(rows, size) == expected


def test_every_batch_of_a_scope_has_its_own_key_and_the_same_rows_the_same_keys():
    rows = pd.DataFrame({"sku": list("ABCDE"), "new_price": [1.0] * 5})
    batches = plan_batches("US|2024-03", rows, {"market": "US"}, [2, 2, 1])
    again = plan_batches("US|2024-03", rows, {"market": "US"}, [2, 2, 1])
    other_month = plan_batches("US|2024-04", rows, {"market": "US"}, [2, 2, 1])
    keys = [b.idempotency_key for b in batches]
    assert len(set(keys)) == 3
    assert keys == [b.idempotency_key for b in again]
    assert set(keys).isdisjoint(b.idempotency_key for b in other_month)
    assert [json.loads(b.payload)["batch"] for b in batches] == [0, 1, 2]


def test_delivered_before_compares_content_and_destination_not_batch_size():
    rows = pd.DataFrame({"sku": list("ABCDE"), "new_price": [1.0] * 5})
    sent = [
        Receipt(b.index, b.idempotency_key, "https://p/x", 1, "delivered", b.row_count,
                b.row_count, f"ref{b.index}", b.checksum, dt.datetime.now(dt.UTC))
        for b in plan_batches("S", rows, {}, [2, 2, 1])
    ]  # fmt: skip
    assert delivered_before(sent, "https://p/x", "S", rows, {})
    assert not delivered_before(sent, "https://q/x", "S", rows, {})
    assert not delivered_before(sent, "https://p/x", "S", rows.assign(new_price=2.0), {})
    assert not delivered_before(sent[:2], "https://p/x", "S", rows, {})
    assert not delivered_before([], "https://p/x", "S", rows, {})


def test_resend_salt_depends_only_on_the_keys_delivered_before():
    assert resend_salt(["b", "a"]) == resend_salt(["a", "b"]) != resend_salt(["a"])
