"""What a pricing analyst sees in a real browser: Debian's Chromium, driven by Playwright, against
a Dagster webserver and daemon this test starts over a freshly materialized lake.

The asset pages show the charts (images that loaded), the typed tables, kinds and owners; the
Launchpad refuses a typo in a patch when the run is launched, with the CLI's message; and a
partition launched from the Launchpad runs to success. Screenshots are kept as artefacts under
``$SHELFCAST_TEST_ARTEFACTS`` (default ``test-artefacts/browser/`` in the repository).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from dagster import DagsterInstance
from playwright.sync_api import expect

from shelfcast.definitions import defs
from shelfcast.pipeline.jobs import SALES_HISTORY
from shelfcast.pipeline.resources import CONFIG_DIR
from shelfcast.pipeline.runner import load_sales_history, run_partitions
from shelfcast_tests.services import wait_for_webserver

REPO = Path(__file__).parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCATION = "shelfcast.definitions"
pytestmark = pytest.mark.slow


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def artefacts() -> Path:
    folder = Path(os.environ.get("SHELFCAST_TEST_ARTEFACTS", REPO / "test-artefacts" / "browser"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def dagster_services(workspace, monkeypatch) -> Iterator[str]:
    """The demo's instance (configs/dagster/local.yaml: queued runs) with two partitions
    materialized, served by dagster-webserver and dequeued by dagster-daemon."""
    shutil.copy(CONFIG_DIR / "dagster" / "local.yaml", workspace.home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(workspace.home))
    for outcome in run_partitions(["US", "GB"], ["2024-03"], []):
        assert outcome.success, outcome.error
    # The month the UI launches needs its own 24-month window in the lake: one more old month.
    history = load_sales_history(
        defs.resolve_job_def(SALES_HISTORY), DagsterInstance.get(), "US", ["2024-02"]
    )
    assert all(outcome.success for outcome in history)
    port = free_port()
    bin_dir = Path(sys.executable).parent
    commands = [
        [str(bin_dir / "dagster-webserver"), "-m", LOCATION, "-h", "127.0.0.1", "-p", str(port)],
        [str(bin_dir / "dagster-daemon"), "run", "-m", LOCATION],
    ]
    processes = [
        subprocess.Popen(
            command,
            env=dict(os.environ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # each group is signalled whole at the end
        )
        for command in commands
    ]
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_webserver(url, processes)
        yield url
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def page(tmp_path):
    """A Chromium page with a new, empty profile. Playwright cannot download a browser here:
    the test uses Debian's, and fails (never skips) when it is missing."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's Chromium (make browser, or "
            "apt-get install -y chromium); the browser test never skips"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        context.set_default_timeout(60_000)
        try:
            yield context.new_page()
        finally:
            context.close()


def open_page(page, url: str) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    skip = page.get_by_role("button", name="Skip")  # the one-time community dialog
    if skip.count():
        skip.click()


def loaded_chart(page, label: str) -> tuple[int, int]:
    """Opens the markdown entry ``label`` and returns the size of the chart image it shows."""
    row = page.locator("tr", has=page.get_by_text(label, exact=True)).first
    row.get_by_text("[Show Markdown]").click()
    dialog = page.get_by_role("dialog")
    image = dialog.locator("img[src^='data:image/png']")
    image.wait_for()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )
    size = image.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    return size[0], size[1]


def close_dialog(page) -> None:
    """Closes the open dialog and waits until it has left the page (it fades out)."""
    page.get_by_role("dialog").get_by_role("button", name="Close").click()
    page.wait_for_function("() => document.querySelectorAll('[role=dialog]').length === 0")


def run_field(url: str, run_id: str, fields: str):
    """``fields`` of one run, from the webserver's GraphQL API."""
    query = "query($id: ID!) { runOrError(runId: $id) { ... on Run { %s } } }" % fields  # noqa: UP031
    answer = httpx.post(
        f"{url}/graphql", json={"query": query, "variables": {"id": run_id}}, timeout=30
    ).json()
    return answer["data"]["runOrError"]


def run_status(url: str, run_id: str) -> str:
    return run_field(url, run_id, "status")["status"]


