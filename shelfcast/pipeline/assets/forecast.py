"""`demand_forecast`: daily demand of the underperformers over the decision horizon.

The model is whatever ``forecast.model`` names in the registry (``shelfcast.core.forecast``);
nothing else here depends on which. Each materialization also backtests that model against
seasonal naive on the partition's own history and reports both, per category and overall.
"""

import math
from collections.abc import Iterator

import numpy as np
import pandas as pd
from dagster import AssetExecutionContext, MetadataValue, Output

from shelfcast.core.forecast import get_forecaster
from shelfcast.core.forecast_backtest import accuracy_table, backtest
from shelfcast.pipeline.factory import (
    concat_window,
    contracted_asset,
    market_and_month,
    sales_months,
)
from shelfcast.pipeline.history import checked_window, history_check
from shelfcast.pipeline.metadata import config_metadata, frame_metadata, json_safe, section_keys
from shelfcast.pipeline.params import PipelineParams
from shelfcast.pipeline.partitions import HISTORY_WINDOW_MONTHS
from shelfcast.pipeline.resources import LandingZone
from shelfcast.schemas import DemandForecastSchema, project

# Backtest scores -> metadata keys: the chosen model's, then seasonal naive's.
PLOTTED_SCORES = {
    "wape": "backtest_wape",
    "mase": "backtest_mase",
    "baseline_wape": "baseline_wape",
    "baseline_mase": "baseline_mase",
}


@contracted_asset(
    DemandForecastSchema,
    group="analysis",
    code_version="2",
    ins={"sales_history": sales_months(HISTORY_WINDOW_MONTHS)},
    check_specs=[history_check("demand_forecast")],
)
def demand_forecast(
    context: AssetExecutionContext,
    sales_history: dict[str, pd.DataFrame],
    product_performance: pd.DataFrame,
    params: PipelineParams,
    landing: LandingZone,
) -> Iterator:
    """Forecast of each flagged product's daily units after the month closes, at today's price."""
    run = params.for_partition(*market_and_month(context))
    settings = run.forecast
    window = checked_window(sales_history, run.market, run.month, settings.history_months, landing)
    history = recent_history(concat_window(sales_history), run.month, settings.history_months)
    flagged = product_performance.loc[product_performance["is_underperforming"], "product_id"]
    categories = product_performance.set_index("product_id")["category"]
    series = history.loc[history["product_id"].isin(flagged), ["product_id", "date", "units"]]
    series = series.assign(category=series["product_id"].map(categories))  # models may pool by it

    forecaster = get_forecaster(settings.model)
    if series.empty:
        forecast = pd.DataFrame(columns=["product_id", "date", "units_forecast"])
        accuracy: dict = {"folds": 0}
    else:
        forecast = forecaster.fit_predict(series, settings.horizon_days)
        accuracy = backtest(
            series, forecaster, settings.horizon_days, settings.backtest_folds, groups=categories
        )
    frame = project(
        forecast.assign(market=run.market, month=run.month, model=forecaster.name),
        DemandForecastSchema,
    )
    metadata = {
        **frame_metadata(frame),
        "products_forecast": MetadataValue.int(frame["product_id"].nunique()),
        "model": MetadataValue.text(forecaster.name),
        "history_days": MetadataValue.int(int(history["date"].nunique())),
        "forecast_units": MetadataValue.float(float(frame["units_forecast"].sum())),
        "forecast_plot": MetadataValue.md(forecast_plot(series, frame)),
        "backtest_accuracy": MetadataValue.md(backtest_summary(accuracy)),
        "backtest": MetadataValue.json(json_safe(accuracy)),
        **{  # plain numbers, so the UI plots them across partitions
            label: MetadataValue.float(float(accuracy[key]))
            for key, label in PLOTTED_SCORES.items()
            if isinstance(accuracy.get(key), float) and math.isfinite(accuracy[key])
        },
        "history_months_loaded": MetadataValue.int(len(window.loaded)),
        **config_metadata(run.config, section_keys(run.config, "forecast")),
    }
    yield window.check_result()
    yield Output(frame, metadata=metadata)


def backtest_summary(accuracy: dict) -> str:
    """Markdown: what was backtested, then the accuracy table (or why there is none)."""
    if not accuracy.get("folds"):
        return "No backtest: the history is too short for one fold before the horizon."
    intro = (
        f"`{accuracy['model']}` vs `{accuracy['baseline']}`, rolling origin, "
        f"{accuracy['folds']} fold(s) of the horizon on this partition's history. "
        "WAPE = Σ|error| / Σ actual; MASE scaled by the in-sample weekly seasonal-naive MAE."
    )
    return intro + "\n\n" + accuracy_table(accuracy)


SPARK = "▁▂▃▄▅▆▇█"


def forecast_plot(series: pd.DataFrame, forecast: pd.DataFrame, weeks: int = 26) -> str:
    """Weekly units of the forecast products: the last ``weeks`` weeks, then the forecast."""
    if series.empty or forecast.empty:
        return "Nothing forecast."
    end = pd.to_datetime(forecast["date"]).min()
    past = series.assign(week=(end - pd.to_datetime(series["date"])).dt.days // 7)
    past = past.loc[past["week"] < weeks].groupby("week")["units"].sum()
    past = past.reindex(range(weeks - 1, -1, -1), fill_value=0).to_numpy(dtype=float)
    ahead = forecast.assign(week=(pd.to_datetime(forecast["date"]) - end).dt.days // 7)
    ahead = ahead.groupby("week")["units_forecast"].sum().to_numpy(dtype=float)
    values = np.r_[past, ahead]
    levels = np.round(values / max(values.max(), 1e-9) * (len(SPARK) - 1)).astype(int)
    line = "".join(SPARK[i] for i in levels)
    return (
        f"Weekly units of the {forecast['product_id'].nunique()} forecast products: "
        f"the last {weeks} weeks, then the forecast.\n\n"
        f"```\n{line[:weeks]} | {line[weeks:]}\n```\n\n"
        f"last 4 weeks: {past[-4:].sum():,.0f} units · next {len(ahead)} weeks: "
        f"{ahead.sum():,.0f} units (forecast)"
    )


def recent_history(sales: pd.DataFrame, month: str, months: int) -> pd.DataFrame:
    """The last ``months`` months of sales up to and including ``month``."""
    first = (pd.Period(month, freq="M") - (months - 1)).strftime("%Y-%m")
    return sales.loc[sales["month"] >= first] if not sales.empty else sales
