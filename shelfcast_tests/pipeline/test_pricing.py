"""`price_recommendations` in the pipeline: a plan every constraint check passes, and runs that
cannot price stop before anything is exported, with the conflict or the bad key named."""

from __future__ import annotations

import pandas as pd
import pytest
from dagster import DagsterEventType, DagsterInstance

from shelfcast.pipeline.jobs import MONTHLY_PRICING, partition_tags
from shelfcast.pipeline.partitions import partition_key
from shelfcast.pipeline.runner import run_partitions
from shelfcast.platform.config import ConfigError


def partition_files(workspace, asset: str) -> list[str]:
    return [f for f in workspace.lake_files() if f.startswith(f"{asset}/market=US/month=2024-03")]


def events(run_id: str, kind: DagsterEventType) -> list:
    return [
        record.dagster_event
        for record in DagsterInstance.get().all_logs(run_id)
        if record.dagster_event is not None and record.dagster_event.event_type == kind
    ]


@pytest.mark.slow
def test_a_plan_passes_the_blocking_check_and_records_stock_solver_and_elasticity(
    workspace, monkeypatch
):
    monkeypatch.setenv("DAGSTER_HOME", str(workspace.home))
    outcome = run_partitions(["US"], ["2024-03"], [])[0]
    assert outcome.success, outcome.error

    recs = pd.read_parquet(workspace.lake / "price_recommendations/market=US/month=2024-03.parquet")
    assert (recs["expected_units"] <= recs["stock_on_hand"] + 1e-9).all()
    checks = events(outcome.run_id, DagsterEventType.ASSET_CHECK_EVALUATION)
    evaluations = {
        c.asset_check_evaluation_data.check_name: c.asset_check_evaluation_data.passed
        for c in checks
    }
    assert evaluations["recommendations_satisfy_constraints"] is True
    assert all(evaluations.values())  # drops complete, within the band, full history windows
    metadata = next(
        e.materialization.metadata
        for e in events(outcome.run_id, DagsterEventType.ASSET_MATERIALIZATION)
        if e.materialization.asset_key.path == ["price_recommendations"]
    )
    assert metadata["solver_method"].value in ("lp_repair", "milp")
    assert 0 <= metadata["solver_gap"].value <= 1e-4
    solver = {row.data["field"]: row.data["value"] for row in metadata["solver"].records}
    assert solver["objective value"].endswith(" USD") and solver["gap"].endswith(" %")
    per_category = metadata["elasticity"].value
    assert set(recs["category"]) <= {row["category"] for row in per_category}
    assert all(row["elasticity"] <= 0 and row["elasticity_se"] > 0 for row in per_category)
    table = metadata["elasticity_by_category"]
    assert [column.name for column in table.schema.columns][:3] == [
        "category",
        "elasticity",
        "standard_error",
    ]
    assert metadata["price_change_distribution"].value.startswith("![")
    assert metadata["currency"].value == "USD"


@pytest.mark.slow
def test_an_infeasible_problem_fails_with_the_conflict_named_and_nothing_is_exported(workspace):
    outcome = run_partitions(["US"], ["2024-03"], ["optimiser.min_margin=0.9"])[0]
    assert not outcome.success
    assert outcome.error.startswith("price_recommendations US 2024-03: no price plan meets")
    assert (
        "no price plan meets every constraint: min_margin=0.9 cannot be met within "
        in outcome.error
    )
    assert "max_price_change=0.25" in outcome.error and "best reachable margin" in outcome.error
    assert "US-0" in outcome.error  # the products are named
    assert partition_files(workspace, "price_recommendations") == []
    assert partition_files(workspace, "partner_export") == []
    assert not (workspace.outbox / "market=US" / "month=2024-03").exists()


def test_a_bad_optimiser_parameter_stops_the_run_before_any_step(workspace):
    with pytest.raises(ConfigError) as raised:
        run_partitions(["US"], ["2024-03"], ["optimiser.discount_budget=-5.0"])
    assert str(raised.value) == (
        "optimiser.discount_budget must be an amount >= 0, got -5.0 (set by --patch)"
    )
    assert workspace.lake_files() == []


def test_a_bad_parameter_in_a_dagster_run_fails_the_first_steps_and_writes_nothing(workspace):
    # The UI and `dagster job execute` start runs without the CLI's check: the steps' own
    # parameter resolution refuses the value before any of them stores an output.
    from shelfcast.definitions import defs

    result = defs.resolve_job_def(MONTHLY_PRICING).execute_in_process(
        instance=DagsterInstance.ephemeral(),
        partition_key=str(partition_key("US", "2024-03")),
        tags=partition_tags("US", "2024-03"),
        run_config={"resources": {"params": {"config": {"patches": ["elasticity.max=0.5"]}}}},
        raise_on_error=False,
    )
    assert not result.success
    failures = [
        event.step_failure_data.user_failure_data.description
        for event in result.all_events
        if event.is_step_failure
    ]
    assert failures and all(
        "elasticity.min <= elasticity.max <= 0 must hold" in text and "(set by --patch)" in text
        for text in failures
    )
    assert workspace.lake_files() == []


@pytest.mark.slow
def test_a_violation_found_by_the_check_blocks_the_export(workspace, monkeypatch):
    from shelfcast.pipeline.assets import pricing

    monkeypatch.setattr(
        pricing, "check_recommendations", lambda *args, **kwargs: ["product US-000001: planted"]
    )
    outcome = run_partitions(["US"], ["2024-03"], [])[0]
    assert not outcome.success
    assert "recommendations_satisfy_constraints" in outcome.error
    assert partition_files(workspace, "price_recommendations") != []  # stored, then held back
    assert partition_files(workspace, "partner_export") == []
