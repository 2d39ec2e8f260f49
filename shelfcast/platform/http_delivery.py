"""HTTP delivery: batches POSTed as JSON, exactly once through timeouts, outages and rate limits.

Every batch carries an ``Idempotency-Key`` derived from its scope and content, so a retry after a
lost response, or a whole re-run, is recognised by the partner and answered with the original
response instead of a second copy. Connection errors, timeouts, 408, 429 and 5xx are retried with
exponential backoff and full jitter (tenacity), honouring ``Retry-After``; any other 4xx stops at
once and shows the partner's message. The bearer token comes from the environment variable the
configuration names and never appears in a message. Nothing here knows what the rows mean.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import os
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import replace
from typing import Any

import httpx
import pandas as pd
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_base, wait_random_exponential

from shelfcast.platform.delivery import (
    ALREADY_DELIVERED,
    DELIVERED,
    Batch,
    DeliveryError,
    DeliveryParams,
    Receipt,
    batch_sizes,
    check_url,
    delivered_before,
    now_utc,
    plan_batches,
    resend_salt,
)

REPLAYED_HEADER = "Idempotent-Replayed"
BODY_SHOWN = 1000  # characters of a partner's error body quoted in a message


class RetryableResponse(Exception):
    """The partner answered with a status worth retrying (408, 429, 5xx)."""

    def __init__(self, response: httpx.Response, token: str):
        self.status = response.status_code
        self.retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        self.detail = (
            f"{response.status_code} {response.reason_phrase}: {body_text(response, token)}"
        )
        super().__init__(self.detail)


class _Abandoned(Exception):
    """Another batch failed, so this one stops before its next attempt."""


UNREACHABLE = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def read_token(token_env: str) -> str:
    """The partner token from the environment variable ``token_env``; a clear error if unset."""
    token = os.environ.get(token_env, "").strip() if token_env else ""
    if not token:
        raise DeliveryError(
            f"no partner token: the environment variable {token_env or '(none)'} named by "
            "delivery.token_env is not set or empty; set it before delivering (nothing was sent)"
        )
    return token


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds to wait: delta-seconds or an HTTP date; None if absent."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def body_text(response: httpx.Response, token: str) -> str:
    """The partner's explanation: a JSON error's message if there is one, else the raw body."""
    text = response.text.strip()
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        text = next(
            (body[k] for k in ("error", "message", "detail") if isinstance(body.get(k), str)), text
        )
    text = redact(text, token) or "(empty body)"
    return text if len(text) <= BODY_SHOWN else text[:BODY_SHOWN] + " …"


def redact(text: str, token: str) -> str:
    return text.replace(token, "***") if token else text


class _RetryAfterOrBackoff(wait_base):
    """Wait as long as the partner's Retry-After asks (capped), else exponential full jitter."""

    def __init__(self, backoff: wait_base, cap_seconds: float):
        self.backoff, self.cap_seconds = backoff, cap_seconds

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, RetryableResponse) and error.retry_after is not None:
            return min(error.retry_after, self.cap_seconds)
        return self.backoff(retry_state)


