"""HTTP delivery against a real partner API on 127.0.0.1: exactly once through failures."""

from __future__ import annotations

import logging
import time

import pytest

from shelfcast.platform.delivery import DeliveryError, DeliveryParams
from shelfcast.platform.http_delivery import HttpDelivery, retry_after_seconds
from shelfcast_tests.partner_api.helpers import (
    TOKEN,
    export_rows,
    running_partner,
    set_faults,
    stats,
    stored_batches,
)

SCOPE, HEADER = "US|2024-03", {"market": "US", "month": "2024-03"}


@pytest.fixture
def partner(tmp_path, monkeypatch):
    monkeypatch.setenv("PARTNER_API_TOKEN", TOKEN)
    with running_partner(tmp_path / "partner.sqlite3") as server:
        yield server


def client(server, **overrides) -> HttpDelivery:
    """Tiny backoffs so that retries cost milliseconds."""
    settings = {
        "url": server.batches_url,
        "token_env": "PARTNER_API_TOKEN",
        "batch_size": 10,
        "timeout_seconds": 2.0,
        "max_attempts": 4,
        "backoff_seconds": 0.01,
        "max_backoff_seconds": 0.05,
        **overrides,
    }
    return HttpDelivery(DeliveryParams(kind="http", **settings))


def test_rows_go_in_batches_each_with_a_receipt(partner):
    receipts = client(partner).deliver(SCOPE, export_rows(25), HEADER)
    assert [(r.batch, r.row_count, r.accepted_count) for r in receipts] == [
        (0, 10, 10),
        (1, 10, 10),
        (2, 5, 5),
    ]
    assert {r.status for r in receipts} == {"delivered"}
    assert sorted(b["reference"] for b in stored_batches(partner)) == sorted(
        r.partner_reference for r in receipts
    )
    assert len({r.idempotency_key for r in receipts}) == 3


def test_503_twice_then_success_stores_one_batch_after_three_attempts(partner):
    set_faults(partner, fail_first=2, status=503)
    [receipt] = client(partner).deliver(SCOPE, export_rows(5), HEADER)
    assert receipt.attempts == 3 and receipt.status == "delivered"
    assert len(stored_batches(partner)) == 1


def test_429_with_retry_after_waits_that_long_then_succeeds(partner):
    set_faults(partner, rate_limit=1, retry_after=1)
    started = time.monotonic()
    [receipt] = client(partner).deliver(SCOPE, export_rows(5), HEADER)
    assert time.monotonic() - started >= 1.0
    assert receipt.attempts == 2
    assert len(stored_batches(partner)) == 1


def test_a_timeout_then_success_stores_one_batch(partner):
    set_faults(partner, delay_seconds=2.0, count=1)
    [receipt] = client(partner, timeout_seconds=0.5).deliver(SCOPE, export_rows(5), HEADER)
    assert receipt.attempts == 2
    # The partner stored the batch on the first call; the retry got the original answer.
    assert receipt.status == "delivered"
    assert [b["reference"] for b in stored_batches(partner)] == [receipt.partner_reference]


def test_a_400_fails_at_once_with_the_partners_message(partner):
    set_faults(partner, reject_sku="P00003")
    with pytest.raises(DeliveryError) as failure:
        client(partner).deliver(SCOPE, export_rows(5), HEADER)
    assert "400" in str(failure.value)
    assert "row 3: sku P00003 is not sold through this partner" in str(failure.value)
    assert stats(partner)["batch_requests"] == 1  # nothing retried


def test_a_partner_down_beyond_the_retry_budget_fails_then_a_rerun_delivers_once(tmp_path):
    db = tmp_path / "partner.sqlite3"
    with running_partner(db) as server:
        port, url = server.url.rsplit(":", 1)[1], server.batches_url
    delivery = HttpDelivery(
        DeliveryParams(
            kind="http",
            url=url,
            token_env="PARTNER_API_TOKEN",
            max_attempts=3,
            backoff_seconds=0.01,
        )
    )
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PARTNER_API_TOKEN", TOKEN)
        with pytest.raises(DeliveryError) as failure:
            delivery.deliver(SCOPE, export_rows(5), HEADER)
        assert "could not be reached in 3 attempts" in str(failure.value)
        assert "ConnectError" in str(failure.value)
        with running_partner(db, port=int(port)) as server:
            [receipt] = delivery.deliver(SCOPE, export_rows(5), HEADER)
            again = delivery.deliver(SCOPE, export_rows(5), HEADER)
            assert receipt.status == "delivered"
            assert again[0].status == "already_delivered"
            assert len(stored_batches(server)) == 1


