"""`product_performance`: month KPIs per product and the underperformer flag with its reasons."""

from collections.abc import Iterator

import pandas as pd
from dagster import AssetExecutionContext, MetadataValue, Output

from shelfcast.core.performance import assess_performance
from shelfcast.pipeline.factory import (
    concat_window,
    contracted_asset,
    market_and_month,
    sales_months,
)
from shelfcast.pipeline.history import checked_window, history_check
from shelfcast.pipeline.metadata import config_metadata, frame_metadata, section_keys, typed_table
from shelfcast.pipeline.params import PipelineParams
from shelfcast.pipeline.partitions import HISTORY_WINDOW_MONTHS, PERFORMANCE_WINDOW_MONTHS
from shelfcast.pipeline.resources import LandingZone
from shelfcast.schemas import ProductPerformanceSchema


@contracted_asset(
    ProductPerformanceSchema,
    group="analysis",
    code_version="1",
    # The same 24 months as the forecast and pricing steps, of which it uses the latest 13: the
    # first step of a run reads and validates the window once, the next two get views of it.
    ins={"sales_window": sales_months(HISTORY_WINDOW_MONTHS)},
    check_specs=[history_check("product_performance")],
)
def product_performance(
    context: AssetExecutionContext,
    sales_window: dict[str, pd.DataFrame],
    products: pd.DataFrame,
    params: PipelineParams,
    landing: LandingZone,
) -> Iterator:
    """KPIs of the month and which products underperform, with the rule that flagged each."""
    run = params.for_partition(*market_and_month(context))
    window = checked_window(sales_window, run.market, run.month, PERFORMANCE_WINDOW_MONTHS, landing)
    recent = concat_window(sales_window, since=window.expected[0])
    frame = assess_performance(recent, products, run.month, run.performance)
    flagged = frame.loc[frame["is_underperforming"]]
    rule_counts = flagged["reasons"].str.split(";").explode().value_counts()
    metadata = {
        **frame_metadata(flagged, currency=run.currency),
        "products": MetadataValue.int(len(frame)),
        "underperforming": MetadataValue.int(len(flagged)),
        "rules_fired": typed_table(
            [{"rule": rule, "products": int(n)} for rule, n in rule_counts.items()],
            {"rule": "string", "products": "int"},
        ),
        "history_months_loaded": MetadataValue.int(len(window.loaded)),
        **config_metadata(run.config, section_keys(run.config, "performance")),
    }
    yield window.check_result()
    yield Output(frame, metadata=metadata)
