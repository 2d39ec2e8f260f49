"""The partner's storage: accepted batches in SQLite, unique by their Idempotency-Key.

The key is a unique column, so a batch is stored once however often it arrives; the original
response is kept beside it so that a repeat gets exactly what the first call got. A key sent
again with a different body is refused: it would otherwise hide a changed batch.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    body_sha256 TEXT NOT NULL,
    reference TEXT NOT NULL,
    header TEXT NOT NULL,
    rows TEXT NOT NULL,
    row_count INTEGER NOT NULL,
    status INTEGER NOT NULL,
    response TEXT NOT NULL,
    received_at TEXT NOT NULL
)
"""


class KeyReused(Exception):
    """The Idempotency-Key is already stored with a different body."""


@dataclass(frozen=True)
class Answer:
    """The status and JSON body to answer, and whether it repeats an earlier answer."""

    status: int
    body: dict
    replayed: bool = False


class BatchStore:
    """Batches in one SQLite file; safe to use from the server's request threads."""

    def __init__(self, path: str | Path):
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        if str(path) != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(SCHEMA)
        self._db.commit()

    def replay(self, key: str, body: bytes) -> Answer | None:
        """The original answer to ``key`` if it was stored; KeyReused if the body differs."""
        with self._lock:
            return self._replay(key, _digest(body))

    def accept(self, key: str, body: bytes, payload: dict) -> Answer:
        """Store a validated batch once and answer ``{"accepted": n, "reference": ...}``."""
        digest = _digest(body)
        rows = payload.get("rows", [])
        header = {k: v for k, v in payload.items() if k != "rows"}
        with self._lock:
            earlier = self._replay(key, digest)  # a concurrent twin may have won the race
            if earlier is not None:
                return earlier
            cursor = self._db.execute(
                "INSERT INTO batches (idempotency_key, body_sha256, reference, header, rows,"
                " row_count, status, response, received_at) VALUES (?, ?, '', ?, ?, ?, 201, '', ?)",
                (
                    key,
                    digest,
                    json.dumps(header),
                    json.dumps(rows),
                    len(rows),
                    dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
                ),
            )
            reference = f"pb-{cursor.lastrowid:06d}"
            response = {"accepted": len(rows), "reference": reference}
            self._db.execute(
                "UPDATE batches SET reference = ?, response = ? WHERE id = ?",
                (reference, json.dumps(response), cursor.lastrowid),
            )
            self._db.commit()
        return Answer(201, response)

    def batches(self) -> list[dict]:
        """Every stored batch without its rows, oldest first."""
        with self._lock:
            found = self._db.execute(
                "SELECT reference, idempotency_key, header, row_count, received_at"
                " FROM batches ORDER BY id"
            ).fetchall()
        return [_summary(row) for row in found]

    def batch(self, reference: str) -> dict | None:
        """One stored batch with its rows, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT reference, idempotency_key, header, row_count, received_at, rows"
                " FROM batches WHERE reference = ?",
                (reference,),
            ).fetchone()
        return None if row is None else {**_summary(row), "rows": json.loads(row["rows"])}

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM batches").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _replay(self, key: str, digest: str) -> Answer | None:
        row = self._db.execute(
            "SELECT body_sha256, status, response FROM batches WHERE idempotency_key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        if row["body_sha256"] != digest:
            raise KeyReused(key)
        return Answer(row["status"], json.loads(row["response"]), replayed=True)


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _summary(row: sqlite3.Row) -> dict:
    return {
        "reference": row["reference"],
        "idempotency_key": row["idempotency_key"],
        **json.loads(row["header"]),
        "row_count": row["row_count"],
        "received_at": row["received_at"],
    }
