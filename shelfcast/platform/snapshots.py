"""One run, one config: the resolved parameters of a run, frozen in storage on first use.

The first step of a run that needs parameters resolves the layers and stores the result under
``<base>/_runs/<run_id>/params/<partition>.json``; every later step of that run, in any process
or on any machine, reads that object instead of resolving again. An overlay edited halfway
through a run therefore cannot give two steps of one run different parameters. The latest
snapshot of each partition is also kept at ``<base>/_params/<partition>.json`` so a past
partition can be replayed with exactly its parameters.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable

from upath import UPath

from shelfcast.platform.config import ConfigError, ResolvedConfig
from shelfcast.platform.storage import (
    endpoint_of,
    is_local,
    object_store_errors,
    write_bytes_atomic,
)

log = logging.getLogger(__name__)


def run_snapshot_path(base: UPath, run_id: str, partition: list[str]) -> UPath:
    return base.joinpath("_runs", run_id, "params", *partition[:-1], f"{partition[-1]}.json")


def latest_snapshot_path(base: UPath, partition: list[str]) -> UPath:
    return base.joinpath("_params", *partition[:-1], f"{partition[-1]}.json")


def run_snapshots(base: UPath, run_id: str) -> dict[tuple[str, ...], UPath]:
    """Every partition's snapshot of one run: ``('market=US', 'month=2024-03')`` → path."""
    folder = base.joinpath("_runs", run_id, "params")
    with object_store_errors(folder, "list saved parameters in"):
        found = sorted(folder.rglob("*.json")) if folder.exists() else []
    return {
        (*path.relative_to(folder).parent.parts, path.stem): path
        for path in found
        if "=" in path.stem
    }


def frozen_for_run(
    base: UPath, run_id: str, partition: list[str], resolve: Callable[[], ResolvedConfig]
) -> tuple[ResolvedConfig, UPath]:
    """The run's snapshot for ``partition``, created from ``resolve()`` by the first caller."""
    path = run_snapshot_path(base, run_id, partition)
    if not _exists(path):
        create_exclusive(path, resolve().to_json().encode())
    return load_snapshot(path), path


def publish_latest(base: UPath, run_id: str) -> list[UPath]:
    """Copy a succeeded run's snapshots to ``_params/``: the partitions' latest good parameters."""
    published = []
    for partition, path in run_snapshots(base, run_id).items():
        with object_store_errors(path, "read saved parameters from"):
            data = path.read_bytes()
        target = latest_snapshot_path(base, list(partition))
        write_bytes_atomic(target, data)
        published.append(target)
    return published


def load_snapshot(url: str | UPath) -> ResolvedConfig:
    path = UPath(url) if isinstance(url, str) else url
    try:
        with object_store_errors(path, "read saved parameters from"):
            text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"no saved parameters at {path}") from None
    try:
        return ResolvedConfig.from_json(text)
    except (ValueError, KeyError, TypeError):
        raise ConfigError(
            f"the saved parameters at {path} are not a shelfcast parameter snapshot"
        ) from None


def create_exclusive(path: UPath, data: bytes) -> bool:
    """Write ``data`` at ``path`` unless it exists; True if this call created it.

    Of two steps starting together exactly one wins. Local files use a hard link, which fails if
    the target exists. S3 gets a conditional PUT (``If-None-Match: *``), which the store refuses
    when the key exists (AWS S3, MinIO and SeaweedFS honour it). Other object stores, and an S3
    server that refuses the condition (HTTP 400 or 501, logged), get a check-then-put: two
    resolutions racing within milliseconds may both write, the later winning.
    """
    if is_local(path):
        target = path.path
        os.makedirs(os.path.dirname(target), exist_ok=True)
        temporary = f"{target}.{uuid.uuid4().hex}.tmp"
        with open(temporary, "wb") as handle:
            handle.write(data)
        try:
            os.link(temporary, target)
            return True
        except FileExistsError:
            return False
        finally:
            os.remove(temporary)
    if path.protocol in ("s3", "s3a"):
        try:
            path.fs.pipe_file(path.path, data, mode="create")
            return True
        except Exception as error:  # noqa: BLE001 - sorted below, the rest reported as the store's
            status = _refusal_status(error)
            if status == 412:  # the key exists
                return False
            if status not in (400, 501):  # 400/501: a store without conditional writes
                with object_store_errors(path, "save parameters at"):
                    raise
            log.warning(
                "%s refused a conditional PUT (HTTP %s): freezing parameters by check-then-put",
                endpoint_of(path),
                status,
            )
    if _exists(path):
        return False
    write_bytes_atomic(path, data)
    return True


def _refusal_status(error: Exception) -> int | None:
    """The HTTP status with which the store refused a PUT, if it answered at all."""
    if isinstance(error, FileExistsError):
        return 412
    response = getattr(error.__cause__, "response", None) or getattr(error, "response", None)
    if not response:
        return None
    if response.get("Error", {}).get("Code") == "PreconditionFailed":
        return 412
    return response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def _exists(path: UPath) -> bool:
    with object_store_errors(path, "look for saved parameters at"):
        return path.exists()
