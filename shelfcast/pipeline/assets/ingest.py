"""`sales` and `products`: landing drops cleaned into their contracts."""

import pandas as pd
from dagster import AssetExecutionContext, BackfillPolicy, MetadataValue, asset

from shelfcast.core.cleaning import clean_products, clean_sales
from shelfcast.pipeline.common import (
    config_metadata,
    contract_metadata,
    contract_type,
    frame_metadata,
    market_and_month,
    params_of,
    user_errors,
    validated,
)
from shelfcast.pipeline.partitions import market_month, split_partition_key
from shelfcast.pipeline.resources import LandingZone, PipelineParams
from shelfcast.platform.validation import validate_frame
from shelfcast.schemas import ProductsSchema, SalesSchema


@asset(
    partitions_def=market_month,
    dagster_type=contract_type(SalesSchema),
    metadata=contract_metadata(SalesSchema),
    group_name="ingest",
    code_version="1",
    # Months of history load in one run: the IO manager writes each partition's own object.
    backfill_policy=BackfillPolicy.single_run(),
)
def sales(
    context: AssetExecutionContext, landing: LandingZone, params: PipelineParams
) -> pd.DataFrame:
    """Cleaned daily sales per product for the month, from the landing drop."""
    months = []
    for key in context.partition_keys:
        market, month = split_partition_key(key)
        with user_errors(f"sales drop {landing.folder('sales', market, month)}"):
            frame = clean_sales(landing.read("sales", market, month), market, month)
        months.append(validate_frame(frame, SalesSchema, f"sales {market} {month}"))
    frame = pd.concat(months, ignore_index=True) if len(months) > 1 else months[0]
    if len(months) == 1:
        context.add_output_metadata(config_metadata(params_of(context, params), []))
    context.add_output_metadata(
        {
            **frame_metadata(frame),
            "products": MetadataValue.int(frame["product_id"].nunique()),
            "units": MetadataValue.int(int(frame["units"].sum())),
            "revenue": MetadataValue.float(round(float(frame["revenue"].sum()), 2)),
        }
    )
    return frame


@asset(
    partitions_def=market_month,
    dagster_type=contract_type(ProductsSchema),
    metadata=contract_metadata(ProductsSchema),
    group_name="ingest",
    code_version="1",
)
def products(
    context: AssetExecutionContext, landing: LandingZone, params: PipelineParams
) -> pd.DataFrame:
    """Product master snapshot: category, unit cost, current price, stock on hand."""
    market, month = market_and_month(context)
    resolved = params_of(context, params)
    currency = resolved.get(f"markets.{market}.currency")
    with user_errors(f"products drop {landing.folder('products', market, month)}"):
        frame = clean_products(landing.read("products", market, month), market, month, currency)
    frame = validated(frame, ProductsSchema, "products", context)
    context.add_output_metadata(
        {
            **frame_metadata(frame),
            "categories": MetadataValue.int(frame["category"].nunique()),
            **config_metadata(resolved, [f"markets.{market}.currency"]),
        }
    )
    return frame
