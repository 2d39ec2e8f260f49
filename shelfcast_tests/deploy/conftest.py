"""Fixtures of the deploy tests (services in ``stack``); every test here is ``deploy`` and ``slow``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shelfcast_tests.deploy import stack


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if item.path.parent == Path(__file__).parent:
            item.add_marker(pytest.mark.deploy)
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="module")
def postgres_db() -> Iterator[dict[str, str]]:
    """A database of its own on the machine's PostgreSQL, dropped afterwards; its DAGSTER_PG_*."""
    with stack.postgres_database() as database:
        yield database


@pytest.fixture(scope="module")
def celery_env() -> Iterator[dict[str, str]]:
    """SHELFCAST_EXECUTOR=celery on two Redis databases of its own, emptied before and after."""
    with stack.redis_databases() as (broker, backend):
        yield stack.celery_env(broker, backend)
