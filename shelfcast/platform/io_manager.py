"""Parquet IO manager over any fsspec URL, validating every frame against its contract.

Each partition of an asset is one Parquet object at a Hive-style key,
``<base>/<asset>/<dim>=<value>/<dim>=<value>.parquet`` (e.g.
``lake/sales/market=US/month=2024-03.parquet``), so DuckDB, Athena or Spark read the lake
directly. Writes are atomic, and the store's own failures (unreachable, no bucket, refused
credentials) fail the step with one message naming endpoint and bucket. When a downstream step loads an input, the frame is validated
against the contract of the asset that produced it, so drift is caught where it enters.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

import numpy as np
import pandas as pd
import pandera.errors as pa_errors
import pandera.pandas as pa
import pyarrow as pyarrow_lib
from dagster import (
    Failure,
    InputContext,
    MetadataValue,
    MultiPartitionKey,
    MultiPartitionsDefinition,
    OutputContext,
    TimeWindowPartitionsDefinition,
    UPathIOManager,
)
from dagster._core.definitions.partitions.schedule_type import ScheduleType
from upath import UPath

from shelfcast.platform.storage import StorageError, read_parquet, write_parquet_atomic
from shelfcast.platform.validation import ContractViolation, validate_frame


class ParquetIOManager(UPathIOManager):
    """Stores pandas frames as zstd Parquet, one object per partition, validated on load."""

    extension = ".parquet"

    def __init__(
        self, base_path: UPath, contracts: Mapping[str, type[pa.DataFrameModel]] | None = None
    ):
        super().__init__(base_path=base_path)
        self._contracts = dict(contracts or {})

    # -- paths -------------------------------------------------------------------------------
    def _get_paths_for_partitions(self, context: InputContext | OutputContext) -> dict[str, UPath]:
        """Hive-style ``dim=value`` folders instead of Dagster's bare ``value/value``."""
        asset_path = self._get_path_without_extension(context)
        partitions_def = context.asset_partitions_def
        return {
            key: self._with_extension(asset_path.joinpath(*hive_segments(partitions_def, key)))
            for key in context.asset_partition_keys
        }

    # -- write -------------------------------------------------------------------------------
    def handle_output(self, context: OutputContext, obj: pd.DataFrame) -> None:
        """One object per partition, also when one run materializes many (a single-run backfill).

        A frame that covers several partitions carries one column per partition dimension, with
        the values as they appear in paths (``market == 'US'``, ``month == '2024-03'``); it is split
        along them and each partition's rows go to that partition's object. Nothing is created
        besides the objects themselves (no "directories", and never a bucket).
        """
        if not isinstance(obj, pd.DataFrame):
            raise TypeError(
                f"{context.asset_key.to_user_string()} returned {type(obj).__name__}; "
                "the Parquet IO manager stores pandas DataFrames only"
            )
        if not context.has_asset_partitions:
            paths = {"": self._get_path(context)}
        else:
            paths = self._get_paths_for_partitions(context)
        with storage_failures(context.asset_key.to_user_string()):
            if len(paths) == 1:
                path = next(iter(paths.values()))
                self.dump_to_path(context, obj, path)
                context.add_output_metadata(
                    {"path": MetadataValue.path(str(path)), **self.get_metadata(context, obj)}
                )
            else:
                self._dump_partitions(context, obj, paths)

    def _dump_partitions(
        self, context: OutputContext, obj: pd.DataFrame, paths: Mapping[str, UPath]
    ) -> None:
        partitions_def = context.asset_partitions_def
        if not isinstance(partitions_def, MultiPartitionsDefinition):
            raise TypeError(
                "one output covering several partitions is supported for multi-partitioned assets "
                "whose frame has a column per partition dimension"
            )
        total = 0
        for key, path in paths.items():
            part = obj
            for segment in hive_segments(partitions_def, key):
                dimension, _, value = segment.rpartition("=")
                part = part.loc[part[dimension].astype(str) == value]
            total += write_parquet_atomic(path, part.reset_index(drop=True))
        context.add_output_metadata(
            {
                "partitions_written": MetadataValue.int(len(paths)),
                "stored_bytes": MetadataValue.int(total),
                "dagster/row_count": MetadataValue.int(len(obj)),
            }
        )

    def dump_to_path(self, context: OutputContext, obj: pd.DataFrame, path: UPath) -> None:
        size = write_parquet_atomic(path, obj)
        context.add_output_metadata({"stored_bytes": MetadataValue.int(size)})

    # -- read --------------------------------------------------------------------------------
    def load_input(self, context: InputContext):
        with storage_failures(context.asset_key.to_user_string()):
            return super().load_input(context)

    def load_partitions(self, context: InputContext):
        """A window of partitions (e.g. 24 months of sales) is validated as one frame.

        pandera's cost is mostly per call, so one validation of the whole window is many times
        cheaper than one per partition. It is only done for contracts whose ``Config.metadata``
        declares ``rows_checked_alone`` (every check looks at one row at a time, or at uniqueness
        across rows): then the window passing as one frame means every partition passes. If
        the window fails, each partition is validated alone so the message names the one at
        fault. Frames whose columns or dtypes differ are never concatenated (pandas would fill
        a missing column with NaN, which coercion could turn into values): each is validated alone.
        """
        keys = context.asset_partition_keys
        contract = self._contracts.get(context.asset_key.to_user_string())
        if len(keys) == 1 or not rows_checked_alone(contract):
            return super().load_partitions(context)
        paths = self._get_paths_for_partitions(context)
        frames = {}
        for key in keys:
            frame = self._read_partition(context, key, paths[key])
            if frame is not None:
                frames[key] = frame
        if not frames:
            return frames
        window = None
        if _same_columns_and_dtypes(list(frames.values())):
            with contextlib.suppress(pa_errors.SchemaErrors):
                window = contract.validate(pd.concat(frames.values(), ignore_index=True), lazy=True)
        if window is None:
            return {
                key: self._validated(context, frame, paths[key]) for key, frame in frames.items()
            }
        bounds = np.cumsum([0, *(len(frame) for frame in frames.values())])
        return {
            key: window.iloc[start:end].reset_index(drop=True)
            for key, start, end in zip(frames, bounds[:-1], bounds[1:], strict=True)
        }

    def _read_partition(self, context: InputContext, key: str, path: UPath) -> pd.DataFrame | None:
        """One partition of a window, unvalidated; None if missing and the input allows it."""
        try:
            return self._read(context, path)
        except FileNotFoundError:
            metadata = context.definition_metadata or {}
            if not metadata.get("allow_missing_partitions", False):
                raise
            context.log.warning(self.get_missing_partition_log_message(key))
            return None

    def load_from_path(self, context: InputContext, path: UPath) -> pd.DataFrame:
        return self._validated(context, self._read(context, path), path)

    def _read(self, context: InputContext, path: UPath) -> pd.DataFrame:
        asset = context.asset_key.to_user_string()
        try:
            frame = read_parquet(path)
        except (FileNotFoundError, StorageError):
            raise
        except (pyarrow_lib.ArrowException, OSError, ValueError) as error:
            raise ContractViolation(
                description=(
                    f"{asset} at {path} is not a readable Parquet file ({error}); "
                    f"re-materialize {asset} for this partition"
                ),
                allow_retries=False,
            ) from None
        return frame

    def _validated(self, context: InputContext, frame: pd.DataFrame, path: UPath) -> pd.DataFrame:
        asset = context.asset_key.to_user_string()
        contract = self._contracts.get(asset)
        if contract is None:
            return frame
        return validate_frame(frame, contract, f"{asset} loaded from {path}")

    def get_metadata(self, context: OutputContext, obj: pd.DataFrame) -> dict:
        return {"dagster/row_count": MetadataValue.int(len(obj))}


