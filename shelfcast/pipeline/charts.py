"""Charts for materialization metadata: small PNGs an analyst reads in the Dagster UI.

Each chart is a matplotlib figure rendered off-screen (the Agg canvas, no display and no global
pyplot state, so charts are safe in any worker process) and embedded in markdown metadata as a
``data:image/png`` URI, as Dagster's own tutorial does: the UI shows the image inline and the
run's event log keeps it with the materialization it describes. The PNGs are kept small (at most
100 dpi, a few hundred pixels high, no PNG text chunks) and are deterministic: the same frames
give the same bytes.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from shelfcast.core.rows import as_datetimes

if TYPE_CHECKING:  # matplotlib is imported on first draw: steps that draw nothing skip its 0.5 s
    from matplotlib.figure import Figure

DPI = 80
HISTORY_WEEKS = 26
TOP_PRODUCTS = 3
MAX_CATEGORIES = 8
HISTORY, FORECAST, BAND = "#4c72b0", "#dd8452", "#dd8452"
MARKDOWN, MARKUP, UNCHANGED = "#c44e52", "#55a868", "#8c8c8c"


def new_figure(
    width: float, height: float, layout: Literal["constrained"] | None = "constrained"
) -> Figure:
    """An off-screen figure of ``width`` × ``height`` inches, laid out to fit its labels."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout=layout)


def png(figure: Figure) -> bytes:
    """The figure as PNG bytes: DPI dots per inch, no text chunks, so the bytes are stable."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def png_markdown(figure: Figure | None, caption: str) -> str:
    """The figure as an inline markdown image with its caption under it (the caption alone
    when there is nothing to draw)."""
    if figure is None:
        return caption
    encoded = base64.b64encode(png(figure)).decode()
    return f"![{caption}](data:image/png;base64,{encoded})\n\n{caption}"


def weekly(
    history: pd.DataFrame, forecast: pd.DataFrame, keys: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Units per 7-day week by ``keys``: weeks −HISTORY_WEEKS … −1 of history before the first
    forecast day, weeks 0 … of the forecast."""
    start = as_datetimes(forecast["date"]).min().to_datetime64()

    def weeks(dates: pd.Series) -> np.ndarray:
        return (as_datetimes(dates).to_numpy() - start) // np.timedelta64(7, "D")

    week = weeks(history["date"])
    recent = week >= -HISTORY_WEEKS  # the weeks drawn, selected before any grouping
    past = history.loc[recent, [*keys, "units"]].assign(week=week[recent])
    ahead = forecast.assign(week=weeks(forecast["date"]))
    return (
        past.groupby([*keys, "week"])["units"].sum().unstack(fill_value=0.0),
        ahead.groupby([*keys, "week"])["units_forecast"].sum().unstack(fill_value=0.0),
    )


def forecast_chart(
    history: pd.DataFrame,
    forecast: pd.DataFrame,
    wape_by_category: Mapping[str, float],
    by: str,
    title: str,
) -> str:
    """:func:`forecast_figure` as markdown metadata with its caption."""
    caption = (
        f"{title}: weekly units, the last {HISTORY_WEEKS} weeks (blue) and the forecast "
        "(orange), shaded ± the category's backtest WAPE (of daily units, so wide for weekly totals)."
    )
    figure = forecast_figure(history, forecast, wape_by_category, by)
    return png_markdown(figure, caption if figure is not None else "Nothing forecast.")


