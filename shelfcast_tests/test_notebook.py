"""The notebook home: shelfcast.notebook loads partitions and parameters from the configured lake,
and notebooks/explore_partition.ipynb runs top to bottom on demo data."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from shelfcast.notebook import NotInTheLake, load_asset, load_params
from shelfcast.pipeline.runner import run_partitions

NOTEBOOK = Path(__file__).parents[1] / "notebooks" / "explore_partition.ipynb"


def test_an_unknown_asset_or_a_partition_not_in_the_lake_is_named(workspace):
    with pytest.raises(NotInTheLake, match="no asset 'forecasts'; the assets are demand_forecast"):
        load_asset("forecasts", "US", "2024-03")
    with pytest.raises(NotInTheLake, match=r"sales US 2024-03 is not in the lake \(.*lake/sales"):
        load_asset("sales", "US", "2024-03")
    with pytest.raises(NotInTheLake, match="unknown market 'XX'"):
        load_asset("sales", "XX", "2024-03")
    with pytest.raises(NotInTheLake, match="no run of US 2024-03 has saved parameters"):
        load_params(market="US", month="2024-03")


@pytest.mark.slow
def test_partitions_and_parameters_load_validated_and_the_notebook_runs(workspace, monkeypatch):
    outcome = run_partitions(["US"], ["2024-03"], ["optimiser.max_changes=7"])[0]
    assert outcome.success, outcome.error

    recommendations = load_asset("price_recommendations", "US", "2024-03")
    assert recommendations["is_change"].sum() <= 7
    sales = load_asset("sales", "US", "2024-03", months=3)
    assert sorted(sales["month"].unique()) == ["2024-01", "2024-02", "2024-03"]
    latest = load_params(market="US", month="2024-03")
    assert latest.optimiser.max_changes == 7
    assert latest.config.provenance["optimiser.max_changes"] == "--patch"
    assert load_params(run_id=outcome.run_id).optimiser.max_changes == 7

    monkeypatch.setenv("SHELFCAST_MARKET", "US")
    monkeypatch.setenv("SHELFCAST_MONTH", "2024-03")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3").execute()
    images = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]
    assert len(images) >= 3  # price changes, margin, and at least one forecast chart
