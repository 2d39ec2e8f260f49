"""The floor: one partition's work done by `shelfcast.core` alone, on frames read once.

No Dagster, no lake, no validation, no parameters layer: the landing drops of the 24-month
window are read once from Parquet and cleaned, then the same core functions the assets call run
in the same order with the same parameters (configs/defaults.yaml plus the market's overlay).
What the pipeline costs beyond this is its own overhead.

``python benchmarks/_floor.py LANDING MARKET MONTH OUT.parquet`` writes the recommendations.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pandas as pd

warnings.filterwarnings("ignore")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shelfcast.core.cleaning import clean_products, clean_sales  # noqa: E402
from shelfcast.core.elasticity import estimate_elasticity  # noqa: E402
from shelfcast.core.export import effective_date, to_partner_export  # noqa: E402
from shelfcast.core.forecast import get_forecaster  # noqa: E402
from shelfcast.core.forecast_backtest import backtest  # noqa: E402
from shelfcast.core.optimiser import ITEM_COLUMNS, optimise_prices  # noqa: E402
from shelfcast.core.performance import assess_performance  # noqa: E402
from shelfcast.pipeline.params import PipelineParams  # noqa: E402
from shelfcast.pipeline.resources import Locations  # noqa: E402

WINDOW, PERFORMANCE_WINDOW = 24, 13


def decide(landing: Path, market: str, month: str) -> pd.DataFrame:
    run = PipelineParams(deployment=Locations()).check(market, month)
    period = pd.Period(month, freq="M")
    months = [str(period - back) for back in range(WINDOW - 1, -1, -1)]
    frames = []
    for label in months:
        folder = landing / "sales" / f"market={market}" / f"month={label}"
        if folder.exists():
            raw = pd.concat([pd.read_parquet(f) for f in sorted(folder.glob("*.parquet"))])
            frames.append(clean_sales(raw, market, label))
    sales = pd.concat(frames, ignore_index=True)
    folder = landing / "products" / f"market={market}" / f"month={month}"
    raw = pd.concat([pd.read_parquet(f) for f in sorted(folder.glob("*.parquet"))])
    products = clean_products(raw, market, month, run.currency)

    recent = sales.loc[sales["month"] >= str(period - (PERFORMANCE_WINDOW - 1))]
    performance = assess_performance(recent, products, month, run.performance)
    flagged = performance.loc[performance["is_underperforming"], "product_id"]
    categories = performance.set_index("product_id")["category"]
    series = sales.loc[sales["product_id"].isin(flagged), ["product_id", "date", "units"]]
    series = series.assign(category=series["product_id"].map(categories))
    forecaster = get_forecaster(run.forecast.model)
    forecast = forecaster.fit_predict(series, run.forecast.horizon_days)
    backtest(series, forecaster, run.forecast.horizon_days, run.forecast.backtest_folds, categories)

    elasticity = estimate_elasticity(sales, products, run.elasticity)
    baseline = forecast.groupby("product_id")["units_forecast"].sum()
    items = (
        performance.loc[performance["is_underperforming"], ["product_id"]]
        .merge(products, on="product_id", validate="one_to_one")
        .merge(elasticity[["product_id", "elasticity"]], on="product_id", how="left")
        .assign(baseline_units=lambda f: f["product_id"].map(baseline).fillna(0.0))
        .rename(columns={"price": "current_price"})
    )[ITEM_COLUMNS]
    recommendations, _ = optimise_prices(items, run.optimiser)
    recommendations = recommendations.assign(market=market, month=month, currency=run.currency)
    to_partner_export(
        recommendations, performance, effective_date(month, run.delivery.effective_after_days)
    )
    return recommendations


if __name__ == "__main__":
    landing, market, month, out = sys.argv[1:5]
    decide(Path(landing), market, month).to_parquet(out)
