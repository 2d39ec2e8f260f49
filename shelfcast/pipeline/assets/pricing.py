"""`price_recommendations`: one price per underperformer, chosen by a mixed-integer program."""

from dataclasses import asdict

import pandas as pd
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetIn,
    MetadataValue,
    asset,
    asset_check,
)

from shelfcast.core.elasticity import estimate_elasticity
from shelfcast.core.optimiser import OptimiserParams, check_recommendations, optimise_prices
from shelfcast.pipeline.common import (
    concat_window,
    config_metadata,
    contract_metadata,
    contract_type,
    frame_metadata,
    market_and_month,
    params_of,
    user_errors,
    validated,
)
from shelfcast.pipeline.partitions import (
    HISTORY_WINDOW_MONTHS,
    market_month,
    split_partition_key,
    trailing_months,
)
from shelfcast.pipeline.resources import PipelineParams
from shelfcast.schemas import PriceRecommendationsSchema


def optimiser_params(settings: dict) -> OptimiserParams:
    return OptimiserParams(**{**settings, "price_ladder": tuple(settings["price_ladder"])})


@asset(
    partitions_def=market_month,
    ins={
        "sales_history": AssetIn(
            "sales",
            partition_mapping=trailing_months(HISTORY_WINDOW_MONTHS),
            metadata={"allow_missing_partitions": True},
        ),
    },
    dagster_type=contract_type(PriceRecommendationsSchema),
    metadata=contract_metadata(PriceRecommendationsSchema),
    group_name="decision",
    code_version="1",
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
    settings = resolved.get("elasticity")
    elasticity = estimate_elasticity(
        concat_window(sales_history),
        products,
        prior=settings["prior"],
        prior_strength=settings["prior_strength"],
        lower=settings["min"],
        upper=settings["max"],
    )
    flagged = product_performance.loc[product_performance["is_underperforming"], ["product_id"]]
    baseline_units = demand_forecast.groupby("product_id")["units_forecast"].sum()
    items = (
        flagged.merge(products, on="product_id", validate="one_to_one")
        .merge(elasticity[["product_id", "elasticity"]], on="product_id", how="left")
        .assign(baseline_units=lambda f: f["product_id"].map(baseline_units).fillna(0.0))
        .rename(columns={"price": "current_price"})
    )[
        [
            "product_id",
            "category",
            "current_price",
            "unit_cost",
            "baseline_units",
            "elasticity",
            "stock_on_hand",
        ]
    ]

    with user_errors(f"price optimisation for {market} {month}"):
        recommendations, report = optimise_prices(
            items, optimiser_params(resolved.get("optimiser"))
        )
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
            "solver": MetadataValue.json(
                {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(report).items()}
            ),
            **config_metadata(
                resolved,
                [f"optimiser.{k}" for k in resolved.get("optimiser")]
                + [f"elasticity.{k}" for k in settings],
            ),
        }
    )
    return frame


@asset_check(
    asset=price_recommendations,
    partitions_def=market_month,
    blocking=True,
    description="Every constraint holds",
)
def recommendations_satisfy_constraints(
    context: AssetCheckExecutionContext, price_recommendations: pd.DataFrame, params: PipelineParams
) -> AssetCheckResult:
    """Independent re-check of the optimiser's result; a violation stops the export."""
    market, month = split_partition_key(context.partition_key)
    resolved = params.resolve(market, month)
    violations = check_recommendations(
        price_recommendations, optimiser_params(resolved.get("optimiser"))
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
