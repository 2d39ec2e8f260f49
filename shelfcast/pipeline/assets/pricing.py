"""`price_recommendations`: one price per underperformer under the business's constraints, and
the blocking check that re-verifies every constraint before anything is exported."""

import math
from dataclasses import asdict

import pandas as pd
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetIn,
    Failure,
    MetadataValue,
    asset,
    asset_check,
)

from shelfcast.core.elasticity import ElasticityConfigError, estimate_elasticity
from shelfcast.core.optimiser import (
    ITEM_COLUMNS,
    OptimiserConfigError,
    OptimiserParams,
    optimise_prices,
)
from shelfcast.core.optimiser_check import check_recommendations
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
from shelfcast.pipeline.partitions import (
    HISTORY_WINDOW_MONTHS,
    market_month,
    split_partition_key,
)
from shelfcast.pipeline.resources import PipelineParams
from shelfcast.schemas import PriceRecommendationsSchema


def optimiser_params(settings: dict) -> OptimiserParams:
    """The optimiser section as OptimiserParams; a bad value fails the step naming its key."""
    try:
        return OptimiserParams(**settings)
    except OptimiserConfigError as error:
        raise Failure(description=f"parameters: {error}", allow_retries=False) from None


@asset(
    partitions_def=market_month,
    ins={
        "sales_history": sales_months(HISTORY_WINDOW_MONTHS),
    },
    dagster_type=contract_type(PriceRecommendationsSchema),
    metadata=contract_metadata(PriceRecommendationsSchema),
    group_name="decision",
    code_version="2",
)
def price_recommendations(
    context: AssetExecutionContext,
    sales_history: dict[str, pd.DataFrame],
    products: pd.DataFrame,
    product_performance: pd.DataFrame,
    demand_forecast: pd.DataFrame,
    params: PipelineParams,
) -> pd.DataFrame:
    """The price that maximises expected margin (or revenue) for each flagged product."""
    market, month = market_and_month(context)
    resolved = params_of(context, params)
    constraints = optimiser_params(resolved.get("optimiser"))
    settings = resolved.get("elasticity")
    try:
        elasticity = estimate_elasticity(
            concat_window(sales_history),
            products,
            prior=settings["prior"],
            prior_strength=settings["prior_strength"],
            lower=settings["min"],
            upper=settings["max"],
        )
    except ElasticityConfigError as error:
        raise Failure(description=f"parameters: {error}", allow_retries=False) from None
    flagged = product_performance.loc[product_performance["is_underperforming"], ["product_id"]]
    baseline_units = demand_forecast.groupby("product_id")["units_forecast"].sum()
    items = (
        flagged.merge(products, on="product_id", validate="one_to_one")
        .merge(elasticity[["product_id", "elasticity"]], on="product_id", how="left")
        .assign(baseline_units=lambda f: f["product_id"].map(baseline_units).fillna(0.0))
        .rename(columns={"price": "current_price"})
    )[ITEM_COLUMNS]

    with user_errors(f"price optimisation for {market} {month}"):
        recommendations, report = optimise_prices(items, constraints)
    recommendations = recommendations.assign(
        market=market, month=month, currency=resolved.get(f"markets.{market}.currency")
    )
    frame = validated(
        recommendations[list(PriceRecommendationsSchema.to_schema().columns)],
        PriceRecommendationsSchema,
        "price_recommendations",
        context,
    )
    changes = frame.loc[frame["is_change"]]
    context.add_output_metadata(
        {
            **frame_metadata(changes),
            "price_changes": MetadataValue.int(len(changes)),
            "expected_margin": MetadataValue.float(round(float(frame["expected_margin"].sum()), 2)),
            "margin_uplift": MetadataValue.float(
                round(float((frame["expected_margin"] - frame["baseline_margin"]).sum()), 2)
            ),
            "discount_spent": MetadataValue.float(round(float(frame["discount_cost"].sum()), 2)),
            "solver_method": MetadataValue.text(report.method),
            **(
                {"solver_gap": MetadataValue.float(report.gap)} if math.isfinite(report.gap) else {}
            ),
            "solver": MetadataValue.json(_json_safe(asdict(report))),
            **elasticity_metadata(elasticity),
            **config_metadata(
                resolved,
                [f"optimiser.{k}" for k in resolved.get("optimiser")]
                + [f"elasticity.{k}" for k in settings],
            ),
        }
    )
    return frame


def elasticity_metadata(elasticity: pd.DataFrame) -> dict:
    """Per category: the estimate every product of it uses, its standard error and evidence."""
    per_category = (
        elasticity.groupby("category")
        .agg(
            elasticity=("elasticity", "first"),
            elasticity_se=("elasticity_se", "first"),
            product_weeks=("n_obs", "first"),
            products=("product_id", "size"),
            median_price_variation=("price_variation", "median"),
            source=("source", "first"),
        )
        .reset_index()
    )
    return {
        "elasticity_by_category": MetadataValue.md(per_category.round(3).to_markdown(index=False)),
        "elasticity": MetadataValue.json(_json_safe(per_category.to_dict(orient="records"))),
    }


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
    market, month = split_partition_key(context.partition_key)
    with user_errors("parameters"):
        resolved = params.for_run(market, month)
    flagged = product_performance.loc[product_performance["is_underperforming"], "product_id"]
    violations = check_recommendations(
        price_recommendations, optimiser_params(resolved.get("optimiser")), product_ids=flagged
    )
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


def _json_safe(value):
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else None
    return value
