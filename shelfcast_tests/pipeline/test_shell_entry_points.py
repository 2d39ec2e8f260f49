"""The shell entry points of the README work as written."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shelfcast.cli import app
from shelfcast.pipeline.resources import CONFIG_DIR

BIN = Path(sys.executable).parent


def load_history(workspace, monkeypatch) -> None:
    """The sales history of US 2024-03's window, in one single-run backfill on the instance."""
    from dagster import DagsterInstance

    from shelfcast.definitions import defs
    from shelfcast.pipeline.jobs import SALES_HISTORY, partition_range_tags

    shell_env(workspace)  # the instance's dagster.yaml
    monkeypatch.setenv("DAGSTER_HOME", str(workspace.home))
    result = defs.resolve_job_def(SALES_HISTORY).execute_in_process(
        instance=DagsterInstance.get(), tags=partition_range_tags("US", "2022-04", "2024-02")
    )
    assert result.success


def shell_env(workspace) -> dict[str, str]:
    env = {
        **os.environ,
        "SHELFCAST_LANDING": str(workspace.landing),
        "SHELFCAST_STORAGE": str(workspace.lake),
        "SHELFCAST_OUTBOX": str(workspace.outbox),
        "DAGSTER_HOME": str(workspace.home),
    }
    shutil.copy(CONFIG_DIR / "dagster" / "local.yaml", workspace.home / "dagster.yaml")
    return env


@pytest.mark.slow
def test_dagster_job_execute_with_partition_tags_materializes_the_partition(workspace):
    # The history first, with the command a short window's refusal names.
    env = shell_env(workspace)
    history = subprocess.run(
        [
            str(BIN / "dagster"),
            "asset",
            "materialize",
            "-m",
            "shelfcast.definitions",
            "--select",
            "sales",
            "--partition-range",
            "US|2022-04-01...US|2024-02-01",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert history.returncode == 0, history.stderr[-3000:]
    tags = {
        "dagster/partition": "US|2024-03-01",
        "dagster/partition/market": "US",
        "dagster/partition/month": "2024-03-01",
    }
    completed = subprocess.run(
        [
            str(BIN / "dagster"),
            "job",
            "execute",
            "-m",
            "shelfcast.definitions",
            "-j",
            "monthly_pricing",
            "--tags",
            json.dumps(tags),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    files = workspace.lake_files()
    for asset in (
        "sales",
        "products",
        "product_performance",
        "demand_forecast",
        "price_recommendations",
        "partner_export",
        "partner_delivery",
    ):
        assert f"{asset}/market=US/month=2024-03.parquet" in files
    assert (workspace.outbox / "market=US" / "month=2024-03" / "manifest.json").exists()
    assert "RUN_SUCCESS" in completed.stderr + completed.stdout


@pytest.mark.slow
def test_dg_launch_with_a_partition_key_materializes_the_partition(workspace, monkeypatch):
    load_history(workspace, monkeypatch)
    completed = subprocess.run(
        [str(BIN / "dg"), "launch", "--job", "monthly_pricing", "--partition", "US|2024-03-01"],
        cwd=Path(__file__).parents[2],
        env={**shell_env(workspace), "VIRTUAL_ENV": str(BIN.parent)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    for asset in ("sales", "demand_forecast", "price_recommendations", "partner_delivery"):
        assert f"{asset}/market=US/month=2024-03.parquet" in workspace.lake_files()
    assert "RUN_SUCCESS" in completed.stderr + completed.stdout
    assert "SupersessionWarning" not in completed.stderr


@pytest.mark.slow
def test_dagster_job_execute_refuses_a_typo_in_the_run_config_patches_before_the_run(
    workspace, tmp_path
):
    run_config = tmp_path / "run.yaml"
    run_config.write_text(
        'resources:\n  params:\n    config:\n      patches: ["optimiser.max_chnges=10"]\n'
    )
    completed = subprocess.run(
        [
            str(BIN / "dagster"), "job", "execute", "-m", "shelfcast.definitions",
            "-j", "monthly_pricing", "-c", str(run_config),
            "--tags", json.dumps({"dagster/partition": "US|2024-03-01"}),
        ],
        env=shell_env(workspace),
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert completed.returncode != 0
    assert (
        "--patch: unknown parameter optimiser.max_chnges = 10; did you mean optimiser.max_changes?"
        in completed.stderr + completed.stdout
    )
    assert workspace.lake_files() == []


def test_a_typo_in_a_patch_stops_the_run_before_any_work(workspace):
    result = CliRunner().invoke(
        app, ["run", "--market", "US", "--month", "2024-03", "--patch", "optimiser.max_chnages=3"]
    )
    assert result.exit_code == 1
    assert "unknown parameter optimiser.max_chnages" in result.output
    assert "did you mean optimiser.max_changes" in result.output
    assert workspace.lake_files() == []


def test_an_unknown_market_is_rejected(workspace):
    result = CliRunner().invoke(app, ["run", "--market", "XX", "--month", "2024-03"])
    assert result.exit_code == 1
    assert "unknown market 'XX'" in result.output
    assert workspace.lake_files() == []


def test_config_show_prints_effective_values_and_their_layers(workspace):
    runner = CliRunner()
    shown = runner.invoke(
        app,
        [
            "config",
            "show",
            "--market",
            "SE",
            "--month",
            "2024-03",
            "--patch",
            "optimiser.max_changes=7",
        ],
    )
    assert shown.exit_code == 0, shown.output
    assert "max_changes: 7" in shown.output
    table = runner.invoke(
        app,
        [
            "config",
            "show",
            "--market",
            "SE",
            "--month",
            "2024-03",
            "--patch",
            "optimiser.max_changes=7",
            "--provenance",
        ],
    )
    layers, _, parameters = table.output.partition("\nparameter ")
    assert "markets/SE.yaml@sha256:" in layers and "--patch" in layers
    lines = {line.split()[0]: line for line in parameters.splitlines()[1:] if line.strip()}
    assert "--patch" in lines["optimiser.max_changes"]
    assert "markets/SE.yaml" in lines["optimiser.discount_budget"]
    assert "defaults.yaml" in lines["optimiser.min_margin"]


def test_data_generate_writes_csv_drops(tmp_path: Path):
    result = CliRunner().invoke(
        app,
        [
            "data",
            "generate",
            "--landing",
            str(tmp_path),
            "--format",
            "csv",
            "--products",
            "5",
            "--markets",
            "GB",
            "--first-month",
            "2024-01",
            "--last-month",
            "2024-02",
        ],
    )
    assert result.exit_code == 0, result.output
    drops = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.csv"))
    assert drops == [
        "products/market=GB/month=2024-01/products.csv",
        "products/market=GB/month=2024-02/products.csv",
        "sales/market=GB/month=2024-01/sales.csv",
        "sales/market=GB/month=2024-02/sales.csv",
    ]