def _same_columns_and_dtypes(frames: list[pd.DataFrame]) -> bool:
    first = frames[0].dtypes
    return all(frame.dtypes.equals(first) for frame in frames[1:])


def rows_checked_alone(contract: type[pa.DataFrameModel] | None) -> bool:
    if contract is None:
        return False
    return bool((contract.__config__.metadata or {}).get("rows_checked_alone", False))


@contextlib.contextmanager
def storage_failures(asset: str) -> Iterator[None]:
    """The store's own failure (unreachable, no bucket, access denied) as one clear step failure."""
    try:
        yield
    except StorageError as error:
        raise Failure(description=f"{asset}: {error}") from None


def hive_segments(partitions_def, partition_key: str) -> list[str]:
    """``['market=US', 'month=2024-03']`` for the multi-partition key ``US|2024-03-01``."""
    if isinstance(partitions_def, MultiPartitionsDefinition):
        if not isinstance(partition_key, MultiPartitionKey):
            partition_key = partitions_def.get_partition_key_from_str(partition_key)
        return [
            f"{dimension.name}={_path_value(dimension.partitions_def, partition_key.keys_by_dimension[dimension.name])}"
            for dimension in partitions_def.partitions_defs
        ]
    return [_path_value(partitions_def, partition_key)]


def _path_value(partitions_def, key: str) -> str:
    """Monthly time partitions are written ``YYYY-MM``; other keys as they are."""
    if (
        isinstance(partitions_def, TimeWindowPartitionsDefinition)
        and partitions_def.schedule_type == ScheduleType.MONTHLY
    ):
        return partitions_def.start_time_for_partition_key(key).strftime("%Y-%m")
    return key
