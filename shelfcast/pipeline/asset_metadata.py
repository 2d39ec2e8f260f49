"""What `demand_forecast` and `price_recommendations` report with each materialization.

Kept out of the asset modules so that an asset body reads as a paragraph: load, compute,
return with ``forecast_metadata(...)`` or ``pricing_metadata(...)``. Charts come from
:mod:`shelfcast.pipeline.charts`; tables and number formats from
:mod:`shelfcast.pipeline.metadata`.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from dagster import MetadataValue

from shelfcast.core.optimiser import SolveReport
from shelfcast.pipeline import charts
from shelfcast.pipeline.metadata import (
    frame_metadata,
    json_safe,
    money,
    rounded,
    typed_table,
)

# Backtest scores plotted across partitions, one series per market: the UI draws one line per
# metadata key, so each market's scores carry its code (``backtest_wape_US``).
PLOTTED_SCORES = {
    "wape": "backtest_wape",
    "mase": "backtest_mase",
    "baseline_wape": "baseline_wape",
    "baseline_mase": "baseline_mase",
}
SCORE_COLUMNS = {
    "category": "string",
    "products": "int",
    "wape": "float",
    "baseline_wape": "float",
    "mase": "float",
    "baseline_mase": "float",
}


def plotted_score_keys(market: str) -> list[str]:
    """The metadata keys of ``market``'s backtest scores."""
    return [f"{label}_{market}" for label in PLOTTED_SCORES.values()]


def forecast_metadata(
    frame: pd.DataFrame, history: pd.DataFrame, accuracy: dict, market: str
) -> dict:
    """Charts of history and forecast, the backtest as a table and as plotted numbers."""
    wape_by_category = {
        name: scores["wape"] for name, scores in accuracy.get("per_category", {}).items()
    }
    return {
        "forecast_top_products": MetadataValue.md(
            charts.forecast_chart(
                history,
                frame,
                wape_by_category,
                "product_id",
                f"Top {charts.TOP_PRODUCTS} products",
            )
        ),
        "forecast_by_category": MetadataValue.md(
            charts.forecast_chart(history, frame, wape_by_category, "category", "Per category")
        ),
        **frame_metadata(frame),
        "products_forecast": MetadataValue.int(int(frame["product_id"].nunique())),
        "forecast_units": MetadataValue.float(rounded(float(frame["units_forecast"].sum()), 0)),
        "backtest_method": MetadataValue.text(backtest_method(accuracy)),
        "backtest_accuracy": typed_table(backtest_rows(accuracy), SCORE_COLUMNS),
        "backtest": MetadataValue.json(json_safe(accuracy)),
        **{
            f"{label}_{market}": MetadataValue.float(rounded(accuracy[key], 3))
            for key, label in PLOTTED_SCORES.items()
            if isinstance(accuracy.get(key), float) and math.isfinite(accuracy[key])
        },
    }


def backtest_method(accuracy: dict) -> str:
    """One sentence: what was backtested against what, or why there is no backtest."""
    if not accuracy.get("folds"):
        return "No backtest: the history is too short for one fold before the horizon."
    return (
        f"{accuracy['model']} vs {accuracy['baseline']}, rolling origin, {accuracy['folds']} "
        "fold(s) of the horizon on this partition's history. WAPE = Σ|error| / Σ actual; MASE "
        "scaled by the in-sample weekly seasonal-naive MAE."
    )


def backtest_rows(accuracy: dict) -> list[dict[str, Any]]:
    """One row per category, then ``all``: scores to three decimals."""
    if not accuracy.get("folds"):
        return []
    per_category = sorted(accuracy.get("per_category", {}).items())
    rows = [{"category": name, **scores} for name, scores in per_category]
    total = sum(int(scores.get("products", 0)) for _, scores in per_category)
    rows.append({"category": "all", **accuracy, "products": total or None})
    for row in rows:
        for score in ("wape", "baseline_wape", "mase", "baseline_mase"):
            value = row.get(score)
            row[score] = _finite(rounded(value, 3)) if isinstance(value, float) else None
    return rows