def test_the_asset_pages_show_charts_tables_kinds_and_a_partition_runs_from_the_ui(
    dagster_services, page
):
    url, shots = dagster_services, artefacts()

    open_page(page, f"{url}/assets/demand_forecast")
    for shown in ("pandas", "Parquet", "pricing", "domain: pricing"):
        expect(page.get_by_text(shown, exact=True).first).to_be_visible()  # waits for the page
    expect(page.get_by_text("flagged product (SKU) forecast")).to_be_visible()  # column docs
    page.screenshot(path=str(shots / "demand_forecast_overview.png"))

    open_page(page, f"{url}/assets/demand_forecast?view=events")
    expect(page.locator("table table").first).to_be_visible()  # the typed preview table
    expect(page.get_by_text("backtest_wape_", exact=False).first).to_be_visible()
    for chart in ("forecast_top_products", "forecast_by_category"):
        width, height = loaded_chart(page, chart)
        assert width > 0 and height > 0, chart
        page.screenshot(path=str(shots / f"demand_forecast_{chart}.png"))
        close_dialog(page)

    open_page(page, f"{url}/assets/price_recommendations?view=events")
    assert (
        page.get_by_text(" USD", exact=False).first.is_visible()
        or page.get_by_text(" GBP", exact=False).first.is_visible()
    )
    for table in ("elasticity_by_category", "solver", "parameters"):
        row = page.locator("tr", has=page.get_by_text(table, exact=True)).first
        assert row.locator("table").count(), table
    page.screenshot(path=str(shots / "price_recommendations_events.png"))
    for chart in ("price_change_distribution", "margin_vs_no_change"):
        width, height = loaded_chart(page, chart)
        assert width > 0 and height > 0, chart
        page.screenshot(path=str(shots / f"price_recommendations_{chart}.png"))
        close_dialog(page)

    # The Launchpad: a typo in a patch is refused when the run is launched.
    launchpad = f"{url}/locations/{LOCATION}/jobs/monthly_pricing/playground"
    open_page(page, launchpad)
    choose_partition(page, "US|2024-02-01")
    set_patches(page, ["optimiser.max_chnges=10"])
    page.get_by_role("button", name="Launch Run").click()
    error = page.get_by_role("dialog")
    error.get_by_text("unknown parameter optimiser.max_chnges", exact=False).wait_for()
    assert "did you mean optimiser.max_changes?" in error.inner_text()
    page.screenshot(path=str(shots / "launchpad_typo_refused.png"))
    error.get_by_role("button", name="OK").click()

    # ... and a correct one launches one partition, which runs to success.
    set_patches(page, ["optimiser.max_changes=10"])
    page.get_by_role("button", name="Launch Run").click()
    page.wait_for_url("**/runs/**")
    run_id = page.url.split("/runs/")[1].split("?")[0].strip("/")
    deadline = time.monotonic() + 600
    while run_status(url, run_id) not in ("SUCCESS", "FAILURE", "CANCELED"):
        assert time.monotonic() < deadline, "the launched run did not finish"
        time.sleep(2)
    assert run_status(url, run_id) == "SUCCESS"
    open_page(page, f"{url}/runs/{run_id}")
    page.get_by_text("Success", exact=False).first.wait_for()
    page.screenshot(path=str(shots / "launched_run.png"))
    tags = run_field(url, run_id, "jobName tags { key value }")
    assert tags["jobName"] == "monthly_pricing"
    assert {"key": "dagster/partition", "value": "US|2024-02-01"} in tags["tags"], json.dumps(tags)


def choose_partition(page, key: str) -> None:
    field = page.get_by_placeholder("Partition")
    field.click()
    field.fill(key)
    page.get_by_text(key, exact=True).last.click()
    page.wait_for_load_state("networkidle")


def set_patches(page, patches: list[str]) -> None:
    """The run config's ``patches`` list, entered into the Launchpad's editor as a user would:
    real input events, so the Launchpad takes the text into the config it launches."""
    page.locator(".CodeMirror").click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(
        "resources: {params: {config: {patches: " + json.dumps(patches) + "}}}"
    )
    page.wait_for_function(
        "expected => document.querySelector('.CodeMirror').CodeMirror.getValue().includes(expected)",
        arg=json.dumps(patches),
    )
    page.wait_for_timeout(2500)  # the Launchpad's debounce before its state follows the editor
    page.wait_for_load_state("networkidle")
