"""The Dagster UI shows the graph and, for a run with an S3 overlay and a CLI patch, the effective
parameters with their layers in the materialization metadata."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from shelfcast.pipeline.resources import CONFIG_DIR
from shelfcast.pipeline.runner import run_partitions
from shelfcast_tests.services import wait_for_webserver

QUERY = """
{
  assetNodes { assetKey { path } }
  assetOrError(assetKey: {path: ["price_recommendations"]}) {
    ... on Asset {
      assetMaterializations(limit: 1) {
        partition
        metadataEntries {
          label
          ... on MarkdownMetadataEntry { mdStr }
          ... on TableMetadataEntry { table { records } }
        }
      }
    }
  }
}
"""


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def dagster_ui(workspace):
    """dagster-webserver on a free 127.0.0.1 port over the workspace's instance."""
    shutil.copy(CONFIG_DIR / "dagster" / "local.yaml", workspace.home / "dagster.yaml")
    port = free_port()
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster-webserver"),
            "-m",
            "shelfcast.definitions",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        env={**os.environ, "DAGSTER_HOME": str(workspace.home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # the webserver ignores signals unless its group is signalled
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_webserver(url, [process])
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.mark.slow
def test_the_ui_shows_parameters_from_an_s3_overlay_and_a_cli_patch(
    workspace, s3_server, s3_env, monkeypatch, dagster_ui
):
    bucket = s3_env
    s3_server.client().put_object(
        Bucket=bucket, Key="config/market=US.yaml", Body=b"optimiser:\n  min_margin: 0.15\n"
    )
    monkeypatch.setenv("SHELFCAST_CONFIG_URL", f"s3://{bucket}/config")
    monkeypatch.setenv("DAGSTER_HOME", str(workspace.home))
    outcome = run_partitions(["US"], ["2024-03"], ["optimiser.max_changes=3"])[0]
    assert outcome.success, outcome.error

    answer = httpx.post(f"{dagster_ui}/graphql", json={"query": QUERY}, timeout=60).json()
    assets = {"/".join(node["assetKey"]["path"]) for node in answer["data"]["assetNodes"]}
    assert {"sales", "price_recommendations", "partner_delivery"} <= assets

    materialization = answer["data"]["assetOrError"]["assetMaterializations"][0]
    assert materialization["partition"] == "US|2024-03-01"
    entries = {e["label"]: e for e in materialization["metadataEntries"]}
    records = [json.loads(record) for record in entries["parameters"]["table"]["records"]]
    rows = {record["parameter"]: record for record in records}
    assert rows["optimiser.max_changes"]["value"] == "3"
    assert rows["optimiser.max_changes"]["layer"] == "--patch"
    assert rows["optimiser.min_margin"]["layer"].startswith(
        f"s3://{bucket}/config/market=US.yaml@etag:"
    )
    assert rows["optimiser.discount_budget"]["layer"].startswith("configs/defaults.yaml@")
    assert "month=2024-03.yaml (absent)" in entries["parameter_layers"]["mdStr"]
