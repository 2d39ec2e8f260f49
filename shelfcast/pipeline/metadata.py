"""Materialization metadata every asset shares: row counts, previews, parameters, JSON."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pandas as pd
from dagster import MetadataValue

from shelfcast.platform.config import ResolvedConfig


def frame_metadata(frame: pd.DataFrame, preview_rows: int = 10) -> dict:
    return {
        "dagster/row_count": MetadataValue.int(len(frame)),
        "preview": MetadataValue.md(frame.head(preview_rows).to_markdown(index=False)),
    }


def config_metadata(resolved: ResolvedConfig, keys: Iterable[str] | None = None) -> dict:
    """The parameters this asset used, each with the layer that set it, and the run's layers."""
    rows = [
        f"| `{key}` | `{resolved.get(key)!r}` | {resolved.provenance.get(key, '?')} |"
        for key in (keys if keys is not None else resolved.provenance)
    ]
    table = "| parameter | value | layer |\n|---|---|---|\n" + "\n".join(rows)
    return {
        "parameters": MetadataValue.md(table),
        "parameter_layers": MetadataValue.md(
            "\n".join(f"{i}. {layer}" for i, layer in enumerate(resolved.layers, 1))
        ),
        "config": MetadataValue.json(resolved.values),
    }


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
