"""`product_performance`: month KPIs per product and the underperformer flag with its reasons."""

import pandas as pd
from dagster import AssetExecutionContext, MetadataValue, asset

from shelfcast.core.performance import PerformanceParams, assess_performance
from shelfcast.pipeline.common import (
    concat_window,
    config_metadata,
    contract_metadata,
    contract_type,
    frame_metadata,
    market_and_month,
    params_of,
    sales_months,
    user_errors,
    validated,
)
from shelfcast.pipeline.partitions import PERFORMANCE_WINDOW_MONTHS, market_month
from shelfcast.pipeline.resources import PipelineParams
from shelfcast.schemas import ProductPerformanceSchema


@asset(
    partitions_def=market_month,
    ins={
        "sales_window": sales_months(PERFORMANCE_WINDOW_MONTHS),
    },
    dagster_type=contract_type(ProductPerformanceSchema),
    metadata=contract_metadata(ProductPerformanceSchema),
    group_name="analysis",
    code_version="1",
)
def product_performance(
    context: AssetExecutionContext,
    sales_window: dict[str, pd.DataFrame],
    products: pd.DataFrame,
    params: PipelineParams,
) -> pd.DataFrame:
    """KPIs of the month and which products underperform, with the rule that flagged each."""
    market, month = market_and_month(context)
    resolved = params_of(context, params)
    settings = resolved.get("performance")
    with user_errors("performance"):
        rules = PerformanceParams(**settings)
    frame = assess_performance(concat_window(sales_window), products, month, rules)
    frame = validated(frame, ProductPerformanceSchema, "product_performance", context)
    flagged = frame.loc[frame["is_underperforming"]]
    rule_counts = flagged["reasons"].str.split(";").explode().value_counts()
    context.add_output_metadata(
        {
            **frame_metadata(flagged),
            "products": MetadataValue.int(len(frame)),
            "underperforming": MetadataValue.int(len(flagged)),
            "rules_fired": MetadataValue.json({k: int(v) for k, v in rule_counts.items()}),
            "history_months_loaded": MetadataValue.int(len(sales_window)),
            **config_metadata(resolved, [f"performance.{k}" for k in settings]),
        }
    )
    return frame
