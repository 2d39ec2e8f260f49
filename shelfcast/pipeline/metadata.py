"""Materialization metadata every asset shares: row counts, typed tables, parameters, JSON.

Values are shown as an analyst reads them: money rounded to cents with its currency, shares as
percentages, units to one decimal, and every table a typed ``MetadataValue.table`` the UI renders
as a table (not markdown behind a button). Layer names are shown relative to the package (the
versioned ``configs/``) or the checkout, so the UI never shows the absolute paths of the machine
that ran the step, and a wheel and a checkout name the same file alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
from dagster import MetadataValue, TableColumn, TableRecord, TableSchema

from shelfcast.pipeline.resources import CHECKOUT, PACKAGE_DIR
from shelfcast.platform.config import ResolvedConfig

# Column roles shared by the contracts (the same names mean the same thing in every contract).
MONEY_COLUMNS = frozenset(
    {
        "price", "unit_cost", "current_price", "recommended_price", "new_price", "revenue",
        "gross_margin", "expected_revenue", "expected_margin", "baseline_margin", "discount_cost",
    }
)  # fmt: skip
SHARE_COLUMNS = frozenset(
    {"price_change", "margin_rate", "yoy_change", "trend_change", "category_share"}
)
PARTITION_COLUMNS = frozenset({"market", "month"})
UNIT_COLUMNS = frozenset(
    {"units_forecast", "baseline_units", "expected_units", "units_last_year", "stock_cover_days"}
)


def frame_metadata(
    frame: pd.DataFrame, preview_rows: int = 10, currency: str | None = None
) -> dict:
    """The row count and the first rows as a typed table."""
    return {
        "dagster/row_count": MetadataValue.int(len(frame)),
        "preview": preview_table(frame.head(preview_rows), currency),
    }


def money(value: float, currency: str | None) -> str:
    """``1,234.57 USD``: rounded to cents, with the currency when it is known."""
    text = f"{value:,.2f}"
    return f"{text} {currency}" if currency else text


def percent(share: float) -> str:
    """``-14.9 %`` for a share of -0.149038."""
    return f"{share * 100:+.1f} %" if share else "0 %"


def preview_table(frame: pd.DataFrame, currency: str | None = None) -> MetadataValue:
    """Rows as a typed table: money with its currency (the row's own ``currency`` column where
    the frame has one), shares as percentages, units to one decimal. ``market`` and ``month``
    are left out: the materialization's partition names them."""
    shown = [str(name) for name in frame.columns if name not in PARTITION_COLUMNS]
    columns = [TableColumn(name=name, type=_column_type(frame, name)) for name in shown]
    records = []
    for _, row in frame.iterrows():
        row_currency = row["currency"] if "currency" in frame.columns else currency
        records.append(TableRecord({name: _cell(name, row[name], row_currency) for name in shown}))
    return MetadataValue.table(records=records, schema=TableSchema(columns=columns))


def _column_type(frame: pd.DataFrame, name: str) -> str:
    if name in MONEY_COLUMNS or name in SHARE_COLUMNS:
        return "string"
    dtype = frame[name].dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    return "string"


def _cell(name: str, value: Any, currency: str | None) -> str | int | float | bool | None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    if name in MONEY_COLUMNS:
        return money(float(value), currency)
    if name in SHARE_COLUMNS:
        return percent(float(value))
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, float):
        return round(value, 1 if name in UNIT_COLUMNS else 3)
    if isinstance(value, bool | int):
        return value
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d") if value == value.normalize() else value.isoformat()
    return str(value)


def typed_table(rows: Sequence[Mapping[str, Any]], columns: Mapping[str, str]) -> MetadataValue:
    """A table of plain rows; ``columns`` maps each column to its Dagster type."""
    schema = TableSchema(columns=[TableColumn(name=n, type=t) for n, t in columns.items()])
    records = [TableRecord({name: row.get(name) for name in columns}) for row in rows]
    return MetadataValue.table(records=records, schema=schema)


def display_layer(label: str) -> str:
    """A layer's name as the UI shows it: the package's versioned files relative to the package
    (``configs/defaults.yaml@sha256:…``, installed or not), other paths inside a checkout
    relative to it; URLs and paths elsewhere unchanged."""
    label = label.replace(f"{PACKAGE_DIR}/", "")
    return label.replace(f"{CHECKOUT}/", "") if CHECKOUT is not None else label


def config_metadata(resolved: ResolvedConfig, keys: Iterable[str] | None = None) -> dict:
    """The parameters this asset used, each with the layer that set it, and the run's layers."""
    rows = [
        {
            "parameter": key,
            "value": _config_value(resolved.get(key)),
            "layer": display_layer(resolved.provenance.get(key, "?")),
        }
        for key in (keys if keys is not None else resolved.provenance)
    ]
    return {
        "parameters": typed_table(
            rows, {"parameter": "string", "value": "string", "layer": "string"}
        ),
        "parameter_layers": MetadataValue.md(
            "\n".join(
                f"{i}. `{display_layer(layer)}`" for i, layer in enumerate(resolved.layers, 1)
            )
        ),
        "config": MetadataValue.json(resolved.values),
    }


def _config_value(value: Any) -> str:
    """A parameter as it would be typed in a patch: ``0.25``, ``true``, ``[-0.3, -0.25]``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_config_value(v) for v in value) + "]"
    if value == "":
        return '""'
    return str(value)


def section_keys(resolved: ResolvedConfig, *sections: str) -> list[str]:
    """Every dotted key of the named sections, e.g. ``optimiser.max_changes``."""
    return [f"{section}.{key}" for section in sections for key in resolved.get(section)]


def json_safe(value: Any) -> Any:
    """Plain JSON: numpy scalars as Python numbers, floats to 6 decimals, NaN/inf as null."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else None
    return value


def rounded(value: float, digits: int) -> float:
    """``value`` to ``digits`` decimals, ``-0.0`` as ``0.0``; NaN and infinities unchanged."""
    if not math.isfinite(value):
        return value
    return round(value, digits) + 0.0
