"""Layered parameters of the pipeline: every layer, its precedence, its errors, one config a run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, MultiPartitionKey

from shelfcast.pipeline.params import PipelineParams
from shelfcast.pipeline.resources import Locations
from shelfcast.pipeline.runner import replay, run_partitions
from shelfcast.platform.config import ConfigError
from shelfcast.platform.snapshots import frozen_for_run
from shelfcast.platform.storage import as_upath
from shelfcast_tests.partner_api.helpers import TOKEN, running_partner, stats


@pytest.fixture
def layered(tmp_path: Path) -> dict[str, Path]:
    """A config folder (defaults + a US overlay) and a remote overlay folder with all three files."""
    config_dir = tmp_path / "configs"
    shutil.copytree(Locations().config_folder(), config_dir)
    (config_dir / "markets" / "US.yaml").write_text(
        "optimiser:\n  max_changes: 30\n  min_margin: 0.2\n"
    )
    remote = tmp_path / "remote"
    (remote / "market=US").mkdir(parents=True)
    (remote / "market=US.yaml").write_text("optimiser:\n  max_changes: 20\n  objective: revenue\n")
    (remote / "month=2024-03.yaml").write_text("optimiser:\n  max_changes: 10\n")
    (remote / "market=US" / "month=2024-03.yaml").write_text("optimiser:\n  max_changes: 5\n")
    patch_file = tmp_path / "patch.yaml"
    patch_file.write_text("optimiser.max_changes: 4\nforecast:\n  horizon_days: 21\n")
    return {"config_dir": config_dir, "remote": remote, "patch_file": patch_file}


def params(layered, **settings) -> PipelineParams:
    deployment = Locations(config_dir=str(layered["config_dir"]), config_url=str(layered["remote"]))
    return PipelineParams(deployment=deployment, **settings)


def test_each_layer_overrides_the_ones_below_it(layered):
    resolved = params(layered).check("US", "2024-03").config
    assert resolved.get("optimiser.max_changes") == 5
    assert resolved.provenance["optimiser.max_changes"].startswith(
        f"{layered['remote']}/market=US/month=2024-03.yaml@sha256:"
    )
    assert resolved.get("optimiser.objective") == "revenue"
    assert "market=US.yaml" in resolved.provenance["optimiser.objective"]
    assert resolved.get("optimiser.min_margin") == 0.2
    assert "markets/US.yaml" in resolved.provenance["optimiser.min_margin"]
    assert "defaults.yaml" in resolved.provenance["optimiser.discount_budget"]

    patched = (
        params(layered, patch_file=str(layered["patch_file"]), patches=["optimiser.max_changes=3"])
        .check("US", "2024-03")
        .config
    )
    assert patched.get("optimiser.max_changes") == 3
    assert patched.provenance["optimiser.max_changes"] == "--patch"
    assert patched.get("forecast.horizon_days") == 21
    assert patched.provenance["forecast.horizon_days"].startswith("--patch-file ")
    # A patch of one key keeps its siblings from every lower layer.
    assert patched.get("optimiser.objective") == "revenue"
    assert patched.get("optimiser.min_margin") == 0.2


def test_other_partitions_do_not_see_a_markets_overlays(layered):
    resolved = params(layered).check("GB", "2024-02").config
    assert resolved.get("optimiser.max_changes") == 40
    names = "\n".join(resolved.layers)
    assert "market=GB.yaml (absent)" in names and "markets/GB.yaml (absent)" in names


@pytest.mark.parametrize("layer", ["repo", "remote", "patch_file", "patch"])
def test_a_typo_in_any_layer_names_the_key_the_layer_and_the_closest_key(layered, layer):
    typo = "optimiser:\n  max_chnages: 3\n"
    settings = {}
    if layer == "repo":
        (layered["config_dir"] / "markets" / "US.yaml").write_text(typo)
        where = "markets/US.yaml"
    elif layer == "remote":
        (layered["remote"] / "month=2024-03.yaml").write_text(typo)
        where = "month=2024-03.yaml"
    elif layer == "patch_file":
        layered["patch_file"].write_text(typo)
        settings = {"patch_file": str(layered["patch_file"])}
        where = "--patch-file"
    else:
        settings = {"patches": ["optimiser.max_chnages=3"]}
        where = "--patch"
    with pytest.raises(ConfigError) as error:
        params(layered, **settings).check("US", "2024-03")
    message = str(error.value)
    assert where in message
    assert "unknown parameter optimiser.max_chnages" in message
    assert "did you mean optimiser.max_changes" in message


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ("forecast.horizon_days=soon", "forecast.horizon_days = 'soon' has type str, expected int"),
        (
            "optimiser.objective=profit",
            "optimiser.objective = 'profit' is not one of margin, revenue",
        ),
        ("delivery.kind=email", "delivery.kind = 'email' is not one of outbox, http"),
        ("performance.rules=[yoy_decline,low_margn]", "'low_margn' is not one of"),
    ],
)
def test_wrong_types_and_values_name_key_value_and_layer(layered, patch, expected):
    with pytest.raises(ConfigError) as error:
        params(layered, patches=[patch]).check("US", "2024-03")
    assert "--patch" in str(error.value)
    assert expected in str(error.value)


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ("optimiser.max_price_change=-0.1", "optimiser.max_price_change must be a share >= 0"),
        ("optimiser.price_ladder=[-1.5,0.1]", "optimiser.price_ladder must be a non-empty list"),
        ("performance.yoy_decline=25", "performance.yoy_decline must be a share in [0, 1], got 25"),
        ("elasticity.prior_strength=-1.0", "elasticity.prior_strength must be >= 0, got -1.0"),
        ("elasticity.prior=.nan", "elasticity.prior must be a finite number, got nan"),
        ("forecast.history_months=36", "forecast.history_months must be 1 … 24"),
        ("forecast.horizon_days=0", "forecast.horizon_days must be >= 1, got 0"),
        ("delivery.effective_after_days=-2", "delivery.effective_after_days must be >= 0"),
    ],
)
def test_values_out_of_range_are_refused_before_any_step(layered, patch, expected):
    with pytest.raises(ConfigError) as error:
        params(layered, patches=[patch]).check("US", "2024-03")
    assert expected in str(error.value)


def test_every_value_out_of_range_is_named_at_once(layered):
    patches = ["optimiser.min_margin=1.5", "forecast.backtest_folds=-1"]
    with pytest.raises(ConfigError) as error:
        params(layered, patches=patches).check("US", "2024-03")
    assert "optimiser.min_margin must be a share below 1, got 1.5" in str(error.value)
    assert "forecast.backtest_folds must be >= 0, got -1" in str(error.value)


def test_malformed_yaml_in_an_overlay_names_file_and_line(layered):
    (layered["remote"] / "market=US.yaml").write_text("optimiser:\n  max_changes: [3\n")
    with pytest.raises(ConfigError, match=r"market=US.yaml line 3"):
        params(layered).check("US", "2024-03")


def test_an_unreachable_overlay_store_stops_the_run(layered, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    unreachable = PipelineParams(
        deployment=Locations(config_dir=str(layered["config_dir"]), config_url="s3://configs")
    )
    with pytest.raises(ConfigError, match="s3://configs/market=US.yaml could not be read"):
        unreachable.check("US", "2024-03")


def test_a_market_the_partitions_do_not_know_is_refused(layered):
    (layered["remote"] / "month=2024-03.yaml").write_text("markets:\n  FR:\n    currency: EUR\n")
    with pytest.raises(ConfigError, match="market 'FR' is not one of the partition markets"):
        params(layered).check("US", "2024-03")


def test_a_secret_in_any_layer_is_refused(layered):
    with pytest.raises(ConfigError, match="delivery.token looks like a secret"):
        params(layered, patches=["delivery.token=s3cr3t"]).check("US", "2024-03")


def test_a_run_keeps_the_parameters_its_first_step_resolved(layered, tmp_path):
    base = as_upath(tmp_path / "lake")
    overlay = layered["remote"] / "month=2024-03.yaml"
    first, path = frozen_for_run(
        base,
        "run-1",
        ["market=US", "month=2024-03"],
        lambda: params(layered).check("US", "2024-03").config,
    )
    overlay.write_text("optimiser:\n  max_changes: 1\n")  # edited while the run goes on
    (layered["remote"] / "market=US" / "month=2024-03.yaml").unlink()
    later, _ = frozen_for_run(
        base,
        "run-1",
        ["market=US", "month=2024-03"],
        lambda: params(layered).check("US", "2024-03").config,
    )
    assert later.values == first.values and later.get("optimiser.max_changes") == 5
    fresh, _ = frozen_for_run(
        base,
        "run-2",
        ["market=US", "month=2024-03"],
        lambda: params(layered).check("US", "2024-03").config,
    )
    assert fresh.get("optimiser.max_changes") == 1
    assert json.loads(path.read_text())["values"] == first.values


@pytest.mark.slow
def test_materializations_carry_values_and_layers_and_a_replay_reuses_them(
    workspace, monkeypatch, tmp_path, capfd
):
    monkeypatch.setenv("PARTNER_API_TOKEN", TOKEN)
    monkeypatch.setenv("DAGSTER_HOME", str(workspace.home))
    with running_partner(tmp_path / "partner.sqlite3") as partner:
        # Delivered over HTTP, so the token is read and sent: it must still show nowhere.
        http = ["delivery.kind=http", f"delivery.url={partner.batches_url}"]
        first = run_partitions(["US"], ["2024-03"], ["optimiser.max_changes=1", *http])[0]
        assert first.success, first.error
        assert stats(partner)["stored"] >= 1

        instance = DagsterInstance.get()
        key = str(MultiPartitionKey({"market": "US", "month": "2024-03-01"}))
        event = instance.get_latest_materialization_event(AssetKey("price_recommendations"))
        assert event.dagster_event.partition == key
        metadata = event.asset_materialization.metadata
        row = next(
            row.data
            for row in metadata["parameters"].records
            if row.data["parameter"] == "optimiser.max_changes"
        )
        assert row["value"] == "1" and row["layer"] == "--patch"
        assert "frozen at" in metadata["parameter_layers"].value
        snapshot = (
            workspace.lake / "_runs" / first.run_id / "params" / "market=US" / "month=2024-03.json"
        )
        assert json.loads(snapshot.read_text())["values"]["optimiser"]["max_changes"] == 1

        recommended = read_changes(workspace)
        assert run_partitions(["US"], ["2024-03"], [])[0].success  # defaults allow more changes
        assert read_changes(workspace) > recommended

        replayed = replay(first.run_id)
        assert [o.success for o in replayed] == [True]
        assert read_changes(workspace) == recommended
        latest = instance.get_latest_materialization_event(AssetKey("price_recommendations"))
        assert (
            f"replay of {snapshot}"
            in latest.asset_materialization.metadata["parameter_layers"].value
        )

    # The token's value is nowhere: not in metadata, logs, saved parameters or the console.
    logs = "\n".join(
        str(entry) for run in instance.get_runs() for entry in instance.all_logs(run.run_id)
    )
    saved = "\n".join(p.read_text() for p in (workspace.lake / "_runs").rglob("*.json"))
    captured = capfd.readouterr()
    assert logs and TOKEN not in logs
    assert "PARTNER_API_TOKEN" in saved and TOKEN not in saved
    assert TOKEN not in captured.out + captured.err


def read_changes(workspace) -> int:
    import pandas as pd

    frame = pd.read_parquet(
        workspace.lake / "price_recommendations/market=US/month=2024-03.parquet"
    )
    return int(frame["is_change"].sum())


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (
            "optimiser.max_chnges=10",
            "--patch: unknown parameter optimiser.max_chnges = 10; did you mean optimiser.max_changes?",
        ),
        ("optimiser.max_changes=ten", "optimiser.max_changes = 'ten' has type str, expected int"),
        ("forecast.model=prophet", "forecast.model = 'prophet' is not one of"),
    ],
)
def test_a_run_config_patch_is_checked_when_the_run_is_launched(workspace, patch, message):
    from dagster import DagsterInvalidConfigError

    from shelfcast.definitions import defs

    job = defs.resolve_job_def("monthly_pricing")
    with pytest.raises(DagsterInvalidConfigError) as error:
        job.execute_in_process(
            run_config={"resources": {"params": {"config": {"patches": [patch]}}}},
            partition_key="US|2024-03-01",
            instance=DagsterInstance.ephemeral(),
        )
    assert message in str(error.value)
    assert workspace.lake_files() == []
