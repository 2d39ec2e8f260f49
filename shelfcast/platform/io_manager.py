"""Parquet IO manager over any fsspec URL, validating every frame against its contract.

Each partition of an asset is one Parquet object at a Hive-style key,
``<base>/<asset>/<dim>=<value>/<dim>=<value>.parquet`` (e.g.
``lake/sales/market=US/month=2024-03.parquet``), so DuckDB, Athena or Spark read the lake
directly. Writes are atomic, and the store's own failures (unreachable, no bucket, refused
credentials) fail the step with one message naming endpoint and bucket.

The contract of an asset is named by its definition metadata (``contract``: the import path of
a pandera model, set once by the asset factory). A frame is validated when it is written, before
any byte is stored, and again whenever a downstream step loads it, so drift is caught where it
enters; the validated, coerced frame is what is stored and what the step receives.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import importlib
import os
import typing
from collections.abc import Iterator, Mapping

import numpy as np
import pandas as pd
import pandera.errors as pa_errors
import pandera.pandas as pa
import pyarrow as pyarrow_lib
from dagster import (
    AssetKey,
    Failure,
    InputContext,
    IOManager,
    MetadataValue,
    MonthlyPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
    OutputContext,
    PartitionsDefinition,
)
from upath import UPath

from shelfcast.platform.storage import (
    StorageError,
    arrow_to_pandas,
    read_arrow,
    read_parquet,
    tables_to_pandas,
    write_parquet_atomic,
)
from shelfcast.platform.validated_cache import VALIDATED, WindowFrames
from shelfcast.platform.validation import ContractViolation, validate_frame, validate_in_place

WRITERS = min(4, os.cpu_count() or 1)  # threads writing the objects of a multi-partition output
CONTRACT_KEY = "contract"  # definition metadata: "package.module.Model" of the pandera contract
EXTENSION = ".parquet"


class ParquetIOManager(IOManager):
    """Stores pandas frames as zstd Parquet, one object per partition, validated both ways."""

    def __init__(self, base_path: UPath):
        self.base_path = base_path

    # -- paths -------------------------------------------------------------------------------
    def path_for(
        self, asset_key: AssetKey, partitions_def: PartitionsDefinition | None, key: str | None
    ) -> UPath:
        """The object of one partition (or of an unpartitioned asset when ``key`` is None)."""
        folder = self.base_path.joinpath(*asset_key.path)
        if key is None or partitions_def is None:
            return folder.with_name(folder.name + EXTENSION)
        *parents, leaf = hive_segments(partitions_def, key)
        return folder.joinpath(*parents, leaf + EXTENSION)

    def _paths(self, context: InputContext | OutputContext) -> dict[str | None, UPath]:
        if not context.has_asset_partitions:
            return {None: self.path_for(context.asset_key, None, None)}
        return {
            key: self.path_for(context.asset_key, context.asset_partitions_def, key)
            for key in context.asset_partition_keys
        }

    # -- write -------------------------------------------------------------------------------
    def handle_output(self, context: OutputContext, obj: pd.DataFrame) -> None:
        """Validate, then write one object per partition, also when one run materializes many.

        A frame that covers several partitions (a single-run backfill) carries one column per
        partition dimension, with the values as they appear in paths (``market == 'US'``,
        ``month == '2024-03'``); it is split along them in one pass. Nothing is created besides
        the objects themselves (no "directories", and never a bucket).
        """
        asset = context.asset_key.to_user_string()
        if not isinstance(obj, pd.DataFrame):
            raise TypeError(
                f"{asset} returned {type(obj).__name__}; the Parquet IO manager stores pandas "
                "DataFrames only"
            )
        paths = self._paths(context)
        contract = contract_of(context.definition_metadata)
        if contract is not None:
            # In place: the frame is the step's output, which nothing reads after it is stored.
            obj = validate_frame(
                obj, contract, f"{asset} {describe_partitions(paths)}", inplace=True
            )
        with storage_failures(asset):
            if len(paths) == 1:
                path = next(iter(paths.values()))
                size = write_parquet_atomic(path, obj)
                _keep_validated(path, contract, obj)
                context.add_output_metadata(
                    {
                        "path": MetadataValue.path(str(path)),
                        "stored_bytes": MetadataValue.int(size),
                        "dagster/row_count": MetadataValue.int(len(obj)),
                    }
                )
                return
            total = 0
            # Arrow encodes and compresses without the GIL: 23 months of 20,000 products took
            # 1.9 s one after another and 1.1 s on two threads. Each object is atomic alone.
            with concurrent.futures.ThreadPoolExecutor(WRITERS) as writers:
                parts = list(split_by_partition(context, obj, paths))
                for (path, part), size in zip(
                    parts, writers.map(lambda p: write_parquet_atomic(*p), parts), strict=True
                ):
                    total += size
                    _keep_validated(path, contract, part)
        context.add_output_metadata(
            {
                "partitions_written": MetadataValue.int(len(paths)),
                "stored_bytes": MetadataValue.int(total),
                "dagster/row_count": MetadataValue.int(len(obj)),
            }
        )

    # -- read --------------------------------------------------------------------------------
    def load_input(self, context: InputContext):
        """The validated frame of one partition, or ``{partition key: frame}`` for a window.

        A window (an input annotated as a dict, e.g. 24 months of sales) is validated as one
        frame: pandera's cost is mostly per call. A partition this process has already read and
        validated, in the same version of the object (file size, modification time and inode,
        or the object store's ETag), is not read and checked again: the next partition of the
        same market, run by the same process, reads only its one new month, and the partition
        run after a history load reads none: the months it wrote are kept as written
        (``validated_cache``). A window mostly not cached is read whole, in one pass. That is
        done only for contracts whose ``Config.metadata`` declares ``rows_checked_alone``
        (every check reads one row at a time, or uniqueness across rows): then the window
        passing means every partition passes. If it fails, each partition is validated alone
        so the message names the one at fault. Frames whose columns or dtypes differ are never
        concatenated (pandas would fill a missing column with NaN, which coercion could turn
        into values). Partitions that are not in the lake are left out when the input allows
        it (``allow_missing_partitions``).

        The window comes back as :class:`WindowFrames`: every partition's frame is a view of
        one concatenated, validated frame (validated in place: pandera's own copy of a
        15 M-row window was a gigabyte), so the step's ``concat_window`` copies nothing and a
        step holds one copy of its window; the latest window is kept whole, and the next
        step that asks for the same months gets views of it without reading or validating
        anything. Measured at 20,000 products (24 months, 14 M rows, 2 cores): validating a
        window took 4.5 s (of a 32 s warm partition) with pandera's per-row code checks,
        ``Config.unique``, coercion of every column and a defensive copy; it takes 2.4–3.2 s
        with the checks of ``shelfcast.schemas`` (``code_matches`` once per run of equal
        values, ``unique_rows`` in one pass over sorted months, dates bounded per month run)
        and coercion only of columns not already of their dtype, and it happens once per run
        instead of in each of three steps. benchmarks/README.md (end_to_end) has the totals.
        """
        asset = context.asset_key.to_user_string()
        contract = contract_of(_upstream_metadata(context))
        paths = self._paths(context)
        if not _wants_dict(context):
            if len(paths) != 1:
                raise TypeError(f"{asset}: an input of several partitions must be a dict")
            [(key, path)] = paths.items()
            with storage_failures(asset):
                frame = self._read(context, key, path)
            if frame is None:
                raise FileNotFoundError(path)
            return self._validated(frame, contract, asset, path)
        # In partition-key order, which is time order within a market: the window's frame is
        # then the months in order and a step's trailing months are one slice of it.
        paths = dict(sorted(paths.items(), key=lambda item: str(item[0])))
        with storage_failures(asset):
            versions = {key: VALIDATED.version_of(path) for key, path in paths.items()}
            whole = VALIDATED.window(paths, versions, contract)
            if whole is not None:
                return whole
            cached = {
                key: frame
                for key in paths
                if (frame := VALIDATED.get(paths[key], versions[key], contract)) is not None
            }
            if 2 * len(cached) < len(paths):
                # Mostly uncached (a warm run finds only the month its sales step just wrote):
                # reading every month makes the window in one pass, where joining the cached
                # months to it would copy the whole window.
                cached = {}
            read = {
                key: table
                for key, path in paths.items()
                if key not in cached
                and (table := self._read(context, key, path, _read_table)) is not None
            }
        validated = self._validated_window(read, contract, asset, paths)  # empties ``read``
        if cached or not isinstance(validated, WindowFrames):
            frames = {key: cached.get(key, validated.get(key)) for key in paths}
            del cached, validated  # the cache keeps its frames until the window replaces them
            window = _one_window({key: frame for key, frame in frames.items() if frame is not None})
        else:
            window = validated  # read and validated as one window, in the order of ``paths``
        for key, frame in window.items():
            VALIDATED.put(paths[key], versions[key], contract, frame)
        if isinstance(window, WindowFrames) and len(window) == len(paths):
            VALIDATED.put_window(paths, versions, contract, window)
        return window

    def _validated_window(self, tables: dict, contract, asset: str, paths) -> dict:
        """The tables read as frames, each validated; those of a ``rows_checked_alone``
        contract as one window (:class:`WindowFrames`): converted from Arrow once, validated
        in place, no copy beyond that conversion. Empties ``tables`` as it converts them."""
        keys = list(tables)
        bounds = {key: (0, 0) for key in keys}
        end = 0
        for key, table in tables.items():
            bounds[key] = (end, end + table.num_rows)
            end += table.num_rows
        window = None
        if contract is not None and len(tables) > 1 and rows_checked_alone(contract):
            window = tables_to_pandas(tables)  # None: each partition on its own
        if window is not None:
            with contextlib.suppress(pa_errors.SchemaErrors):
                return WindowFrames(validate_in_place(window, contract), bounds)
            parts = WindowFrames(window, bounds)  # the window fails: name the partition
            return {
                key: self._validated(parts[key], contract, asset, paths[key], inplace=False)
                for key in keys
            }
        frames = {key: _table_frame(asset, paths[key], tables.pop(key)) for key in keys}
        return {
            key: self._validated(frame, contract, asset, paths[key])
            for key, frame in frames.items()
        }

    def load_partition(
        self,
        asset_key: AssetKey,
        partitions_def: PartitionsDefinition | None,
        key: str | None,
        contract: type[pa.DataFrameModel] | None,
    ) -> pd.DataFrame:
        """One stored partition, validated; FileNotFoundError if it is not in the lake."""
        path = self.path_for(asset_key, partitions_def, key)
        asset = asset_key.to_user_string()
        with storage_failures(asset):
            frame = _read_object(asset, path)
        return self._validated(frame, contract, asset, path)

    def read_columns(
        self,
        asset_key: AssetKey,
        partitions_def: PartitionsDefinition,
        key: str,
        columns: list[str],
    ) -> pd.DataFrame | None:
        """Some columns of a stored partition, or None if it is not in the lake.

        For reference figures about stored data (e.g. a drift check's trailing months): the
        object was validated when it was written; a step's inputs go through ``load_input``.
        """
        path = self.path_for(asset_key, partitions_def, key)
        asset = asset_key.to_user_string()
        try:
            with storage_failures(asset):
                return read_parquet(path, columns=columns)
        except FileNotFoundError:
            return None
        except (pyarrow_lib.ArrowException, OSError, ValueError) as error:
            raise ContractViolation(
                description=f"{asset} at {path} is not a readable Parquet file ({error})",
                allow_retries=False,
            ) from None

    def _read(self, context: InputContext, key: str | None, path: UPath, reader=None):
        """One object, unvalidated (a frame; ``reader=_read_table``: its Arrow table); None if
        it is missing and the input allows that."""
        asset = context.asset_key.to_user_string()
        try:
            return (reader or _read_object)(asset, path)
        except FileNotFoundError:
            if (context.definition_metadata or {}).get("allow_missing_partitions", False):
                context.log.debug(f"{asset} {key}: not in the lake, left out of the window")
                return None
            raise

    @staticmethod
    def _validated(
        frame: pd.DataFrame,
        contract: type[pa.DataFrameModel] | None,
        asset: str,
        path: UPath,
        inplace: bool = True,
    ) -> pd.DataFrame:
        if contract is None:
            return frame
        return validate_frame(frame, contract, f"{asset} loaded from {path}", inplace=inplace)


def _keep_validated(path: UPath, contract, frame: pd.DataFrame) -> None:
    """A frame just validated and stored, kept as the object's current version when its
    contract is read in windows (``rows_checked_alone``): the window steps of this process
    then get it without reading and validating the object they would find identical. After a
    history load that is every month of the window: at 20,000 products the next partition
    run's window load took 5.9 s before and 1.3 s after (pyinstrument)."""
    if rows_checked_alone(contract):
        VALIDATED.put(path, VALIDATED.version_of(path), contract, frame)


def _read_object(asset: str, path: UPath) -> pd.DataFrame:
    """A stored frame; an object that is not readable Parquet is a contract violation."""
    return _table_frame(asset, path, _read_table(asset, path))


def _read_table(asset: str, path: UPath) -> pyarrow_lib.Table:
    """A stored object's Arrow table; one that is not readable Parquet is a contract violation."""
    try:
        return read_arrow(path)
    except (FileNotFoundError, StorageError):
        raise
    except (pyarrow_lib.ArrowException, OSError, ValueError) as error:
        raise _unreadable(asset, path, error) from None


def _table_frame(asset: str, path: UPath, table: pyarrow_lib.Table) -> pd.DataFrame:
    try:
        return arrow_to_pandas(table)
    except (pyarrow_lib.ArrowException, ValueError) as error:
        raise _unreadable(asset, path, error) from None


def _unreadable(asset: str, path: UPath, error: Exception) -> ContractViolation:
    return ContractViolation(
        description=(
            f"{asset} at {path} is not a readable Parquet file ({error}); "
            f"re-materialize {asset} for this partition"
        ),
        allow_retries=False,
    )


def contract_of(metadata: Mapping[str, object] | None) -> type[pa.DataFrameModel] | None:
    """The pandera model named by an asset's ``contract`` metadata, if it names one."""
    name = (metadata or {}).get(CONTRACT_KEY)
    name = getattr(name, "value", name)  # a MetadataValue or the plain string
    if not isinstance(name, str) or "." not in name:
        return None
    module, _, attribute = name.rpartition(".")
    contract = getattr(importlib.import_module(module), attribute)
    if not (isinstance(contract, type) and issubclass(contract, pa.DataFrameModel)):
        raise TypeError(f"contract {name} is not a pandera DataFrameModel")
    return contract


def contract_name(contract: type[pa.DataFrameModel]) -> str:
    """The value of the ``contract`` metadata that names ``contract``."""
    return f"{contract.__module__}.{contract.__qualname__}"


def _upstream_metadata(context: InputContext) -> Mapping[str, object]:
    upstream = context.upstream_output
    return (upstream.definition_metadata if upstream is not None else None) or {}


def _wants_dict(context: InputContext) -> bool:
    """True for an input of several partitions (annotated ``dict[str, pd.DataFrame]``)."""
    typing_type = context.dagster_type.typing_type
    return typing_type is dict or typing.get_origin(typing_type) in (dict, Mapping)


def _window_bounds(frames: Mapping[str, pd.DataFrame]) -> dict[str, tuple[int, int]]:
    """Each frame's rows in the frames concatenated in order: ``{key: (start, end)}``."""
    ends = np.cumsum([len(frame) for frame in frames.values()])
    return {
        key: (int(end - len(frame)), int(end))
        for (key, frame), end in zip(frames.items(), ends, strict=True)
    }


def _one_window(frames: dict) -> dict:
    """The window's frames (cached and newly validated) concatenated once, as views of that one
    frame, so the step's ``concat_window`` copies nothing. Frames whose dtypes differ stay
    separate frames (pandas would cast them to fit)."""
    if len(frames) < 2 or not _same_dtypes(frames.values()):
        return frames
    return WindowFrames(pd.concat(frames.values(), ignore_index=True), _window_bounds(frames))


def _same_dtypes(frames) -> bool:
    frames = list(frames)
    first = frames[0].dtypes
    return all(frame.dtypes.equals(first) for frame in frames[1:])


def rows_checked_alone(contract: type[pa.DataFrameModel] | None) -> bool:
    if contract is None:
        return False
    config = contract.__config__
    metadata = (config.metadata if config is not None else None) or {}
    return bool(metadata.get("rows_checked_alone", False))


def split_by_partition(
    context: OutputContext, frame: pd.DataFrame, paths: Mapping[str | None, UPath]
) -> Iterator[tuple[UPath, pd.DataFrame]]:
    """Each partition's path with its rows, in one pass over the frame (linear in rows).

    Each dimension column becomes integer codes (``pd.factorize``: Arrow's dictionary encoding,
    no Python string per row). A frame whose partitions are consecutive rows, as a single-run
    backfill's concatenated months are, is cut into views; any other order is grouped by one
    stable sort of the codes.
    """
    partitions_def = context.asset_partitions_def
    if not isinstance(partitions_def, MultiPartitionsDefinition):
        raise TypeError(
            "one output covering several partitions is supported for multi-partitioned assets "
            "whose frame has a column per partition dimension"
        )
    dimensions = [d.name for d in partitions_def.partitions_defs]
    number = np.zeros(len(frame), dtype=np.int64)
    labels: list[list[str]] = []
    for dimension in dimensions:
        codes, uniques = pd.factorize(frame[dimension], use_na_sentinel=False)
        number = number * len(uniques) + codes
        labels.append([str(u) for u in uniques])
    order = None
    starts = np.flatnonzero(np.diff(number, prepend=-1))  # where a run of one partition starts
    if len(np.unique(number[starts])) != len(starts):  # a partition in several runs
        order = np.argsort(number, kind="stable")
        number = number[order]
        starts = np.flatnonzero(np.diff(number, prepend=-1))
    ends = np.append(starts[1:], len(frame))
    groups: dict[tuple[str, ...], tuple[int, int]] = {}
    for start, end in zip(starts, ends, strict=True):
        rest, found = int(number[start]), []
        for names in reversed(labels):
            rest, code = divmod(rest, len(names))
            found.append(names[code])
        groups[tuple(reversed(found))] = (int(start), int(end))
    for key, path in paths.items():
        values = tuple(s.partition("=")[2] for s in hive_segments(partitions_def, str(key)))
        first, last = groups.get(values, (0, 0))
        rows = frame.iloc[first:last] if order is None else frame.take(order[first:last])
        yield path, rows.set_axis(pd.RangeIndex(last - first), axis=0, copy=False)


def describe_partitions(paths: Mapping[str | None, UPath]) -> str:
    """``US 2024-03`` for one partition, ``US 2023-04 … US 2024-03`` for several."""
    labels = [_label(path) for path in paths.values()]
    return labels[0] if len(labels) == 1 else f"{labels[0]} … {labels[-1]}"


def _label(path: UPath) -> str:
    parts = [*path.parent.parts[-1:], path.name.removesuffix(EXTENSION)]
    return " ".join(p.partition("=")[2] or p for p in parts if "=" in p) or path.name


@contextlib.contextmanager
def storage_failures(asset: str) -> Iterator[None]:
    """The store's own failure (unreachable, no bucket, access denied) as one clear step failure."""
    try:
        yield
    except StorageError as error:
        raise Failure(description=f"{asset}: {error}", allow_retries=False) from None


def hive_segments(partitions_def: PartitionsDefinition, partition_key: str) -> list[str]:
    """``['market=US', 'month=2024-03']`` for the multi-partition key ``US|2024-03-01``."""
    if isinstance(partitions_def, MultiPartitionsDefinition):
        if not isinstance(partition_key, MultiPartitionKey):
            partition_key = partitions_def.get_partition_key_from_str(partition_key)
        return [
            f"{dimension.name}="
            + _path_value(dimension.partitions_def, partition_key.keys_by_dimension[dimension.name])
            for dimension in partitions_def.partitions_defs
        ]
    return [_path_value(partitions_def, partition_key)]


def _path_value(partitions_def: PartitionsDefinition, key: str) -> str:
    """Monthly time partitions are written ``YYYY-MM``; other keys as they are."""
    if isinstance(partitions_def, MonthlyPartitionsDefinition):
        return partitions_def.start_time_for_partition_key(key).strftime("%Y-%m")
    return key
