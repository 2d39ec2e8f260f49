"""The notebook home: any asset partition and any run's parameters, from the configured lake.

::

    from shelfcast.notebook import load_asset, load_params

    recommendations = load_asset("price_recommendations", "US", "2024-03")
    sales = load_asset("sales", "US", "2024-03", months=6)   # the month and the 5 before it
    params = load_params(market="US", month="2024-03")        # the partition's latest run
    params = load_params(run_id="…")                          # or exactly one run's
    params.optimiser.max_changes, params.config.provenance["optimiser.max_changes"]

Frames come through the pipeline's own IO manager and are validated by the asset's contract,
exactly as a downstream step would receive them; the lake, and every other location, is the
code location's (``shelfcast.definitions.deployment``: ``SHELFCAST_STORAGE`` or the repo's
``data/lake``). Parameters are the frozen snapshot the run used, typed as the assets see them.
"""

from __future__ import annotations

import pandas as pd
from dagster import AssetKey

from shelfcast.errors import UserError
from shelfcast.pipeline.params import RunParams
from shelfcast.pipeline.partitions import MARKETS, market_month, month_partitions, partition_key
from shelfcast.platform.io_manager import ParquetIOManager, contract_of
from shelfcast.platform.snapshots import latest_snapshot_path, load_snapshot, run_snapshots

__all__ = ["NotInTheLake", "load_asset", "load_params"]


class NotInTheLake(UserError, LookupError):
    """The asked-for asset, partition or parameters are not there; the message says what is."""


def load_asset(asset: str, market: str, month: str, months: int = 1) -> pd.DataFrame:
    """The stored partition of ``asset`` for ``market`` and ``YYYY-MM``, validated by its
    contract; with ``months`` > 1 the trailing months up to ``month`` in one frame (months not
    in the lake are left out, as the pipeline's own windows do)."""
    from shelfcast.definitions import defs, deployment

    _check_partition(market, month)
    key = AssetKey(asset)
    try:
        spec = defs.resolve_assets_def(key).specs_by_key[key]
    except Exception:
        names = sorted(k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys())
        raise NotInTheLake(f"no asset {asset!r}; the assets are {', '.join(names)}") from None
    lake = ParquetIOManager(deployment.lake())
    contract = contract_of(spec.metadata)
    wanted = [str(period) for period in pd.period_range(end=month, periods=months, freq="M")]
    frames = []
    for label in wanted:
        try:
            frames.append(
                lake.load_partition(key, market_month, str(partition_key(market, label)), contract)
            )
        except FileNotFoundError:
            if months == 1:
                path = lake.path_for(key, market_month, str(partition_key(market, month)))
                raise NotInTheLake(
                    f"{asset} {market} {month} is not in the lake ({path}); materialize it first, "
                    f"e.g. shelfcast run --market {market} --month {month}"
                ) from None
    if not frames:
        raise NotInTheLake(f"{asset} {market}: none of {wanted[0]} … {wanted[-1]} is in the lake")
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def load_params(
    run_id: str | None = None, market: str | None = None, month: str | None = None
) -> RunParams:
    """The frozen parameters of one run (``run_id``; give the partition too when the run covered
    several), or the latest run's of ``market`` and ``month``."""
    from shelfcast.definitions import deployment

    lake = deployment.lake()
    if run_id is None:
        if market is None or month is None:
            raise NotInTheLake("give a run_id, or a market and a month")
        _check_partition(market, month)
        path = latest_snapshot_path(lake, [f"market={market}", f"month={month}"])
        if not path.exists():
            raise NotInTheLake(f"no run of {market} {month} has saved parameters at {path}")
        return RunParams.build(load_snapshot(path), market, month)
    found = {
        (segments[0].partition("=")[2], segments[1].partition("=")[2]): path
        for segments, path in run_snapshots(lake, run_id).items()
    }
    if market is not None and month is not None:
        found = {k: v for k, v in found.items() if k == (market, month)}
    if len(found) != 1:
        covered = ", ".join(f"{m} {mo}" for m, mo in sorted(found)) or "none"
        raise NotInTheLake(
            f"run {run_id} has saved parameters for {covered}: give a run id and, for a run of "
            "several partitions, its market and month"
        )
    (market, month), path = next(iter(found.items()))
    return RunParams.build(load_snapshot(path), market, month)


def _check_partition(market: str, month: str) -> None:
    if market not in MARKETS:
        raise NotInTheLake(f"unknown market {market!r}; the markets are {', '.join(MARKETS)}")
    if f"{month}-01" not in month_partitions.get_partition_keys():
        raise NotInTheLake(f"month {month!r} is not a month partition (YYYY-MM, closed months)")
