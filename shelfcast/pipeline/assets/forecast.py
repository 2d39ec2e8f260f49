"""`demand_forecast`: daily demand of the underperformers over the decision horizon."""

import math

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, Failure, MetadataValue, asset

from shelfcast.core.forecast import backtest, get_forecaster
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
from shelfcast.pipeline.partitions import HISTORY_WINDOW_MONTHS, market_month, trailing_months
from shelfcast.pipeline.resources import PipelineParams
from shelfcast.schemas import DemandForecastSchema


@asset(
    partitions_def=market_month,
    ins={
        "sales_history": AssetIn(
            "sales",
            partition_mapping=trailing_months(HISTORY_WINDOW_MONTHS),
            metadata={"allow_missing_partitions": True},
        ),
    },
    dagster_type=contract_type(DemandForecastSchema),
    metadata=contract_metadata(DemandForecastSchema),
    group_name="analysis",
    code_version="1",
)
def demand_forecast(
    context: AssetExecutionContext,
    sales_history: dict[str, pd.DataFrame],
    product_performance: pd.DataFrame,
    params: PipelineParams,
) -> pd.DataFrame:
    """Forecast of each flagged product's daily units after the month closes, at today's price."""
    market, month = market_and_month(context)
    resolved = params_of(context, params)
    settings = resolved.get("forecast")
    history = recent_history(concat_window(sales_history), month, settings["history_months"])
    flagged = product_performance.loc[product_performance["is_underperforming"], "product_id"]
    series = history.loc[history["product_id"].isin(flagged), ["product_id", "date", "units"]]

    with user_errors("forecast"):
        forecaster = get_forecaster(settings["model"])
    horizon = int(settings["horizon_days"])
    if series.empty:
        forecast = pd.DataFrame(columns=["product_id", "date", "units_forecast"])
        accuracy: dict = {"folds": 0}
    else:
        forecast = forecaster.fit_predict(series, horizon)
        accuracy = backtest(series, forecaster, horizon, int(settings["backtest_folds"]))
    forecast = forecast.assign(market=market, month=month, model=forecaster.name)
    frame = validated(
        forecast[list(DemandForecastSchema.to_schema().columns)],
        DemandForecastSchema,
        "demand_forecast",
        context,
    )
    context.add_output_metadata(
        {
            **frame_metadata(frame),
            "products_forecast": MetadataValue.int(frame["product_id"].nunique()),
            "model": MetadataValue.text(forecaster.name),
            "history_days": MetadataValue.int(int(history["date"].nunique())),
            "backtest": MetadataValue.json(_json_safe(accuracy)),
            **{
                f"backtest_{k}": MetadataValue.float(float(accuracy[k]))
                for k in ("wape", "mase", "baseline_wape", "baseline_mase")
                if isinstance(accuracy.get(k), float) and math.isfinite(accuracy[k])
            },
            **config_metadata(resolved, [f"forecast.{k}" for k in settings]),
        }
    )
    return frame


def recent_history(sales: pd.DataFrame, month: str, months: int) -> pd.DataFrame:
    """The last ``months`` months of sales up to and including ``month``."""
    if months > HISTORY_WINDOW_MONTHS:
        raise Failure(
            description=(
                f"forecast.history_months={months} exceeds the {HISTORY_WINDOW_MONTHS} months of "
                "sales the forecast asset loads; raise forecast.history_months in "
                "configs/defaults.yaml to widen the window"
            ),
            allow_retries=False,
        )
    first = (pd.Period(month, freq="M") - (months - 1)).strftime("%Y-%m")
    return sales.loc[sales["month"] >= first] if not sales.empty else sales


def _json_safe(value):
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _json_safe(value.item())
    return value
