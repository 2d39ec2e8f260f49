"""The asset factory: what every contracted asset of the pipeline declares, in one place.

An asset module then holds only what is particular to its asset. ``contracted_asset`` sets the
market × month partitions, the contract (as the asset's Dagster type, its ``dagster/column_schema``
and the ``contract`` metadata the IO manager validates against on write and on read), the group,
kinds, owners and tags, and maps every :class:`~shelfcast.errors.UserError` raised inside the
asset to one step failure whose description names the asset, the partition and what to fix.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pandas as pd
import pandera.pandas as pa
from dagster import (
    AssetCheckExecutionContext,
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    DagsterType,
    Failure,
    MetadataValue,
    TypeCheck,
    asset,
)

from shelfcast.errors import UserError
from shelfcast.pipeline.partitions import market_month, split_partition_key, trailing_months
from shelfcast.platform.io_manager import CONTRACT_KEY, contract_name
from shelfcast.platform.secrets import redact
from shelfcast.platform.validated_cache import WindowFrames

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # dagster-pandera marks its converter as beta
    from dagster_pandera import pandera_schema_to_dagster_type

OWNERS = ["team:pricing"]
BASE_KINDS = {"pandas", "parquet"}
DOMAIN_TAGS = {"domain": "pricing"}


def contracted_asset(
    contract: type[pa.DataFrameModel],
    *,
    group: str,
    code_version: str,
    kind: str | None = None,
    **asset_arguments,
) -> Callable[[Callable[..., pd.DataFrame]], AssetsDefinition]:
    """``@asset`` for a market × month frame bound by ``contract``; ``kind`` adds one kind."""

    def decorator(compute: Callable[..., Any]) -> AssetsDefinition:
        if inspect.isgeneratorfunction(compute):  # an asset that yields check results too

            @functools.wraps(compute)
            def with_user_errors(context: AssetExecutionContext, *args, **kwargs):
                with user_errors(_what(context)):
                    yield from compute(context, *args, **kwargs)

        else:

            @functools.wraps(compute)
            def with_user_errors(context: AssetExecutionContext, *args, **kwargs):
                with user_errors(_what(context)):
                    return compute(context, *args, **kwargs)

        return asset(
            name=compute.__name__,
            partitions_def=market_month,
            dagster_type=contract_type(contract),
            metadata={**contract_metadata(contract), **asset_arguments.pop("metadata", {})},
            group_name=group,
            code_version=code_version,
            kinds=BASE_KINDS | ({kind} if kind else set()),
            owners=OWNERS,
            tags=DOMAIN_TAGS,
            **asset_arguments,
        )(with_user_errors)

    return decorator


def _what(context: AssetExecutionContext) -> str:
    return f"{context.asset_key.to_user_string()} {partition_label(context)}"


def contract_type(contract: type[pa.DataFrameModel]) -> DagsterType:
    """The contract as a Dagster type: its name and columns show in the UI.

    The type check only confirms a DataFrame: the IO manager validates the frame against the
    contract before it is stored, so each output is validated once.
    """
    return DagsterType(
        name=contract.__name__,
        description=(contract.Config.description or contract.__doc__ or "").strip(),
        type_check_fn=lambda _, value: TypeCheck(success=isinstance(value, pd.DataFrame)),
        typing_type=pd.DataFrame,
        metadata={"schema": MetadataValue.table_schema(table_schema(contract))},
    )


def table_schema(contract: type[pa.DataFrameModel]):
    """The contract's columns as a Dagster TableSchema (names, types, checks, descriptions)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pandera_schema_to_dagster_type(contract).metadata["schema"].value


def contract_metadata(contract: type[pa.DataFrameModel]) -> dict:
    """Definition metadata: the columns for the UI's Columns view, and the contract's name."""
    return {"dagster/column_schema": table_schema(contract), CONTRACT_KEY: contract_name(contract)}


@contextlib.contextmanager
def user_errors(what: str) -> Iterator[None]:
    """Every error a user can cause, as one step failure that starts with ``what``."""
    try:
        yield
    except UserError as error:
        raise Failure(description=redact(f"{what}: {error}"), allow_retries=False) from None


def market_and_month(
    context: AssetExecutionContext | AssetCheckExecutionContext,
) -> tuple[str, str]:
    return split_partition_key(context.partition_key)


def partition_label(context: AssetExecutionContext | AssetCheckExecutionContext) -> str:
    """``US 2024-03``, or ``US 2023-04 … US 2024-03`` for a run of several partitions."""
    labels = [" ".join(split_partition_key(key)) for key in context.partition_keys]
    return labels[0] if len(labels) == 1 else f"{labels[0]} … {labels[-1]}"


def sales_months(months: int) -> AssetIn:
    """The input of the same market's `sales` for this month and the ``months − 1`` before it.

    Months before the first partition, or not in the lake, are left out rather than failing the
    load: the assets judge for themselves whether the history they got is enough.
    """
    return AssetIn(
        "sales",
        partition_mapping=trailing_months(months),
        metadata={"allow_missing_partitions": True},
    )


def concat_window(frames: Mapping[str, pd.DataFrame], since: str = "") -> pd.DataFrame:
    """Frames of a trailing window of partitions (those of months ``since`` and later), in time
    order, as one frame: a view when the IO manager loaded them as one window
    (:class:`~shelfcast.platform.validated_cache.WindowFrames`), else a concatenated copy."""
    keys = sorted(
        (key for key in frames if split_partition_key(key)[1] >= since),
        key=lambda k: split_partition_key(k)[1],
    )
    if not keys:
        return pd.DataFrame()
    if isinstance(frames, WindowFrames):
        rows = frames.rows(keys)
        if rows is not None:
            return rows
    return pd.concat([frames[key] for key in keys], ignore_index=True)