class HttpDelivery:
    """Sends rows to one HTTP endpoint in batches and returns one receipt per batch."""

    def __init__(self, settings: DeliveryParams, log: Any = None):
        self.settings = settings
        self.log = log or logging.getLogger(__name__)  # e.g. a Dagster context.log

    def deliver(
        self,
        scope: str,
        rows: pd.DataFrame,
        header: dict,
        previous: Iterable[Receipt] = (),
        force: bool = False,
    ) -> list[Receipt]:
        """Deliver ``rows`` of ``scope`` unless ``previous`` receipts show them delivered here.

        ``force`` sends everything again under new keys (see ``resend_salt``). Batches the
        partner already holds under the same key are answered, not stored, a second time.
        """
        url = str(check_url(self.settings.url))
        token = read_token(self.settings.token_env)
        previous = sorted(previous, key=lambda r: r.batch)
        if not force and delivered_before(previous, url, scope, rows, header):
            return [replace(r, attempts=0, status=ALREADY_DELIVERED) for r in previous]
        salt = resend_salt(r.idempotency_key for r in previous) if force else ""
        sizes = batch_sizes(len(rows), self.settings.batch_size)
        batches = plan_batches(scope, rows, header, sizes, salt)
        receipts = self._send_all(url, scope, batches, token)
        return [receipts[index] for index in sorted(receipts)]

    def _client(self, token: str) -> httpx.Client:
        limit = max(1, self.settings.concurrency)
        return httpx.Client(
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "User-Agent": "shelfcast-delivery",
            },
            timeout=httpx.Timeout(self.settings.timeout_seconds),
            limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit),
            verify=True,  # TLS certificates are always checked; there is no switch to turn it off
            follow_redirects=False,  # a redirect is a misconfigured URL, not a place to send a token
        )

    def _send_all(self, url: str, scope: str, batches: list[Batch], token: str) -> dict:
        """Send batches on at most ``concurrency`` threads; the first failure stops the rest."""
        stop = threading.Event()
        receipts: dict[int, Receipt] = {}
        workers = max(1, min(self.settings.concurrency, len(batches)))
        with (
            self._client(token) as client,
            ThreadPoolExecutor(workers, thread_name_prefix="delivery") as pool,
        ):
            futures = [pool.submit(self._send, client, url, scope, b, token, stop) for b in batches]
            failure: DeliveryError | None = None
            for future in as_completed(futures):
                try:
                    receipt = future.result()
                except _Abandoned:
                    continue
                except DeliveryError as error:
                    stop.set()
                    failure = failure or error
                    continue
                except BaseException:
                    stop.set()
                    raise
                receipts[receipt.batch] = receipt
        if failure is not None and len(batches) > 1:
            raise DeliveryError(
                f"{failure}\n({len(receipts)} of {len(batches)} batches were accepted before "
                "the failure; delivering again sends the others, and the partner recognises "
                "the accepted ones by their Idempotency-Key)"
            )
        if failure is not None:
            raise failure
        return receipts

    def _send(
        self, client: httpx.Client, url: str, scope: str, batch: Batch, token: str, stop
    ) -> Receipt:
        settings = self.settings
        label = f"batch {batch.index + 1}/{batch.count} of {scope}"
        attempts = 0
        retrying = Retrying(
            stop=stop_after_attempt(settings.max_attempts),
            wait=_RetryAfterOrBackoff(
                wait_random_exponential(
                    multiplier=settings.backoff_seconds, max=settings.max_backoff_seconds
                ),
                settings.max_retry_after_seconds,
            ),
            retry=retry_if_exception_type((RetryableResponse, *UNREACHABLE)),
            before_sleep=lambda state: self._log_retry(label, state),
            sleep=stop.wait,  # a failure elsewhere cuts the wait short
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    if stop.is_set():
                        raise _Abandoned()
                    attempts += 1
                    response = client.post(
                        url,
                        content=batch.payload,
                        headers={"Idempotency-Key": batch.idempotency_key},
                    )
                    if response.status_code in (408, 429) or response.status_code >= 500:
                        raise RetryableResponse(response, token)
        except RetryableResponse as error:
            raise DeliveryError(
                f"{label}: the partner at {url} still answered {error.detail} "
                f"after {attempts} attempts"
            ) from None
        except UNREACHABLE as error:
            reason = redact(str(error), token) or type(error).__name__
            raise DeliveryError(
                f"{label}: the partner at {url} could not be reached in {attempts} attempts "
                f"({type(error).__name__}: {reason})"
            ) from None
        except httpx.HTTPError as error:
            raise DeliveryError(
                f"{label}: {type(error).__name__}: {redact(str(error), token)}"
            ) from None
        return self._receipt(response, url, label, batch, attempts, token)

    def _receipt(self, response, url: str, label: str, batch: Batch, attempts: int, token: str):
        """The receipt of a final answer; a 4xx, or a 2xx without the contract's body, fails."""
        status = response.status_code
        if 400 <= status < 500:
            raise DeliveryError(
                f"{label}: the partner rejected it with {status} {response.reason_phrase}: "
                f"{body_text(response, token)} (not retried: fix the request)"
            )
        if not 200 <= status < 300:
            raise DeliveryError(
                f"{label}: unexpected answer {status} {response.reason_phrase} from {url}"
            )
        try:
            body = response.json()
            accepted, reference = int(body["accepted"]), str(body["reference"])
        except (ValueError, KeyError, TypeError):
            raise DeliveryError(
                f"{label}: the partner answered {status} without the expected "
                f'{{"accepted": n, "reference": "..."}}: {body_text(response, token)}'
            ) from None
        if accepted != batch.row_count:
            self.log.warning(f"{label}: the partner accepted {accepted} of {batch.row_count} rows")
        # A replay on the first attempt: the partner had the batch before this delivery began.
        # After an attempt of ours timed out, it is that attempt which got through.
        replayed = response.headers.get(REPLAYED_HEADER, "").lower() == "true" and attempts == 1
        return Receipt(
            batch=batch.index,
            idempotency_key=batch.idempotency_key,
            destination=url,
            attempts=attempts,
            status=ALREADY_DELIVERED if replayed else DELIVERED,
            row_count=batch.row_count,
            accepted_count=accepted,
            partner_reference=reference,
            checksum=batch.checksum,
            delivered_at=now_utc(),
        )

    def _log_retry(self, label: str, state: RetryCallState) -> None:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        what = error.detail if isinstance(error, RetryableResponse) else type(error).__name__
        pause = state.next_action.sleep if state.next_action else 0.0
        self.log.warning(
            f"{label}: {what[:200]} on attempt {state.attempt_number}/"
            f"{self.settings.max_attempts}; retrying in {pause:.2f} s"
        )
