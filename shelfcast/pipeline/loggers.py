"""The console logger of runs started by the `shelfcast` CLI: warnings, one line each.

A refused run is reported once, by the CLI, with the failure's own message. Dagster's console
logger would print the step failure again with its ~30-line stack trace first; this logger
shows warnings only (errors are the CLI's to report), each as its first line, secrets masked.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from dagster import Field, InitLoggerContext, logger

from shelfcast.platform.secrets import redact


class _FirstLine(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = redact(record.getMessage()).strip().splitlines()
        return f"warning: {message[0] if message else ''}"


# Set by the CLI's runner for the run in this process: told the key of each step as it starts.
STEP_LISTENER: Callable[[str], None] | None = None


class _StepStarts(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        listener = STEP_LISTENER
        event = (getattr(record, "dagster_meta", None) or {}).get("dagster_event")
        if listener is not None and event is not None and event.event_type_value == "STEP_START":
            listener(event.step_key)


class _WarningsOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno == logging.WARNING


@logger(
    config_schema={"name": Field(str, default_value="shelfcast_cli", is_required=False)},
    description="Warnings as single lines on stderr; failures are reported by the CLI",
)
def cli_logger(init_context: InitLoggerContext) -> logging.Logger:
    log = logging.getLogger(init_context.logger_config["name"])
    log.propagate = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_FirstLine())
    handler.addFilter(_WarningsOnly())
    log.handlers = [handler]
    if STEP_LISTENER is not None:  # progress: step starts are DEBUG records
        log.setLevel(logging.DEBUG)
        log.handlers.append(_StepStarts())
    else:
        log.setLevel(logging.WARNING)
    return log
