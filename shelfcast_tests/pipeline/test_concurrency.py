"""Several partitions of one `shelfcast run` on every core: same outputs, failures kept apart."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from shelfcast.pipeline.runner import run_partitions

pytestmark = pytest.mark.slow


def asset_bytes(workspace) -> dict[str, bytes]:
    """Every asset object, byte for byte; the delivery receipts without their timestamps."""
    stored = {}
    for name in workspace.lake_files():
        if name.startswith("partner_delivery/"):
            receipts = pd.read_parquet(workspace.lake / name).drop(columns="delivered_at")
            stored[name] = receipts.to_json().encode()
        else:
            stored[name] = (workspace.lake / name).read_bytes()
    return stored


def test_partitions_run_concurrently_give_the_outputs_of_one_after_another(workspace):
    steps: list[tuple[str, str]] = []
    concurrent = run_partitions(
        ["US", "GB"],
        ["2024-02", "2024-03"],
        [],
        workers=2,
        on_step=lambda p, s: steps.append((p, s)),
    )
    assert [o.partition for o in concurrent] == [
        "US 2024-02",
        "US 2024-03",
        "GB 2024-02",
        "GB 2024-03",
    ]
    assert all(o.success for o in concurrent), [o.error for o in concurrent]
    assert len({o.run_id for o in concurrent}) == 4
    assert {p for p, _ in steps} == {o.partition for o in concurrent}  # progress from the workers
    assert ("US 2024-03", "price_recommendations") in steps
    together = asset_bytes(workspace)

    for name in ("lake", "outbox"):
        shutil.rmtree(workspace.lake.parent / name)
    alone = run_partitions(["US", "GB"], ["2024-02", "2024-03"], [], workers=1)
    assert all(o.success for o in alone)
    assert asset_bytes(workspace) == together
    assert [o.summary for o in alone] == [o.summary for o in concurrent]


def test_a_failing_partition_is_reported_and_the_others_complete(workspace):
    drop = workspace.sales_drop("GB", "2024-03")
    frame = pd.read_parquet(drop)
    frame.loc[frame.index[:3], "price"] = -1.0
    frame.to_parquet(drop)
    outcomes = run_partitions(["US", "GB"], ["2024-03"], [], workers=2)
    by_partition = {o.partition: o for o in outcomes}
    assert by_partition["US 2024-03"].success
    assert not by_partition["GB 2024-03"].success
    assert by_partition["GB 2024-03"].error.startswith("sales GB 2024-03")
    assert "price_recommendations/market=US/month=2024-03.parquet" in workspace.lake_files()


def test_each_worker_batch_is_consecutive_months_of_one_market_and_every_partition_runs_once():
    from shelfcast.pipeline.partition_runs import batches

    months = ["2024-09", "2024-10", "2024-11", "2024-12", "2025-01", "2025-02"]
    targets = [(m, mo, {}) for m in ("US", "GB", "DE") for mo in reversed(months)]
    for workers in (1, 2, 3, 8):
        found = batches(targets, workers)
        assert sorted(i for batch in found for i in batch) == list(range(len(targets)))
        for batch in found:
            assert len({targets[i][0] for i in batch}) == 1
            labels = [targets[i][1] for i in batch]
            assert labels == sorted(labels)  # in time order, whatever order they were asked in
            first = months.index(labels[0])
            assert labels == months[first : first + len(labels)]  # consecutive
        assert [len(b) for b in found] == sorted((len(b) for b in found), reverse=True)
        assert max(len(b) for b in found) <= -(-len(targets) // (2 * workers))


def test_workers_take_the_environment_of_when_their_pool_starts(monkeypatch):
    """Workers are forked from a server started by the first pool; a later pool's workers still
    see the environment as it is when that pool starts, as spawned processes would."""
    import os

    from shelfcast.pipeline.partition_runs import WorkerPool

    for value in ("first", "second"):
        monkeypatch.setenv("SHELFCAST_TEST_MARK", value)
        with WorkerPool(2, listen=False) as pool:
            assert pool._pool is not None
            assert pool._pool.submit(os.getenv, "SHELFCAST_TEST_MARK").result() == value
