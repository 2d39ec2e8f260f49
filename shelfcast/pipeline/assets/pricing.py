"""`price_recommendations`: one price per underperformer under the business's constraints, and
the blocking check that re-verifies every constraint before anything is exported."""

from collections.abc import Iterator

import pandas as pd
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetIn,
    MetadataValue,
    Output,
    asset_check,
)

from shelfcast.core.elasticity import estimate_elasticity
from shelfcast.core.optimiser import ITEM_COLUMNS, optimise_prices
from shelfcast.core.optimiser_check import check_recommendations
from shelfcast.pipeline.asset_metadata import pricing_metadata
from shelfcast.pipeline.factory import (
    concat_window,
    contracted_asset,
    market_and_month,
    partition_label,
    sales_months,
    user_errors,
)
from shelfcast.pipeline.history import checked_window, history_check
from shelfcast.pipeline.metadata import config_metadata, section_keys
from shelfcast.pipeline.params import PipelineParams
from shelfcast.pipeline.partitions import HISTORY_WINDOW_MONTHS, market_month
from shelfcast.pipeline.resources import LandingZone
from shelfcast.schemas import PriceRecommendationsSchema, project


@contracted_asset(
    PriceRecommendationsSchema,
    group="decision",
    code_version="2",
    kind="highs",
    ins={"sales_history": sales_months(HISTORY_WINDOW_MONTHS)},
    check_specs=[history_check("price_recommendations")],
)
def price_recommendations(
    context: AssetExecutionContext,
    sales_history: dict[str, pd.DataFrame],
    products: pd.DataFrame,
    product_performance: pd.DataFrame,
    demand_forecast: pd.DataFrame,
    params: PipelineParams,
    landing: LandingZone,
) -> Iterator:
    """The price that maximises expected margin (or revenue) for each flagged product."""
    run = params.for_partition(*market_and_month(context))
    window = checked_window(sales_history, run.market, run.month, HISTORY_WINDOW_MONTHS, landing)
    elasticity = estimate_elasticity(concat_window(sales_history), products, run.elasticity)
    flagged = product_performance.loc[product_performance["is_underperforming"], ["product_id"]]
    baseline_units = demand_forecast.groupby("product_id")["units_forecast"].sum()
    items = (
        flagged.merge(products, on="product_id", validate="one_to_one")
        .merge(elasticity[["product_id", "elasticity"]], on="product_id", how="left")
        .assign(baseline_units=lambda f: f["product_id"].map(baseline_units).fillna(0.0))
        .rename(columns={"price": "current_price"})
    )[ITEM_COLUMNS]

    recommendations, report = optimise_prices(items, run.optimiser)
    frame = project(
        recommendations.assign(market=run.market, month=run.month, currency=run.currency),
        PriceRecommendationsSchema,
    )
    metadata = {
        **pricing_metadata(frame, report, elasticity, run.currency),
        "history_months_loaded": MetadataValue.int(len(window.loaded)),
        **config_metadata(run.config, section_keys(run.config, "optimiser", "elasticity")),
    }
    yield window.check_result()
    yield Output(frame, metadata=metadata)


@asset_check(
    asset=price_recommendations,
    partitions_def=market_month,
    blocking=True,
    additional_ins={"product_performance": AssetIn("product_performance")},
    description="Every constraint holds, re-verified from the recommendations alone",
)
def recommendations_satisfy_constraints(
    context: AssetCheckExecutionContext,
    price_recommendations: pd.DataFrame,
    product_performance: pd.DataFrame,
    params: PipelineParams,
) -> AssetCheckResult:
    """Independent re-check of the optimiser's result, one row per flagged product; a violation
    stops the export."""
    with user_errors(f"recommendations_satisfy_constraints {partition_label(context)}"):
        run = params.for_partition(*market_and_month(context))
    flagged = product_performance.loc[product_performance["is_underperforming"], "product_id"]
    violations = check_recommendations(price_recommendations, run.optimiser, product_ids=flagged)
    return AssetCheckResult(
        passed=not violations,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "violations": MetadataValue.int(len(violations)),
            "first_violations": MetadataValue.md(
                "\n".join(f"- {v}" for v in violations[:20]) or "none"
            ),
        },
    )
