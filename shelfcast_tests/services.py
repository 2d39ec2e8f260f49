"""Waiting for a Dagster webserver a test started."""

from __future__ import annotations

import subprocess
import time

import httpx


def wait_for_webserver(url: str, processes: list[subprocess.Popen], seconds: float = 180) -> None:
    """Until ``url`` answers /server_info; fails at once if one of ``processes`` exited."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"{url}/server_info", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert all(p.poll() is None for p in processes), "a Dagster service exited"
        assert time.monotonic() < deadline, "dagster-webserver did not start"
        time.sleep(0.5)
