"""`shelfcast run --submit` refuses with one message when it cannot reach the deployment; the
queued path itself runs against a webserver and a daemon in shelfcast_tests/deploy."""

from __future__ import annotations

import shutil
from pathlib import Path

from shelfcast_tests.pipeline.test_refusals import assert_one_message, cli
from shelfcast_tests.s3_server import free_port

LOCAL_INSTANCE = Path(__file__).resolve().parents[2] / "configs/dagster/local.yaml"


def test_submit_without_the_deployments_instance_names_dagster_home(workspace):
    result = cli("run", "--market", "US", "--month", "2024-03", "--submit")
    assert_one_message(result)
    assert "set DAGSTER_HOME to the folder of the deployment's dagster.yaml" in result.output


def test_submit_to_an_unreachable_webserver_names_it_and_submits_nothing(workspace, monkeypatch):
    shutil.copy(LOCAL_INSTANCE, workspace.home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(workspace.home))
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("SHELFCAST_UI_URL", url)
    result = cli("run", "--market", "US", "--month", "2024-03", "--submit", "--wait")
    assert_one_message(result)
    assert f"the Dagster webserver at {url} is unreachable" in result.output
    assert "SHELFCAST_UI_URL" in result.output
    assert workspace.lake_files() == []


def test_submit_checks_the_parameters_before_anything_is_submitted(workspace):
    result = cli(
        "run", "--market", "US", "--month", "2024-03", "--submit", "-p", "optimiser.max_changes=-1"
    )
    assert_one_message(result)
    assert "optimiser.max_changes" in result.output


def test_wait_without_submit_is_a_usage_error(workspace):
    assert_one_message(cli("run", "--market", "US", "--month", "2024-03", "--wait"), code=2)


def test_submit_refuses_a_local_patch_file_the_runs_could_not_read(workspace, tmp_path):
    patches = tmp_path / "patches.yaml"
    patches.write_text("optimiser:\n  max_changes: 10\n")
    result = cli(
        "run", "--market", "US", "--month", "2024-03", "--submit", "--patch-file", str(patches)
    )
    assert_one_message(result, code=2)
    assert "give its URL (s3://…), or use --patch" in result.output
