"""A small, real partner price API: what shelfcast's HTTP delivery talks to in demos and tests.

``POST /batches`` takes ``{"rows": [...], ...header}`` with a bearer token and an
``Idempotency-Key``; it validates the rows against the export contract, stores the batch once in
SQLite and answers ``201 {"accepted": n, "reference": "pb-000001"}``. The same key and body
again get the original answer (with ``Idempotent-Replayed: true``); the same key with another
body gets 422. ``GET /batches`` and ``GET /batches/<reference>`` show what is stored,
``/_faults`` injects failures (see ``faults``), ``GET /_stats`` counts calls, ``GET /healthz``
needs no token. Every other route needs the token, which is never logged or echoed.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pandera.errors as pa_errors

from shelfcast.partner_api.faults import FaultError, Faults
from shelfcast.partner_api.store import Answer, BatchStore, KeyReused
from shelfcast.platform.validation import describe_schema_errors
from shelfcast.schemas import PartnerExportSchema

EXPORT_COLUMNS = list(PartnerExportSchema.to_schema().columns)


class Stats:
    """Counts of batch calls and the most that were ever in flight at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.batch_requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.statuses: dict[str, int] = {}

    def started(self) -> None:
        with self._lock:
            self.batch_requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def finished(self, status: int) -> None:
        with self._lock:
            self.in_flight -= 1
            self.statuses[str(status)] = self.statuses.get(str(status), 0) + 1

    def as_dict(self) -> dict:
        with self._lock:
            return {
                "batch_requests": self.batch_requests,
                "max_in_flight": self.max_in_flight,
                "statuses": dict(self.statuses),
            }


def contract_errors(rows: object) -> str | None:
    """Why ``rows`` break the partner's export contract, or None when they hold."""
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        return "'rows' must be a list of objects"
    frame = pd.DataFrame(rows) if rows else pd.DataFrame(columns=EXPORT_COLUMNS)
    try:
        PartnerExportSchema.validate(frame, lazy=True)
    except pa_errors.SchemaErrors as errors:
        return describe_schema_errors(errors, "the batch", "PartnerExportSchema")[0]
    return None


class PartnerServer:
    """The partner API on ``host:port`` (0: a free port), in a background thread or in front."""

    def __init__(
        self,
        db_path: str | Path,
        token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        log_requests: bool = False,
    ):
        if not token:
            raise ValueError("the partner API needs a token")
        self.token = token
        self.log_requests = log_requests
        contract_errors([])  # warm the validator, or the first call takes ~0.5 s longer
        self.store = BatchStore(db_path)
        self.faults = Faults()
        self.stats = Stats()
        self.httpd = ThreadingHTTPServer((host, port), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.partner = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}"

    @property
    def batches_url(self) -> str:
        return f"{self.url}/batches"

    def start(self) -> PartnerServer:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.05},  # so that stop() returns promptly
            name="partner-api",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        try:
            self.httpd.serve_forever()
        finally:
            self.httpd.server_close()
            self.store.close()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join()
        self.store.close()

    def __enter__(self) -> PartnerServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    server_version = "shelfcast-partner/1"
    protocol_version = "HTTP/1.1"  # keep-alive, so a client's connection pool is exercised

    @property
    def partner(self) -> PartnerServer:
        return self.server.partner  # type: ignore[attr-defined]

    # -- routing ------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._read_body()
        if self.path == "/healthz":
            return self._answer(200, {"ok": True})
        if not self._authorised():
            return None
        partner = self.partner
        if self.path == "/batches":
            return self._answer(200, {"batches": partner.store.batches()})
        if self.path.startswith("/batches/"):
            found = partner.store.batch(self.path.removeprefix("/batches/"))
            return self._answer(*((200, found) if found else (404, {"error": "no such batch"})))
        if self.path == "/_faults":
            return self._answer(200, partner.faults.snapshot())
        if self.path == "/_stats":
            return self._answer(200, {**partner.stats.as_dict(), "stored": partner.store.count()})
        return self._answer(404, {"error": f"no route GET {self.path}"})

    def do_POST(self) -> None:
        body = self._read_body()
        if not self._authorised():
            return None
        if self.path == "/batches":
            return self._post_batch(body)
        if self.path == "/_faults":
            try:
                return self._answer(200, self.partner.faults.update(json.loads(body or b"{}")))
            except (FaultError, ValueError, AttributeError) as error:
                return self._answer(400, {"error": str(error)})
        return self._answer(404, {"error": f"no route POST {self.path}"})

    def do_DELETE(self) -> None:
        self._read_body()
        if not self._authorised():
            return None
        if self.path == "/_faults":
            return self._answer(200, self.partner.faults.clear())
        return self._answer(404, {"error": f"no route DELETE {self.path}"})

    # -- the batch endpoint -------------------------------------------------------------------
    def _post_batch(self, body: bytes) -> None:
        stats = self.partner.stats
        stats.started()
        status = 500
        try:
            answer, headers, delay = self._batch_answer(body)
            status = answer.status
            if delay:
                time.sleep(delay)  # stored already: the answer is what arrives late
            if answer.replayed:
                headers["Idempotent-Replayed"] = "true"
            self._answer(answer.status, answer.body, headers)
        finally:
            stats.finished(status)

    def _batch_answer(self, body: bytes) -> tuple[Answer, dict, float]:
        faults, store = self.partner.faults, self.partner.store
        retry_after = faults.take_rate_limit()
        if retry_after is not None:
            error = {"error": "rate limit exceeded"}
            return Answer(429, error), {"Retry-After": str(retry_after)}, 0.0
        failure = faults.take_failure()
        if failure is not None:
            return Answer(failure, {"error": f"injected failure {failure}"}), {}, 0.0
        key = self.headers.get("Idempotency-Key", "").strip()
        if not key:
            return Answer(400, {"error": "the Idempotency-Key header is required"}), {}, 0.0
        try:
            payload = json.loads(body)
        except ValueError as error:
            return Answer(400, {"error": f"the body is not JSON: {error}"}), {}, 0.0
        if not isinstance(payload, dict) or "rows" not in payload:
            return Answer(400, {"error": 'expected {"rows": [...], ...}'}), {}, 0.0
        try:
            earlier = store.replay(key, body)
            if earlier is not None:
                return earlier, {}, faults.take_delay()
            problem = contract_errors(payload["rows"]) or _rejected(
                payload["rows"], faults.rejected_sku()
            )
            if problem:
                return Answer(400, {"error": problem}), {}, 0.0
            return store.accept(key, body, payload), {}, faults.take_delay()
        except KeyReused:
            reused = {"error": "this Idempotency-Key was used with a different body"}
            return Answer(422, reused), {}, 0.0

    # -- plumbing -----------------------------------------------------------------------------
    def _authorised(self) -> bool:
        given = self.headers.get("Authorization", "")
        expected = f"Bearer {self.partner.token}"
        if hmac.compare_digest(given.encode(), expected.encode()):
            return True
        self._answer(
            401, {"error": "missing or wrong bearer token"}, {"WWW-Authenticate": "Bearer"}
        )
        return False

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _answer(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up waiting; nothing to tell it

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's signature
        if self.partner.log_requests:
            super().log_message(format, *args)  # request line and status only, never headers


def _rejected(rows: list[dict], sku: str) -> str | None:
    if not sku:
        return None
    for position, row in enumerate(rows):
        if row.get("sku") == sku:
            return f"row {position}: sku {sku} is not sold through this partner"
    return None
