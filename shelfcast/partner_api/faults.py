"""Failures the partner API can be told to suffer, so tests and demos exercise the client's retries.

Set at runtime with ``POST /_faults`` (fields merge into the current state), cleared with
``DELETE /_faults``:

- ``{"fail_first": 2, "status": 503}``  the next 2 batch calls answer 503 (any status);
- ``{"delay_seconds": 3, "count": 1}``  the next call is answered 3 s late, after the batch is
  stored: the partner did the work but the client may have given up (no ``count``: every call);
- ``{"rate_limit": 1, "retry_after": 2}``  the next call answers 429 with ``Retry-After: 2``;
- ``{"reject_sku": "P0001"}``  any batch holding that sku answers 400 naming the row.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, fields

EVERY_CALL = -1


class FaultError(ValueError):
    """A POST /_faults body the server does not understand."""


@dataclass
class FaultState:
    fail_first: int = 0
    status: int = 503
    delay_seconds: float = 0.0
    count: int = 0
    rate_limit: int = 0
    retry_after: int = 1
    reject_sku: str = ""


class Faults:
    """The current fault state; each ``take_*`` consumes one occurrence atomically."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = FaultState()

    def update(self, changes: dict) -> dict:
        known = {f.name: f.type for f in fields(FaultState)}
        unknown = sorted(set(changes) - set(known))
        if unknown:
            raise FaultError(f"unknown fault field(s) {unknown}; known: {sorted(known)}")
        with self._lock:
            state = asdict(self._state)
            for name, value in changes.items():
                caster = {"int": int, "float": float, "str": str}[str(known[name])]
                try:
                    state[name] = caster(value)
                except (TypeError, ValueError):
                    raise FaultError(f"fault {name}={value!r}: expected {known[name]}") from None
            if changes.get("delay_seconds") and "count" not in changes:
                state["count"] = EVERY_CALL
            self._state = FaultState(**state)
            return asdict(self._state)

    def clear(self) -> dict:
        with self._lock:
            self._state = FaultState()
            return asdict(self._state)

    def snapshot(self) -> dict:
        with self._lock:
            return asdict(self._state)

    def take_rate_limit(self) -> int | None:
        """Seconds for Retry-After if this call is rate-limited, else None."""
        with self._lock:
            if self._state.rate_limit <= 0:
                return None
            self._state.rate_limit -= 1
            return self._state.retry_after

    def take_failure(self) -> int | None:
        """The status to fail this call with, else None."""
        with self._lock:
            if self._state.fail_first <= 0:
                return None
            self._state.fail_first -= 1
            return self._state.status

    def take_delay(self) -> float:
        """Seconds to hold this call's answer back (0: none)."""
        with self._lock:
            if self._state.delay_seconds <= 0 or self._state.count == 0:
                return 0.0
            if self._state.count > 0:
                self._state.count -= 1
            return self._state.delay_seconds

    def rejected_sku(self) -> str:
        with self._lock:
            return self._state.reject_sku
