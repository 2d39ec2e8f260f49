"""`sales` and `products`: landing drops cleaned into their contracts."""

import pandas as pd
from dagster import AssetExecutionContext, BackfillPolicy, MetadataValue

from shelfcast.core.cleaning import clean_products, clean_sales
from shelfcast.pipeline.factory import contracted_asset, market_and_month
from shelfcast.pipeline.metadata import config_metadata, frame_metadata
from shelfcast.pipeline.params import PipelineParams
from shelfcast.pipeline.partitions import split_partition_key
from shelfcast.pipeline.resources import LandingZone
from shelfcast.schemas import ProductsSchema, SalesSchema


@contracted_asset(
    SalesSchema,
    group="ingest",
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
        months.append(clean_sales(landing.read_drop("sales", market, month), market, month))
    frame = pd.concat(months, ignore_index=True) if len(months) > 1 else months[0]
    if len(months) == 1:
        run = params.for_partition(*market_and_month(context))
        context.add_output_metadata(config_metadata(run.config, []))
    context.add_output_metadata(
        {
            **frame_metadata(frame),
            "products": MetadataValue.int(frame["product_id"].nunique()),
            "units": MetadataValue.int(int(frame["units"].sum())),
            "revenue": MetadataValue.float(round(float(frame["revenue"].sum()), 2)),
        }
    )
    return frame


@contracted_asset(ProductsSchema, group="ingest", code_version="1")
def products(
    context: AssetExecutionContext, landing: LandingZone, params: PipelineParams
) -> pd.DataFrame:
    """Product master snapshot: category, unit cost, current price, stock on hand."""
    run = params.for_partition(*market_and_month(context))
    raw = landing.read_drop("products", run.market, run.month)
    frame = clean_products(raw, run.market, run.month, run.currency)
    context.add_output_metadata(
        {
            **frame_metadata(frame),
            "categories": MetadataValue.int(frame["category"].nunique()),
            **config_metadata(run.config, [f"markets.{run.market}.currency"]),
        }
    )
    return frame
