"""The partner_delivery asset against a real partner API: receipts, re-runs, force, failures.

Most tests materialize partner_delivery alone over a partner_export partition written to a
temporary lake (a second or so each); the last ones run the whole pipeline.
"""

from __future__ import annotations

import json
import time

import pandas as pd
import pytest
from dagster import AssetSpec, DagsterInstance, materialize

from shelfcast.pipeline.assets.partner import partner_delivery
from shelfcast.pipeline.jobs import partition_tags
from shelfcast.pipeline.params import PipelineParams
from shelfcast.pipeline.partitions import market_month, partition_key
from shelfcast.pipeline.resources import LakeIOManager, Locations
from shelfcast.pipeline.runner import failure_message, run_partitions
from shelfcast.platform.storage import as_upath, write_parquet_atomic
from shelfcast_tests.partner_api.helpers import (
    TOKEN,
    export_rows,
    running_partner,
    set_faults,
    stats,
    stored_batches,
)

MARKET, MONTH = "US", "2024-03"


@pytest.fixture
def lake(tmp_path, monkeypatch):
    """A lake holding one partner_export partition of 5 rows, and the partner token set."""
    monkeypatch.setenv("SHELFCAST_STORAGE", str(tmp_path / "lake"))
    monkeypatch.setenv("SHELFCAST_OUTBOX", str(tmp_path / "outbox"))
    monkeypatch.setenv("PARTNER_API_TOKEN", TOKEN)
    export = tmp_path / "lake" / "partner_export" / f"market={MARKET}" / f"month={MONTH}.parquet"
    write_parquet_atomic(as_upath(export), export_rows(5))
    return tmp_path


@pytest.fixture
def partner(lake):
    with running_partner(lake / "partner.sqlite3") as server:
        yield server


def http(server, *extra: str) -> list[str]:
    return [
        "delivery.kind=http",
        f"delivery.url={server.batches_url}",
        "delivery.batch_size=2",
        "delivery.max_attempts=3",
        "delivery.backoff_seconds=0.01",
        "delivery.max_backoff_seconds=0.05",
        *extra,
    ]


