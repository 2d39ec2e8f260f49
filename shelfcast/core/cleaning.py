"""Cleaning of landing drops into the sales and products contracts, without lossy coercion.

Cleaning types and completes the data; it never repairs it silently. Every column is parsed with
the contract's type and a value that does not fit is refused with its column, count and a
sample: ids are strings (``000103`` stays ``000103``), units are whole numbers (``2.5`` is not
2), a flag is true or false (``maybe`` is neither), numbers are finite, dates parse. A duplicate
day, a negative price or a date outside the month is left in place so that validation reports it
by name. ``check_complete`` refuses a drop that has no rows, misses days of its month or sells
products the month's product drop does not know.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import pandas as pd

from shelfcast.errors import UserError

SALES_DROP_COLUMNS = ("date", "product_id", "units", "price", "promo")
PRODUCTS_DROP_COLUMNS = ("product_id", "name", "category", "unit_cost", "price", "stock_on_hand")
TRUE_WORDS = frozenset({"true", "1", "yes", "y", "t"})
FALSE_WORDS = frozenset({"false", "0", "no", "n", "f"})
SAMPLE = 5
# Text is parsed into Arrow-backed strings, the contracts' text type: vectorised string
# operations, and no conversion when the frame is validated.
TEXT = pd.StringDtype("pyarrow")


class DropFormatError(UserError, ValueError):
    """A landing drop lacks a column, or holds a value its column's type cannot take."""


class IncompleteDropError(UserError, ValueError):
    """A landing drop is not the whole month: no rows, missing days or unknown products."""


@dataclass(frozen=True)
class IngestParams:
    """What a drop must satisfy to be accepted (section ``ingest``)."""

    max_missing_days: int  # days of the month a sales drop may lack entirely
    max_unknown_products: int  # products sold but absent from the month's product drop
    drift_band: tuple[float, ...]  # [low, high]: this month / trailing median must lie inside
    drift_months: int  # trailing months the drift checks compare with
    drift_min_months: int  # fewer trailing months than this: drift is not judged

    def __post_init__(self) -> None:
        object.__setattr__(self, "drift_band", tuple(float(v) for v in self.drift_band))
        low, high = (self.drift_band + (math.nan, math.nan))[:2]
        checks = [
            ("max_missing_days", 0 <= self.max_missing_days <= 31,
             f"must be 0 … 31, got {self.max_missing_days}"),
            ("max_unknown_products", self.max_unknown_products >= 0,
             f"must be >= 0, got {self.max_unknown_products}"),
            ("drift_band", len(self.drift_band) == 2 and 0 < low <= 1 <= high < math.inf,
             f"must be [low, high] with 0 < low <= 1 <= high, got {list(self.drift_band)}"),
            ("drift_months", self.drift_months >= 1, f"must be >= 1, got {self.drift_months}"),
            ("drift_min_months", 1 <= self.drift_min_months <= self.drift_months,
             f"must be 1 … drift_months, got {self.drift_min_months}"),
        ]  # fmt: skip
        wrong = [f"ingest.{key} {message}" for key, ok, message in checks if not ok]
        if wrong:
            raise DropFormatError("; ".join(wrong))


def require_columns(raw: pd.DataFrame, columns: tuple[str, ...], dataset: str) -> list[str]:
    """Raise for missing columns; return the extra columns that cleaning will ignore."""
    missing = [c for c in columns if c not in raw.columns]
    if missing:
        raise DropFormatError(
            f"{dataset} landing drop is missing column(s) {', '.join(missing)} "
            f"(a drop needs {', '.join(columns)}; it has {', '.join(map(str, raw.columns))})"
        )
    return [str(c) for c in raw.columns if c not in columns]


