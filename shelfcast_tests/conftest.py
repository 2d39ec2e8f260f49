"""Shared fixtures: a small deterministic landing zone and a per-test lake, outbox and instance."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest_plugins = ["shelfcast_tests.s3_server"]

# Two markets, 40 products each, two years of history up to the months the tests run.
TEST_MARKETS = ["US", "GB"]
TEST_FIRST_MONTH = "2022-03"
TEST_LAST_MONTH = "2024-03"


@pytest.fixture(scope="session")
def generated_landing(tmp_path_factory) -> Path:
    from shelfcast.core.demo_data import GeneratorSpec, generate
    from shelfcast.platform.landing import write_drop
    from shelfcast.platform.storage import as_upath

    root = tmp_path_factory.mktemp("landing")
    spec = GeneratorSpec().with_size(
        products=40, markets=TEST_MARKETS, first_month=TEST_FIRST_MONTH, last_month=TEST_LAST_MONTH
    )
    for drop in generate(spec):
        for dataset, frame in (("sales", drop.sales), ("products", drop.products)):
            folder = as_upath(root / dataset / f"market={drop.market}" / f"month={drop.month}")
            write_drop(folder, dataset, frame, "parquet")
    return root


@dataclass
class Workspace:
    landing: Path
    lake: Path
    outbox: Path
    home: Path

    def lake_files(self) -> list[str]:
        """Asset objects in the lake (run parameter snapshots under _runs/_params excluded)."""
        return sorted(
            str(p.relative_to(self.lake))
            for p in self.lake.rglob("*")
            if p.is_file() and not p.relative_to(self.lake).parts[0].startswith("_")
        )

    def sales_drop(self, market: str, month: str) -> Path:
        return self.landing / "sales" / f"market={market}" / f"month={month}" / "sales.parquet"


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch, generated_landing: Path) -> Workspace:
    """A private copy of the landing zone, an empty lake and outbox, all wired through env."""
    space = Workspace(
        landing=tmp_path / "landing",
        lake=tmp_path / "lake",
        outbox=tmp_path / "outbox",
        home=tmp_path / "dagster_home",
    )
    shutil.copytree(generated_landing, space.landing)
    space.home.mkdir()
    monkeypatch.setenv("SHELFCAST_LANDING", str(space.landing))
    monkeypatch.setenv("SHELFCAST_STORAGE", str(space.lake))
    monkeypatch.setenv("SHELFCAST_OUTBOX", str(space.outbox))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("SHELFCAST_CONFIG_URL", raising=False)
    return space


# Test files that start a Dagster webserver or a browser.
UI_TEST_FILES = {"test_dagster_ui.py", "test_browser.py"}


def pytest_collection_modifyitems(items) -> None:
    """Tiers by what a test needs: ``s3`` (the SeaweedFS server), ``ui`` (a Dagster webserver)
    and ``slow`` (whole pipelines, subprocesses). ``make test-fast`` runs the rest."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & {"s3_server", "s3_env", "s3_workspace"}:
            item.add_marker(pytest.mark.s3)
        if item.path.name in UI_TEST_FILES:
            item.add_marker(pytest.mark.ui)
