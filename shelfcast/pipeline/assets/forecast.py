"""`demand_forecast`: daily demand of the underperformers over the decision horizon.

The model is whatever ``forecast.model`` names in the registry (``shelfcast.core.forecast``);
nothing else here depends on which. Each materialization also backtests that model against
seasonal naive on the partition's own history and reports both, per category and overall.
"""

from collections.abc import Iterator

import pandas as pd
from dagster import AssetExecutionContext, MetadataValue, Output

from shelfcast.core.forecast import get_forecaster
from shelfcast.core.forecast_backtest import backtest
from shelfcast.core.rows import positions
from shelfcast.pipeline.asset_metadata import forecast_metadata
from shelfcast.pipeline.factory import (
    concat_window,
    contracted_asset,
    market_and_month,
    sales_months,
)
from shelfcast.pipeline.history import checked_window, history_check
from shelfcast.pipeline.metadata import config_metadata, section_keys
from shelfcast.pipeline.params import PipelineParams
from shelfcast.pipeline.partitions import HISTORY_WINDOW_MONTHS
from shelfcast.pipeline.resources import LandingZone
from shelfcast.schemas import DemandForecastSchema, project


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
    first = str(pd.Period(run.month, freq="M") - (settings.history_months - 1))
    history = concat_window(sales_history, since=first)  # the latest history_months months
    flagged = product_performance.loc[product_performance["is_underperforming"], "product_id"]
    categories = product_performance.set_index("product_id")["category"]
    chosen = positions(history["product_id"], pd.Index(flagged.unique())) >= 0
    series = history.loc[chosen, ["product_id", "date", "units"]]
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
        **forecast_metadata(frame, series, accuracy, run.market),
        "model": MetadataValue.text(forecaster.name),
        "history_days": MetadataValue.int(int(history["date"].nunique())),
        "history_months_loaded": MetadataValue.int(len(window.loaded)),
        **config_metadata(run.config, section_keys(run.config, "forecast")),
    }
    yield window.check_result()
    yield Output(frame, metadata=metadata)