def clean_sales(raw: pd.DataFrame, market: str, month: str) -> pd.DataFrame:
    """Type a sales drop and add market, month and revenue, sorted by product and date."""
    require_columns(raw, SALES_DROP_COLUMNS, "sales")
    problems: list[str] = []
    rows = len(raw)
    sales = pd.DataFrame(
        {
            "market": constant_text(market, rows),
            "month": constant_text(month, rows),
            "date": as_dates(raw["date"], "date", problems),
            "product_id": as_ids(raw["product_id"], "product_id", problems),
            "units": as_whole_numbers(raw["units"], "units", problems),
            "price": as_finite_numbers(raw["price"], "price", problems),
            "promo": as_flags(raw["promo"], "promo", problems),
        }
    )
    _raise_if(problems, "sales")
    sales["revenue"] = (sales["units"] * sales["price"]).clip(lower=0)
    return sales.sort_values(["product_id", "date"], kind="stable").reset_index(drop=True)


def clean_products(raw: pd.DataFrame, market: str, month: str, currency: str) -> pd.DataFrame:
    """Type a product snapshot and add market, month and currency."""
    require_columns(raw, PRODUCTS_DROP_COLUMNS, "products")
    problems: list[str] = []
    rows = len(raw)
    products = pd.DataFrame(
        {
            "market": constant_text(market, rows),
            "month": constant_text(month, rows),
            "product_id": as_ids(raw["product_id"], "product_id", problems),
            "name": as_text(raw["name"], "name", problems),
            "category": as_text(raw["category"], "category", problems),
            "currency": constant_text(currency, rows),
            "unit_cost": as_finite_numbers(raw["unit_cost"], "unit_cost", problems),
            "price": as_finite_numbers(raw["price"], "price", problems),
            "stock_on_hand": as_whole_numbers(raw["stock_on_hand"], "stock_on_hand", problems),
        }
    )
    _raise_if(problems, "products")
    return products.sort_values("product_id", kind="stable").reset_index(drop=True)


def check_complete(
    sales: pd.DataFrame, month: str, known_products: Collection[str], params: IngestParams
) -> list[str]:
    """What keeps a sales drop from being the whole month; empty when it is complete."""
    if sales.empty:
        return ["the drop has no rows (a header alone, or an empty file, is not a month of sales)"]
    problems = []
    period = pd.Period(month, freq="M")
    days = pd.date_range(
        period.start_time, periods=calendar.monthrange(period.year, period.month)[1]
    )
    missing = days.difference(pd.DatetimeIndex(sales["date"].unique()))
    if len(missing) > params.max_missing_days:
        problems.append(
            f"{len(missing)} of the month's {len(days)} days have no sales rows "
            f"({_sample([d.date().isoformat() for d in missing])}); at most "
            f"ingest.max_missing_days={params.max_missing_days} may be missing"
        )
    unknown = sorted(set(sales["product_id"].unique()) - set(known_products))
    if len(unknown) > params.max_unknown_products:
        problems.append(
            f"{len(unknown)} product(s) are sold but absent from the month's products drop "
            f"({_sample(unknown)}); at most ingest.max_unknown_products="
            f"{params.max_unknown_products} may be"
        )
    return problems


# -- typed parsing: each parser appends what it refuses to ``problems`` --------------------------


def as_ids(values: pd.Series, column: str, problems: list[str]) -> pd.Series:
    """Identifiers as strings. Integers (a Parquet int column) become their digits, exactly;
    floats are refused: an id that went through a float may have lost digits."""
    if pd.api.types.is_float_dtype(values):
        problems.append(
            f"column '{column}' holds numbers ({values.dtype}), not strings: ids must be text "
            "(a float may have changed them, e.g. 103.0 or 1e5)"
        )
        return values.astype(TEXT)
    if pd.api.types.is_integer_dtype(values) or pd.api.types.is_bool_dtype(values):
        return values.astype(TEXT)
    text = values.astype(TEXT).str.strip()
    _refuse(text.isna() | (text == ""), values, column, "empty value(s)", problems)
    return text