def pricing_metadata(
    frame: pd.DataFrame, report: SolveReport, elasticity: pd.DataFrame, currency: str
) -> dict:
    """Charts of the chosen changes and the margin, totals with the currency, the solver and
    the elasticity per category as tables."""
    changes = frame.loc[frame["is_change"]]
    expected = float(frame["expected_margin"].sum())
    uplift = float((frame["expected_margin"] - frame["baseline_margin"]).sum())
    spent = float(frame["discount_cost"].sum())
    gap = (
        {"solver_gap": MetadataValue.float(solver_gap(report))} if math.isfinite(report.gap) else {}
    )
    return {
        "price_change_distribution": MetadataValue.md(charts.price_change_chart(frame)),
        "margin_vs_no_change": MetadataValue.md(charts.margin_chart(frame, currency)),
        "summary": MetadataValue.md(
            f"**{len(changes)}** price changes among {len(frame)} flagged products: expected "
            f"margin **{money(expected, currency)}** over the horizon, "
            f"{money(uplift, currency)} more than with no change; discount spent "
            f"{money(spent, currency)}."
        ),
        **frame_metadata(changes, currency=currency),
        "price_changes": MetadataValue.int(len(changes)),
        "currency": MetadataValue.text(currency),
        "expected_margin": MetadataValue.float(round(expected, 2)),
        "margin_uplift": MetadataValue.float(round(uplift, 2)),
        "discount_spent": MetadataValue.float(round(spent, 2)),
        "solver_method": MetadataValue.text(report.method),
        **gap,
        "solver": typed_table(
            solver_rows(report, currency), {"field": "string", "value": "string"}
        ),
        **elasticity_metadata(elasticity),
    }


def solver_gap(report: SolveReport) -> float:
    """The certified relative gap to six decimals: rounding noise such as 2e-16 is 0."""
    return max(rounded(report.gap, 6), 0.0)


def solver_rows(report: SolveReport, currency: str) -> list[dict[str, str]]:
    """The solver's report as readable rows: money in the currency, the gap as a percentage."""
    rows = {
        "status": report.status,
        "method": report.method,
        "objective value": money(report.objective_value, currency),
        "best bound": money(report.best_bound, currency)
        if math.isfinite(report.best_bound)
        else "–",
        "gap": f"{solver_gap(report) * 100:.4f} %" if math.isfinite(report.gap) else "–",
        "seconds": f"{report.seconds:.2f}",
        "products": str(report.n_products),
        "price changes": str(report.n_changes),
        "discount spent": money(report.discount_spent, currency),
        "candidate prices": str(report.n_options),
        "fractional in the LP": str(report.lp_fractional),
        "decided by branch and bound": str(report.branched_products),
    }
    rows |= {f"seconds: {phase}": f"{float(s):.3f}" for phase, s in report.timings.items()}
    return [{"field": name, "value": value} for name, value in rows.items()]


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _share(value: float) -> str:
    return f"{value * 100:.1f} %" if math.isfinite(value) else "–"


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
    rows = [
        {
            "category": str(row.category),
            "elasticity": _finite(rounded(float(row.elasticity), 2)),
            "standard_error": _finite(rounded(float(row.elasticity_se), 2)),
            "product_weeks": int(row.product_weeks),
            "products": int(row.products),
            "median_price_variation": _share(float(row.median_price_variation)),
            "source": str(row.source),
        }
        for row in per_category.itertuples()
    ]
    columns = {
        "category": "string",
        "elasticity": "float",
        "standard_error": "float",
        "product_weeks": "int",
        "products": "int",
        "median_price_variation": "string",
        "source": "string",
    }
    return {
        "elasticity_by_category": typed_table(rows, columns),
        "elasticity": MetadataValue.json(json_safe(per_category.to_dict(orient="records"))),
    }
