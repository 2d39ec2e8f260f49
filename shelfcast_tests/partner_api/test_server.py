"""The partner API itself: token, contract, idempotency, faults and storage, over real HTTP."""

from __future__ import annotations

import json

import httpx
import pytest

from shelfcast_tests.partner_api.helpers import (
    AUTH,
    TOKEN,
    export_rows,
    running_partner,
    set_faults,
    stats,
    stored_batches,
)


@pytest.fixture
def partner(tmp_path):
    with running_partner(tmp_path / "partner.sqlite3") as server:
        yield server


def body_of(rows, **header) -> bytes:
    return json.dumps({**header, "rows": json.loads(rows.to_json(orient="records"))}).encode()


def post(server, body: bytes, key: str | None = "key-1", headers=AUTH, timeout=5.0):
    extra = {"Idempotency-Key": key} if key else {}
    return httpx.post(
        f"{server.url}/batches", content=body, headers={**headers, **extra}, timeout=timeout
    )


def test_a_valid_batch_is_stored_and_answered_with_count_and_reference(partner):
    response = post(partner, body_of(export_rows(3), market="US", month="2024-03"))
    assert response.status_code == 201
    assert response.json() == {"accepted": 3, "reference": "pb-000001"}
    [batch] = stored_batches(partner)
    assert batch["market"] == "US" and batch["row_count"] == 3
    detail = httpx.get(f"{partner.url}/batches/pb-000001", headers=AUTH).json()
    assert [row["sku"] for row in detail["rows"]] == ["P00000", "P00001", "P00002"]


def test_a_missing_or_wrong_token_is_refused_without_echoing_it(partner):
    assert post(partner, body_of(export_rows(1)), headers={}).status_code == 401
    wrong = post(partner, body_of(export_rows(1)), headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "nope" not in wrong.text
    assert httpx.get(f"{partner.url}/batches").status_code == 401
    assert httpx.get(f"{partner.url}/healthz").status_code == 200
    assert stored_batches(partner) == []


def test_the_same_key_and_body_get_the_original_answer_and_one_stored_copy(partner):
    body = body_of(export_rows(2))
    first = post(partner, body)
    again = post(partner, body)
    assert again.status_code == first.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert len(stored_batches(partner)) == 1


def test_the_same_key_with_another_body_is_refused(partner):
    assert post(partner, body_of(export_rows(2))).status_code == 201
    reused = post(partner, body_of(export_rows(3)))
    assert reused.status_code == 422
    assert "different body" in reused.json()["error"]


def test_rows_that_break_the_export_contract_are_refused_with_the_reason(partner):
    rows = export_rows(3).assign(new_price=[8.99, -1.0, 8.99])
    response = post(partner, body_of(rows))
    assert response.status_code == 400
    assert "new_price" in response.json()["error"]
    assert post(partner, b"{not json").status_code == 400
    assert post(partner, body_of(export_rows(1)), key=None).status_code == 400
    assert stored_batches(partner) == []


def test_an_empty_batch_is_valid(partner):
    response = post(partner, body_of(export_rows(0)))
    assert response.json()["accepted"] == 0


def test_fail_first_answers_the_status_then_recovers(partner):
    set_faults(partner, fail_first=2, status=503)
    statuses = [post(partner, body_of(export_rows(1))).status_code for _ in range(3)]
    assert statuses == [503, 503, 201]


def test_rate_limit_answers_429_with_retry_after(partner):
    set_faults(partner, rate_limit=1, retry_after=7)
    limited = post(partner, body_of(export_rows(1)))
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
    assert post(partner, body_of(export_rows(1))).status_code == 201


def test_a_delayed_answer_is_stored_before_the_delay(partner):
    set_faults(partner, delay_seconds=1.0, count=1)
    with pytest.raises(httpx.ReadTimeout):
        post(partner, body_of(export_rows(1)), timeout=0.2)
    # The partner did the work although the client gave up waiting.
    assert len(stored_batches(partner)) == 1
    assert post(partner, body_of(export_rows(1))).headers["Idempotent-Replayed"] == "true"


def test_reject_sku_refuses_a_batch_holding_it(partner):
    set_faults(partner, reject_sku="P00001")
    response = post(partner, body_of(export_rows(3)))
    assert response.status_code == 400
    assert response.json()["error"] == "row 1: sku P00001 is not sold through this partner"


def test_faults_can_be_read_cleared_and_typos_are_refused(partner):
    assert set_faults(partner, fail_first=1)["fail_first"] == 1
    typo = httpx.post(f"{partner.url}/_faults", json={"fail_frist": 1}, headers=AUTH)
    assert typo.status_code == 400 and "fail_frist" in typo.json()["error"]
    cleared = httpx.delete(f"{partner.url}/_faults", headers=AUTH).json()
    assert cleared["fail_first"] == 0


def test_stats_count_calls_and_the_most_in_flight(partner):
    post(partner, body_of(export_rows(1)))
    counted = stats(partner)
    assert counted["batch_requests"] == 1 and counted["max_in_flight"] == 1
    assert counted["stored"] == 1 and counted["statuses"] == {"201": 1}


def test_stored_batches_survive_a_restart(tmp_path):
    db = tmp_path / "partner.sqlite3"
    with running_partner(db) as server:
        port = int(server.url.rsplit(":", 1)[1])
        post(server, body_of(export_rows(2)))
    with running_partner(db, port=port) as server:
        assert len(stored_batches(server)) == 1
        assert post(server, body_of(export_rows(2))).headers["Idempotent-Replayed"] == "true"


def test_the_token_is_stored_nowhere(tmp_path):
    with running_partner(tmp_path / "partner.sqlite3") as server:
        post(server, body_of(export_rows(2)))
    files = [path for path in tmp_path.iterdir() if path.is_file()]
    assert files and all(TOKEN.encode() not in path.read_bytes() for path in files)
