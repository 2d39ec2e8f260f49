"""Every registered forecaster on 2,000 daily retail series from the generator, side by side.

The demo-data generator (``shelfcast.core.demo_data``) draws 2,000 products of one market with
weekly and yearly seasonality, trends, declines, promotions, price steps and negative-binomial
noise, 15 % of them intermittent. Each model gets the same two years of daily history (what the
pipeline reads: ``forecast.history_months`` 24) with each product's category, through the same
``Forecaster.fit_predict`` call the pipeline makes, and forecasts the next 28 days. Scores on the daily values: WAPE
(Σ|error| / Σ actual), MASE (scaled by each series' in-sample weekly seasonal-naive MAE, over
series where that is nonzero), sMAPE in % (a day with 0 actual and 0 forecast counts 0); and
"28-day WAPE", the WAPE of each product's 28-day total, which is what the optimiser consumes.

    python benchmarks/forecast_panel.py            # the full run; writes results and README table
    python benchmarks/forecast_panel.py --quick    # 150 products, a smoke run; writes nothing shared
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd
from _forecast_common import HERE, machine_facts, markdown_table
from _sections import write_section

ORIGIN = "2024-06-30"  # the last day of history; the forecast covers 1-28 July 2024
HISTORY_DAYS, HORIZON, SEASON = 731, 28, 7


def generate_panel(products: int) -> pd.DataFrame:
    """Daily units (product_id, date, units, category) of one generated market, 2022-01 … 2024-07.

    The category rides along as in the pipeline, where ``demand_forecast`` passes it: shelfcast
    pools yearly seasonality by it, the other models ignore it.
    """
    from shelfcast.core.demo_data import GeneratorSpec, MarketSpec, generate

    spec = GeneratorSpec(
        markets=(MarketSpec("US", "USD", products, 1.0, 1.0),),
        first_month="2022-01",
        last_month="2024-07",
        seed=11,
    )
    drops = list(generate(spec))
    category = drops[-1].products.set_index("product_id")["category"]
    sales = pd.concat([d.sales[["product_id", "date", "units"]] for d in drops])
    return sales.assign(category=sales["product_id"].map(category))


def split(sales: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    origin = pd.Timestamp(ORIGIN)
    first = origin - pd.Timedelta(days=HISTORY_DAYS - 1)
    last = origin + pd.Timedelta(days=HORIZON)
    history = sales.loc[sales["date"].between(first, origin)]
    actual = sales.loc[(sales["date"] > origin) & (sales["date"] <= last)]
    return history, actual


def wide(frame: pd.DataFrame, values: str) -> pd.DataFrame:
    return frame.pivot(index="product_id", columns="date", values=values).sort_index()


def scores(history: pd.DataFrame, actual: pd.DataFrame, forecast: pd.DataFrame) -> dict:
    train = wide(history, "units").to_numpy(dtype=float)
    truth = wide(actual, "units")
    predicted = wide(forecast, "units_forecast").reindex_like(truth).to_numpy(dtype=float)
    truth = truth.to_numpy(dtype=float)
    error = np.abs(truth - predicted)
    scale = np.mean(np.abs(train[:, SEASON:] - train[:, :-SEASON]), axis=1)
    ok = scale > 0
    both = np.abs(truth) + np.abs(predicted)
    smape = np.where(both > 0, 200 * error / np.where(both > 0, both, 1), 0.0)
    totals = np.abs(truth.sum(axis=1) - predicted.sum(axis=1))
    return {
        "wape": float(error.sum() / truth.sum()),
        "mase": float((error.mean(axis=1)[ok] / scale[ok]).mean()),
        "smape": float(smape.mean()),
        "wape_28_day_total": float(totals.sum() / truth.sum()),
        "bias": float(predicted.sum() / truth.sum() - 1),
    }


def models(n_jobs: int) -> dict:
    from shelfcast.core.forecast import SeasonalNaive, Shelfcast
    from shelfcast.core.forecast_peers import StatsForecastPeer
    from shelfcast.core.forecast_seasonal_trend import SeasonalTrend

    return {
        "shelfcast (default: weekly, split by weekday)": Shelfcast(),
        "shelfcast, daily (period_days=1, season 7)": Shelfcast(
            period_days=1, season_length=SEASON
        ),
        "seasonal_trend": SeasonalTrend(),
        "AutoETS (season 7)": StatsForecastPeer("auto_ets", n_jobs=n_jobs),
        "AutoTheta (season 7)": StatsForecastPeer("auto_theta", n_jobs=n_jobs),
        "CrostonOptimized": StatsForecastPeer("croston_optimized", n_jobs=n_jobs),
        "SeasonalNaive (season 7)": SeasonalNaive(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="150 products; write nothing shared")
    parser.add_argument("--n-jobs", type=int, default=-1, help="statsforecast processes")
    args = parser.parse_args()

    products = 150 if args.quick else 2000
    history, actual = split(generate_panel(products))
    facts = machine_facts(args.n_jobs)
    rows = []
    for name, model in models(args.n_jobs).items():
        started = time.perf_counter()
        forecast = model.fit_predict(history, HORIZON)
        seconds = time.perf_counter() - started
        rows.append({"model": name, **scores(history, actual, forecast), "seconds": seconds})
        print(f"{name:46s} WAPE {rows[-1]['wape']:.4f}  28-day {rows[-1]['wape_28_day_total']:.4f}  MASE {rows[-1]['mase']:.4f}  {seconds:8.2f} s", flush=True)  # fmt: skip

    ours, ets = rows[0], next(r for r in rows if r["model"].startswith("AutoETS"))
    targets = {
        "wape_no_worse_than_autoets": ours["wape"] <= ets["wape"],
        "at_least_100x_faster_than_autoets": ets["seconds"] >= 100 * ours["seconds"],
        "speedup_vs_autoets": ets["seconds"] / ours["seconds"],
    }
    result = {"benchmark": "forecast_panel", "series": products, "horizon": HORIZON,
              "history_days": HISTORY_DAYS, "origin": ORIGIN, "machine": facts,
              "results": rows, "targets": targets}  # fmt: skip
    print(json.dumps(targets, indent=2))
    name = "forecast_panel_quick" if args.quick else "forecast_panel"
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    if args.quick:
        return
    columns = {"WAPE": ("wape", ".4f"), "28-day WAPE": ("wape_28_day_total", ".4f"),
               "MASE": ("mase", ".4f"), "sMAPE (%)": ("smape", ".2f"), "bias": ("bias", "+.3f"),
               "seconds": ("seconds", ".2f")}  # fmt: skip
    write_section(
        "forecast_panel",
        f"""## Forecasting: 2,000 daily retail series (`forecast_panel.py`)

{products} products from the demo-data generator, {HISTORY_DAYS} days of history to {ORIGIN},
horizon {HORIZON} days, every model through the pipeline's own `Forecaster.fit_predict` in one
run. WAPE, MASE (in-sample weekly seasonal-naive scale) and sMAPE are on daily values; 28-day
WAPE is on each product's 28-day total, the number the optimiser uses. statsforecast ran with
`n_jobs={args.n_jobs}`. {facts["cores"]} cores, load average {facts["load_average_at_start"]} at
the start; statsforecast {facts["statsforecast"]}; {facts["date"]}, commit {facts["commit"]}.

{markdown_table(rows, columns)}

Targets: WAPE no worse than AutoETS —
**{"met" if targets["wape_no_worse_than_autoets"] else "missed"}**; at least 100× faster —
**{"met" if targets["at_least_100x_faster_than_autoets"] else "missed"}**
({targets["speedup_vs_autoets"]:.0f}× faster). Raw numbers: `results/forecast_panel.json`.""",
    )


if __name__ == "__main__":
    main()