def forecast_figure(
    history: pd.DataFrame,
    forecast: pd.DataFrame,
    wape_by_category: Mapping[str, float],
    by: str,
) -> Figure | None:
    """Weekly history and forecast of each group (``product_id``: the top products by forecast
    volume; ``category``: each category), the forecast with a band of ± its category's backtest
    WAPE, the error the same model made on this partition's own recent history. None when
    nothing was forecast."""
    if history.empty or forecast.empty:
        return None
    categories = history.drop_duplicates("product_id").set_index("product_id")["category"]
    forecast = forecast.assign(category=forecast["product_id"].map(categories))
    past, ahead = weekly(history, forecast, [by])
    groups = ahead.sum(axis=1).sort_values(ascending=False, kind="stable").index
    groups = list(groups[:TOP_PRODUCTS] if by == "product_id" else groups[:MAX_CATEGORIES])
    columns = min(len(groups), 4)
    rows = math.ceil(len(groups) / columns)
    # Small multiples placed by hand: constrained layout costs ~0.1 s per panel.
    figure = new_figure(2.4 * columns, 1.7 * rows + 0.4, layout=None)
    figure.subplots_adjust(left=0.07, right=0.99, bottom=0.3 / rows, top=1 - 0.25 / rows,
                           wspace=0.25, hspace=0.55)  # fmt: skip
    for index, group in enumerate(groups):
        axes = figure.add_subplot(rows, columns, index + 1)
        category = categories.get(group, group) if by == "product_id" else group
        wape = wape_by_category.get(str(category), math.nan)
        history_weeks = past.loc[group] if group in past.index else pd.Series(dtype=float)
        forecast_weeks = ahead.loc[group]
        axes.plot(history_weeks.index, history_weeks.to_numpy(), color=HISTORY, lw=1.2)
        axes.plot(forecast_weeks.index, forecast_weeks.to_numpy(), color=FORECAST, lw=1.6)
        if math.isfinite(wape):
            low = np.clip(forecast_weeks.to_numpy() * (1 - wape), 0, None)
            high = forecast_weeks.to_numpy() * (1 + wape)
            axes.fill_between(forecast_weeks.index, low, high, color=BAND, alpha=0.25, lw=0)
        axes.axvline(-0.5, color="#999999", lw=0.8, ls=":")
        label = f"{group}" if by == "category" else f"{group} ({category})"
        axes.set_title(label, fontsize=8)
        axes.tick_params(labelsize=7)
        axes.set_ylim(bottom=0)
    figure.supxlabel("weeks from the end of the month", fontsize=7, y=0.01)
    figure.supylabel("units / week", fontsize=7, x=0.005)
    return figure


def price_change_chart(recommendations: pd.DataFrame) -> str:
    """:func:`price_change_figure` as markdown metadata with its caption."""
    if recommendations.empty:
        return "No product was flagged, so no price was chosen."
    moved = int(recommendations["is_change"].sum())
    caption = (
        f"Recommended price changes: {moved} of {len(recommendations)} flagged products "
        "change price (red: markdowns, green: markups, grey: unchanged)."
    )
    return png_markdown(price_change_figure(recommendations), caption)


def price_change_figure(recommendations: pd.DataFrame) -> Figure:
    """How many flagged products get each price change: markdowns, markups and no change."""
    # Prices are rounded to cents, so a 10 % step shows as 9.6 % or 10.2 %: bars of 5 points.
    change = (recommendations["price_change"] * 100 / 5).round(0) * 5
    counts = change.value_counts().sort_index()
    figure = new_figure(5.0, 2.2)
    axes = figure.add_subplot()
    colours = [MARKDOWN if c < 0 else MARKUP if c > 0 else UNCHANGED for c in counts.index]
    axes.bar(counts.index.to_numpy(), counts.to_numpy(), width=3.5, color=colours)
    axes.set_xlabel("price change (%)", fontsize=8)
    axes.set_ylabel("products", fontsize=8)
    axes.tick_params(labelsize=7)
    return figure


def margin_chart(recommendations: pd.DataFrame, currency: str) -> str:
    """:func:`margin_figure` as markdown metadata, the totals in its caption."""
    if recommendations.empty:
        return "No product was flagged, so no margin is expected to change."
    expected = float(recommendations["expected_margin"].sum())
    baseline = float(recommendations["baseline_margin"].sum())
    caption = (
        f"Expected margin over the horizon: {expected:,.2f} {currency} with the plan vs "
        f"{baseline:,.2f} {currency} with no change ({expected - baseline:+,.2f} {currency})."
    )
    return png_markdown(margin_figure(recommendations, currency), caption)


def margin_figure(recommendations: pd.DataFrame, currency: str) -> Figure:
    """Expected margin over the horizon per category: the plan next to keeping every price."""
    per_category = (
        recommendations.groupby("category")[["baseline_margin", "expected_margin"]]
        .sum()
        .sort_values("expected_margin", ascending=False)
    )
    positions = np.arange(len(per_category))
    figure = new_figure(max(3.5, 0.7 * len(per_category) + 1.5), 2.4)
    axes = figure.add_subplot()
    axes.bar(
        positions - 0.2, per_category["baseline_margin"], 0.4, color=UNCHANGED, label="no change"
    )
    axes.bar(positions + 0.2, per_category["expected_margin"], 0.4, color=HISTORY, label="plan")
    axes.set_xticks(positions, per_category.index, rotation=30, ha="right", fontsize=7)
    axes.set_ylabel(f"margin ({currency})", fontsize=8)
    axes.tick_params(axis="y", labelsize=7)
    axes.axhline(0, color="#333333", lw=0.6)
    axes.legend(fontsize=7, frameon=False)
    return figure
