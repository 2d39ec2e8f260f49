"""Secret values, recognised by value: refused in configuration, masked in logs and messages.

Configuration names the environment variable that holds a secret and never holds the secret.
Checking key names alone is not enough (``delivery.url=<the token>`` has an innocent key), so
the values themselves are compared with the values of the environment variables whose names mark
a secret: ``*TOKEN*``, ``*SECRET*``, ``*PASSWORD*``, ``*PASSWD*``, ``*KEY*``, ``*CREDENTIAL*``
(``AWS_SECRET_ACCESS_KEY``, ``DAGSTER_PG_PASSWORD``, ``PARTNER_API_TOKEN`` …) and any variable a
caller names (such as the one ``delivery.token_env`` names). Values shorter than
``MIN_SECRET_LENGTH`` are not treated as secrets: masking ``1`` everywhere would help nobody.

The same list feeds a log-record filter on shelfcast's and Dagster's loggers and the text of
every error shelfcast reports, so a secret that reached a message anyway is masked, not shown.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL", re.IGNORECASE)
MIN_SECRET_LENGTH = 6
MASK = "***"
# ``scheme://user:password@host`` or ``scheme://token@host``: credentials in a URL.
URL_WITH_USERINFO = re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s@]+@", re.IGNORECASE)
# Variables the pipeline itself names as holding a secret, whatever their names look like.
_named: set[str] = set()


def name_secret_variable(name: str) -> None:
    """Treat the environment variable ``name`` as a secret from now on in this process."""
    if name:
        _named.add(name)


def secret_values(extra_names: Iterable[str] = ()) -> dict[str, str]:
    """Environment variable name → value, for every variable that holds a secret."""
    names = set(extra_names) | _named
    return {
        name: value
        for name, value in os.environ.items()
        if (SECRET_NAME.search(name) or name in names) and len(value.strip()) >= MIN_SECRET_LENGTH
    }


def secrets_in(values: Mapping[str, Any], extra_names: Iterable[str] = ()) -> list[tuple[str, str]]:
    """``(dotted key, what it holds)`` for every leaf holding a secret's value or a URL with
    credentials; what it holds is the variable's *name*, never the value."""
    secrets = secret_values(extra_names)
    found = []
    for key, value in _string_leaves(values):
        for name, secret in secrets.items():
            if secret in value:
                found.append((key, f"the value of the environment variable {name}"))
                break
        else:
            if URL_WITH_USERINFO.search(value):
                found.append((key, "a URL with credentials (user:password@)"))
    return found


def redact(text: str, extra_names: Iterable[str] = ()) -> str:
    """``text`` with every secret value masked, longest first (a secret may contain another)."""
    for secret in sorted(secret_values(extra_names).values(), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return URL_WITH_USERINFO.sub(lambda m: m.group(0).split("//", 1)[0] + f"//{MASK}@", text)


class RedactSecrets(logging.Filter):
    """Masks secret values in a record's message (its arguments merged in first)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


_installed = False


def install_log_redaction() -> None:
    """Mask secrets in every record of the ``shelfcast`` and ``dagster`` loggers, once per
    process: a record factory, so child loggers and Dagster's event log get masked text too."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()
    redacting = RedactSecrets()

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if isinstance(record.name, str) and record.name.startswith(("shelfcast", "dagster")):
            redacting.filter(record)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True


def _string_leaves(values: Any, prefix: str = "") -> Iterable[tuple[str, str]]:
    if isinstance(values, Mapping):
        for key, value in values.items():
            yield from _string_leaves(value, f"{prefix}{key}.")
    elif isinstance(values, list | tuple):
        for index, value in enumerate(values):
            yield from _string_leaves(value, f"{prefix}{index}.")
    elif isinstance(values, str):
        yield prefix.rstrip("."), values
