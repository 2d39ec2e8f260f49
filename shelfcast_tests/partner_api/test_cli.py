"""`shelfcast partner serve` as a user runs it: a subprocess on a free port."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import httpx
import pytest

from shelfcast_tests.partner_api.helpers import AUTH, TOKEN, export_rows


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_partner_serve_answers_on_its_port_and_never_prints_the_token(tmp_path):
    env = {**os.environ, "PARTNER_API_TOKEN": TOKEN}
    command = [sys.executable, "-m", "shelfcast.cli", "partner", "serve", "--port", "0"]
    server = subprocess.Popen(
        [*command, "--db", str(tmp_path / "partner.sqlite3")],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        banner = server.stderr.readline()
        url = re.search(r"(http://127\.0\.0\.1:\d+)/batches", banner).group(1)
        rows = export_rows(2).to_dict(orient="records")
        response = httpx.post(
            f"{url}/batches", json={"rows": rows}, headers={**AUTH, "Idempotency-Key": "k1"}
        )
        assert response.status_code == 201
        assert httpx.get(f"{url}/healthz").json() == {"ok": True}
    finally:
        server.terminate()
        _, rest = server.communicate(timeout=10)
    output = banner + rest
    assert "POST /batches" in output  # requests are logged ...
    assert TOKEN not in output  # ... but never the token


def test_partner_serve_without_a_token_says_which_variable_to_set(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PARTNER_API_TOKEN"}
    done = subprocess.run(
        [sys.executable, "-m", "shelfcast.cli", "partner", "serve", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "PARTNER_API_TOKEN" in done.stderr
