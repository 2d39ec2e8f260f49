"""The landing sensor: a new or changed sales drop requests the monthly run of its partition.

Drops arrive under ``<landing>/sales/market=<M>/month=<YYYY-MM>/``. The sensor lists them through
fsspec, like every other read of the landing zone: on S3 with s3fs (endpoint and credentials from
the standard AWS settings, as the lake's), in the embedded default's local folder from the disk,
so the sensor also works in `dagster dev` without a server. The cursor is the version of every
drop seen (a hash of its files' ETags, or sizes and modification times off S3): a drop requests
one run when it first appears and one more each time its files change, never on a re-evaluation.

(It once listed S3 with dagster-aws's ``S3Resource``; importing dagster-aws cost every process
that loads the code location 0.5 s, a third of the import, for one listing a minute.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunStatusSensorContext,
    SensorEvaluationContext,
    SkipReason,
    run_status_sensor,
    sensor,
)

from shelfcast.pipeline.jobs import monthly_pricing
from shelfcast.pipeline.partitions import MARKETS, month_partitions, partition_key
from shelfcast.pipeline.resources import LandingZone, Locations
from shelfcast.platform.landing import drop_versions
from shelfcast.platform.snapshots import publish_latest
from shelfcast.platform.storage import as_upath

WATCHED_DATASET = "sales"


@sensor(
    job=monthly_pricing,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.STOPPED,
    description="Requests market × month runs for new or re-delivered sales drops.",
)
def landing_drops_sensor(
    context: SensorEvaluationContext, landing: LandingZone
) -> Iterator[RunRequest | SkipReason]:
    root = landing.deployment.landing_url().rstrip("/")
    drops = drop_versions(list_landing_files(root, WATCHED_DATASET))
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    requested = 0
    for folder, version in sorted(drops.items()):
        if seen.get(folder) == version:
            continue
        partition = drop_partition(folder)
        if partition is None:
            context.log.warning(f"ignored {root}/{folder}: not a configured market and month")
            continue
        market, month = partition
        requested += 1
        yield RunRequest(
            run_key=f"{folder}@{version}",
            partition_key=str(partition_key(market, month)),
            tags={"dagster/partition/market": market, "dagster/partition/month": f"{month}-01"},
        )
    context.update_cursor(json.dumps(drops, sort_keys=True))
    if not requested:
        yield SkipReason(f"no new or changed {WATCHED_DATASET} drops under {root}")


@run_status_sensor(
    run_status=DagsterRunStatus.SUCCESS,
    monitor_all_code_locations=False,
    default_status=DefaultSensorStatus.RUNNING,
    description="A succeeded run's frozen parameters become its partitions' latest (_params/)",
)
def latest_parameters_sensor(context: RunStatusSensorContext, deployment: Locations) -> None:
    """Runs from the UI, the schedule or a daemon publish their parameters when they succeed;
    `shelfcast run` publishes its own at once. A failed run never replaces the latest."""
    published = publish_latest(deployment.lake(), context.dagster_run.run_id)
    if published:
        context.log.info(f"latest parameters of {len(published)} partition(s) updated")


def list_landing_files(root: str, dataset: str) -> dict[str, str]:
    """Every file under ``<root>/<dataset>/``: its key relative to ``root`` → ETag or mtime."""
    base = as_upath(root)
    folder = base / dataset
    if not folder.exists():
        return {}
    found = folder.fs.find(folder.path, detail=True)
    return {path[len(base.path) :].lstrip("/"): _version_of(info) for path, info in found.items()}


def _version_of(info: dict) -> str:
    for name in ("ETag", "etag", "md5Hash", "content_md5"):
        if info.get(name):
            return str(info[name]).strip('"')
    return f"{info.get('size')}@{info.get('mtime') or info.get('LastModified') or info.get('last_modified')}"


def drop_partition(folder: str) -> tuple[str, str] | None:
    """``('US', '2024-03')`` for ``sales/market=US/month=2024-03``; None if not a partition."""
    parts = folder.split("/")
    if len(parts) != 3:
        return None
    segments = dict(part.partition("=")[::2] for part in parts[1:])
    market, month = segments.get("market", ""), segments.get("month", "")
    if market not in MARKETS or f"{month}-01" not in month_partitions.get_partition_keys():
        return None
    return market, month