def constant_text(value: str, rows: int) -> pd.api.extensions.ExtensionArray:
    """``value`` on every one of ``rows`` rows, as Arrow-backed text: a scalar in a frame
    would be a Python object per row, which validation then checks one by one (pandera maps
    ``isinstance`` over an object column: 2.8 s of a 4,000-product cold run under pyinstrument,
    about 1 s of its wall time)."""
    return pd.array([value], dtype=TEXT).take(np.zeros(rows, dtype=np.intp))


def as_text(values: pd.Series, column: str, problems: list[str]) -> pd.Series:
    text = values.astype(TEXT).str.strip()
    _refuse(text.isna(), values, column, "missing value(s)", problems)
    return text


def as_whole_numbers(values: pd.Series, column: str, problems: list[str]) -> pd.Series:
    """Counts: integers; ``2.5`` and ``2.0e0`` alike must be whole, nothing is rounded."""
    numbers = _numbers(values, column, problems)
    finite = np.isfinite(numbers)
    fractional = finite & (numbers != np.floor(numbers))
    _refuse(
        fractional, values, column, "fractional value(s) where whole units are expected", problems
    )
    return pd.Series(np.where(finite & ~fractional, numbers, 0), index=values.index).astype("int64")


def as_finite_numbers(values: pd.Series, column: str, problems: list[str]) -> pd.Series:
    return pd.Series(_numbers(values, column, problems), index=values.index)


def as_flags(values: pd.Series, column: str, problems: list[str]) -> pd.Series:
    """true/false, 1/0, yes/no (any case); anything else is refused, never read as False."""
    if pd.api.types.is_bool_dtype(values) and not values.isna().any():
        return values.astype(bool)
    words = values.astype(TEXT).str.strip().str.lower()
    known = words.isin(TRUE_WORDS | FALSE_WORDS)
    _refuse(
        ~known.fillna(False), values, column, "value(s) that are neither true nor false", problems
    )
    return words.isin(TRUE_WORDS).fillna(False).astype(bool)


def as_dates(values: pd.Series, column: str, problems: list[str]) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        dates = values
    else:
        text = values.astype(TEXT).str.strip()
        dates = pd.to_datetime(text, errors="coerce", format="ISO8601")
    _refuse(dates.isna(), values, column, "value(s) that are not dates (YYYY-MM-DD)", problems)
    return (
        dates.dt.tz_localize(None).dt.normalize()
        if dates.dt.tz is not None
        else dates.dt.normalize()
    )


def _numbers(values: pd.Series, column: str, problems: list[str]) -> np.ndarray:
    """Finite float values; non-numbers, blanks, NaN and ±inf are refused."""
    if pd.api.types.is_bool_dtype(values):
        problems.append(f"column '{column}' holds true/false values, not numbers")
        return np.zeros(len(values))
    if pd.api.types.is_numeric_dtype(values):
        numbers = values.to_numpy(dtype=float, na_value=np.nan)
    else:
        text = values.astype(TEXT).str.strip()
        numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    _refuse(~np.isfinite(numbers), values, column, "value(s) that are not finite numbers", problems)
    return numbers


def _refuse(bad, values: pd.Series, column: str, what: str, problems: list[str]) -> None:
    mask = np.asarray(bad, dtype=bool)
    if mask.any():
        shown = [repr(v) if isinstance(v, str) else str(v) for v in values[mask].head(SAMPLE)]
        more = int(mask.sum()) - len(shown)
        sample = ", ".join(shown) + (f", … {more} more" if more > 0 else "")
        problems.append(f"column '{column}' has {int(mask.sum())} {what}, e.g. [{sample}]")


def _raise_if(problems: list[str], dataset: str) -> None:
    if problems:
        raise DropFormatError(f"{dataset} drop refused: " + "; ".join(problems))


def _sample(items: list[str], limit: int = 10) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", … {len(items) - limit} more" if len(items) > limit else "")
