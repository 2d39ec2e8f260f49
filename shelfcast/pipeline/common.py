"""What every asset shares: its contract as a Dagster type, its partition, user errors, metadata."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterable, Iterator, Mapping

import pandas as pd
import pandera.pandas as pa
from dagster import AssetExecutionContext, AssetIn, DagsterType, Failure, MetadataValue

from shelfcast.pipeline.partitions import split_partition_key, trailing_months
from shelfcast.platform.config import ConfigError, ResolvedConfig
from shelfcast.platform.validation import validate_frame

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # dagster-pandera marks its converter as beta
    from dagster_pandera import pandera_schema_to_dagster_type


def contract_type(contract: type[pa.DataFrameModel]) -> DagsterType:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pandera_schema_to_dagster_type(contract)


def contract_metadata(contract: type[pa.DataFrameModel]) -> dict:
    """Definition metadata: the contract's columns, so the UI's Columns view shows them."""
    table_schema = contract_type(contract).metadata["schema"].schema
    return {"dagster/column_schema": table_schema, "contract": contract.__name__}


def market_and_month(context: AssetExecutionContext) -> tuple[str, str]:
    return split_partition_key(context.partition_key)


@contextlib.contextmanager
def user_errors(what: str) -> Iterator[None]:
    """Turn errors a user can cause (bad data, bad config) into one clear step failure."""
    from shelfcast.core.cleaning import DropFormatError
    from shelfcast.core.optimiser import InfeasibleError
    from shelfcast.platform.landing import MissingDropError
    from shelfcast.platform.storage import StorageError

    try:
        yield
    except (
        ConfigError,
        DropFormatError,
        MissingDropError,
        InfeasibleError,
        StorageError,
    ) as error:
        raise Failure(description=f"{what}: {error}", allow_retries=False) from None


def validated(
    frame: pd.DataFrame, contract: type[pa.DataFrameModel], asset: str, context
) -> pd.DataFrame:
    market, month = market_and_month(context)
    return validate_frame(frame, contract, f"{asset} {market} {month}")


def params_of(context: AssetExecutionContext, params) -> ResolvedConfig:
    market, month = market_and_month(context)
    with user_errors("parameters"):
        return params.for_run(market, month)


def frame_metadata(frame: pd.DataFrame, preview_rows: int = 10) -> dict:
    return {
        "dagster/row_count": MetadataValue.int(len(frame)),
        "preview": MetadataValue.md(frame.head(preview_rows).to_markdown(index=False)),
    }


def config_metadata(resolved: ResolvedConfig, keys: Iterable[str] | None = None) -> dict:
    """The parameters this asset used, each with the layer that set it, and the run's layers."""
    rows = [
        f"| `{key}` | `{resolved.get(key)!r}` | {resolved.provenance.get(key, '?')} |"
        for key in (keys if keys is not None else resolved.provenance)
    ]
    table = "| parameter | value | layer |\n|---|---|---|\n" + "\n".join(rows)
    return {
        "parameters": MetadataValue.md(table),
        "parameter_layers": MetadataValue.md(
            "\n".join(f"{i}. {layer}" for i, layer in enumerate(resolved.layers, 1))
        ),
        "config": MetadataValue.json(resolved.values),
    }


def sales_months(months: int) -> AssetIn:
    """The input of the same market's `sales` for this month and the ``months − 1`` before it.

    Months before the first partition, or not loaded yet, are left out rather than failing the
    step: the assets judge for themselves whether the history they got is enough.
    """
    return AssetIn(
        "sales",
        partition_mapping=trailing_months(months),
        metadata={"allow_missing_partitions": True},
    )


def concat_window(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Frames of a trailing window of partitions, in time order, as one frame."""
    ordered = [frames[key] for key in sorted(frames, key=lambda k: split_partition_key(k)[1])]
    if not ordered:
        return pd.DataFrame()
    return pd.concat(ordered, ignore_index=True)