def deliver(patches: list[str], instance=None):
    return materialize(
        [AssetSpec("partner_export", partitions_def=market_month), partner_delivery],
        partition_key=str(partition_key(MARKET, MONTH)),
        tags=partition_tags(MARKET, MONTH),
        resources={
            "deployment": Locations(),
            "io_manager": LakeIOManager(deployment=Locations()),
            "params": PipelineParams(patches=patches, deployment=Locations()),
        },
        instance=instance or DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def receipts(lake) -> pd.DataFrame:
    path = lake / "lake" / "partner_delivery" / f"market={MARKET}" / f"month={MONTH}.parquet"
    return pd.read_parquet(path)


def test_http_delivery_stores_one_receipt_per_batch(lake, partner):
    result = deliver(http(partner))
    assert result.success, failure_message(result)
    stored = receipts(lake)
    assert stored["row_count"].tolist() == [2, 2, 1]
    assert stored["status"].tolist() == ["delivered"] * 3
    assert sorted(stored["partner_reference"]) == sorted(
        b["reference"] for b in stored_batches(partner)
    )
    metadata = result.asset_materializations_for_node("partner_delivery")[0].metadata
    assert metadata["batches_delivered"].value == 3
    assert metadata["accepted_count"].value == 5


def test_rematerializing_a_delivered_partition_sends_nothing(lake, partner):
    assert deliver(http(partner)).success
    first = receipts(lake)
    assert deliver(http(partner)).success
    again = receipts(lake)
    assert again["status"].tolist() == ["already_delivered"] * 3
    assert again["partner_reference"].tolist() == first["partner_reference"].tolist()
    assert stats(partner)["batch_requests"] == 3


def test_with_its_receipts_lost_a_partition_is_still_held_once_by_the_partner(lake, partner):
    assert deliver(http(partner)).success
    (lake / "lake" / "partner_delivery").rename(lake / "receipts_lost")
    assert deliver(http(partner)).success
    assert receipts(lake)["status"].tolist() == ["already_delivered"] * 3  # partner's replay
    assert len(stored_batches(partner)) == 3


def test_force_delivers_again_under_new_keys_once(lake, partner):
    assert deliver(http(partner)).success
    first = receipts(lake)
    assert deliver(http(partner, "delivery.force=true")).success
    forced = receipts(lake)
    assert forced["status"].tolist() == ["delivered"] * 3
    assert set(forced["idempotency_key"]).isdisjoint(first["idempotency_key"])
    assert deliver(http(partner)).success  # without force: the forced copy counts as delivered
    assert len(stored_batches(partner)) == 6


def test_a_400_fails_the_run_at_once_with_the_partners_message(lake, partner):
    set_faults(partner, reject_sku="P00004")
    result = deliver(http(partner, "delivery.batch_size=10"))
    assert not result.success
    message = failure_message(result)
    assert "partner_delivery US 2024-03" in message
    assert "400" in message and "row 4: sku P00004 is not sold through this partner" in message
    assert stats(partner)["batch_requests"] == 1
    assert not (lake / "lake" / "partner_delivery").exists()


def test_a_partner_down_fails_clearly_and_a_later_run_delivers_exactly_once(lake):
    with running_partner(lake / "partner.sqlite3") as server:
        port = int(server.url.rsplit(":", 1)[1])
        patches = http(server)
    result = deliver(patches)
    assert not result.success
    assert "could not be reached in 3 attempts" in failure_message(result)
    with running_partner(lake / "partner.sqlite3", port=port) as server:
        assert deliver(patches).success
        assert deliver(patches).success
        assert len(stored_batches(server)) == 3
        assert stats(server)["batch_requests"] == 3


def test_a_missing_token_fails_before_anything_is_sent(lake, partner, monkeypatch):
    monkeypatch.delenv("PARTNER_API_TOKEN")
    result = deliver(http(partner))
    assert "PARTNER_API_TOKEN" in failure_message(result)
    assert stats(partner)["batch_requests"] == 0


def test_the_token_appears_in_no_log_line_metadata_or_receipt(lake, partner, capfd, caplog):
    set_faults(partner, fail_first=1, status=503)  # a retry, so warnings are logged
    instance = DagsterInstance.ephemeral()
    result = deliver(http(partner), instance)
    assert result.success
    # Every entry of the run's event log: user log lines, metadata, materializations.
    events = "\n".join(repr(entry) for entry in instance.all_logs(result.run_id))
    assert "retrying" in events and "PARTNER_API_TOKEN" in events  # the name, in the config
    captured = capfd.readouterr()
    lake_bytes = b"".join(p.read_bytes() for p in (lake / "lake").rglob("*") if p.is_file())
    for text in (events, captured.out, captured.err, caplog.text):
        assert TOKEN not in text
    assert TOKEN.encode() not in lake_bytes


def test_the_outbox_is_the_default_and_force_rewrites_it(lake):
    assert deliver([]).success
    folder = lake / "outbox" / f"market={MARKET}" / f"month={MONTH}"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["row_count"] == 5
    assert receipts(lake)["status"].tolist() == ["delivered"]
    assert deliver([]).success
    assert receipts(lake)["status"].tolist() == ["already_delivered"]
    assert deliver(["delivery.force=true"]).success
    forced = json.loads((folder / "manifest.json").read_text())
    assert forced["idempotency_key"] != manifest["idempotency_key"]
    assert receipts(lake)["status"].tolist() == ["delivered"]


@pytest.mark.slow
def test_two_hundred_batches_at_bounded_concurrency_are_stored_exactly_once(lake, partner):
    export = lake / "lake" / "partner_export" / f"market={MARKET}" / f"month={MONTH}.parquet"
    write_parquet_atomic(as_upath(export), export_rows(1000))
    set_faults(partner, fail_first=10, status=503)  # the first calls fail and are retried
    concurrency = 8
    started = time.monotonic()
    result = deliver(http(partner, "delivery.batch_size=5", f"delivery.concurrency={concurrency}"))
    elapsed = time.monotonic() - started
    assert result.success, failure_message(result)
    held = stored_batches(partner)
    assert len(held) == len(receipts(lake)) == 200
    assert len({b["idempotency_key"] for b in held}) == 200
    assert sum(b["row_count"] for b in held) == 1000
    assert stats(partner)["max_in_flight"] <= concurrency
    print(f"200 batches in {elapsed:.1f} s at concurrency {concurrency}")


def test_an_unknown_kind_fails_with_the_choices(lake):
    result = deliver(["delivery.kind=ftp"])
    assert "delivery.kind = 'ftp' is not one of outbox, http" in failure_message(result)


@pytest.mark.slow
def test_the_whole_pipeline_delivers_each_partition_once_over_http(workspace, monkeypatch):
    monkeypatch.setenv("PARTNER_API_TOKEN", TOKEN)
    with running_partner(workspace.home / "partner.sqlite3") as server:
        patches = http(server, "delivery.batch_size=1")
        for _ in range(2):
            outcomes = run_partitions(["US", "GB"], [MONTH], patches)
            assert [o.error for o in outcomes if not o.success] == []
        held = stored_batches(server)
        assert len(held) > 2  # several batches of one row
        for market in ("US", "GB"):
            export = pd.read_parquet(
                workspace.lake / "partner_export" / f"market={market}" / f"month={MONTH}.parquet"
            )
            ids = [b["reference"] for b in held if b["market"] == market]
            rows = [server.store.batch(ref)["rows"] for ref in ids]
            assert sorted(r["sku"] for batch in rows for r in batch) == sorted(export["sku"])
        assert stats(server)["batch_requests"] == len(held)  # the second runs sent nothing