def test_the_same_rows_delivered_twice_leave_one_copy_at_the_partner(partner):
    first = client(partner).deliver(SCOPE, export_rows(25), HEADER)
    second = client(partner).deliver(SCOPE, export_rows(25), HEADER)
    assert [r.idempotency_key for r in second] == [r.idempotency_key for r in first]
    assert [r.partner_reference for r in second] == [r.partner_reference for r in first]
    assert {r.status for r in second} == {"already_delivered"}
    assert len(stored_batches(partner)) == 3


def test_previous_receipts_for_the_same_content_mean_nothing_is_sent(partner):
    first = client(partner).deliver(SCOPE, export_rows(25), HEADER)
    # Even with another batch size, the same rows are recognised as delivered.
    again = client(partner, batch_size=7).deliver(SCOPE, export_rows(25), HEADER, previous=first)
    assert [r.partner_reference for r in again] == [r.partner_reference for r in first]
    assert {(r.status, r.attempts) for r in again} == {("already_delivered", 0)}
    assert stats(partner)["batch_requests"] == 3


def test_changed_rows_are_delivered_again(partner):
    first = client(partner).deliver(SCOPE, export_rows(5), HEADER)
    changed = export_rows(5).assign(new_price=7.99)
    [receipt] = client(partner).deliver(SCOPE, changed, HEADER, previous=first)
    assert receipt.status == "delivered"
    assert receipt.idempotency_key != first[0].idempotency_key
    assert len(stored_batches(partner)) == 2


def test_force_sends_again_under_new_keys_that_are_stable_for_that_resend(partner):
    first = client(partner).deliver(SCOPE, export_rows(5), HEADER)
    forced = client(partner).deliver(SCOPE, export_rows(5), HEADER, previous=first, force=True)
    retried = client(partner).deliver(SCOPE, export_rows(5), HEADER, previous=first, force=True)
    assert forced[0].idempotency_key != first[0].idempotency_key
    assert retried[0].idempotency_key == forced[0].idempotency_key  # a failed resend is safe
    assert len(stored_batches(partner)) == 2


def test_a_missing_token_fails_before_anything_is_sent(partner, monkeypatch):
    monkeypatch.delenv("PARTNER_API_TOKEN")
    with pytest.raises(DeliveryError, match="PARTNER_API_TOKEN.*not set"):
        client(partner).deliver(SCOPE, export_rows(5), HEADER)
    assert stats(partner)["batch_requests"] == 0


def test_a_wrong_token_is_not_retried_and_appears_in_no_message_or_log(partner, caplog):
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PARTNER_API_TOKEN", "wrong-secret-value")
        with pytest.raises(DeliveryError) as failure:
            client(partner).deliver(SCOPE, export_rows(5), HEADER)
    assert "401" in str(failure.value) and "wrong-secret-value" not in str(failure.value)
    assert stats(partner)["batch_requests"] == 0  # refused before the batch endpoint counts


def test_the_token_is_in_no_log_line_or_receipt(partner, caplog, capfd):
    set_faults(partner, fail_first=1, status=503)
    with caplog.at_level(logging.DEBUG):
        receipts = client(partner).deliver(SCOPE, export_rows(5), HEADER)
    captured = capfd.readouterr()
    assert "retrying" in caplog.text  # the retry was logged ...
    for text in (caplog.text, captured.out, captured.err, repr(receipts)):
        assert TOKEN not in text  # ... without the token


@pytest.mark.parametrize(
    "url",
    ["http://partner.example.com/batches", "https://user:pw@partner.example.com/batches", ""],
)
def test_urls_that_would_leak_the_token_are_refused_with_the_parameters(url, monkeypatch):
    monkeypatch.setenv("PARTNER_API_TOKEN", TOKEN)
    with pytest.raises(DeliveryError, match="delivery.url") as refused:
        DeliveryParams(kind="http", url=url, token_env="PARTNER_API_TOKEN")
    assert "pw" not in str(refused.value)  # credentials in a URL are never quoted


def test_retry_after_is_read_as_seconds_or_as_a_date():
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert retry_after_seconds("soon") is None
