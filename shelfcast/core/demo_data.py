"""Deterministic, realistic demo data: monthly landing drops of daily sales and product snapshots.

Each market has a catalogue of products with a *true* demand model: trend (some products decline,
some grow), weekly and yearly seasonality per category, a price elasticity, a promotion uplift and
negative-binomial noise. The drops are draws from that model; `ground_truth` and `expected_units`
expose the model itself, so tests and benchmarks can score what the pipeline finds against what is
really there.

Everything is a pure function of the `GeneratorSpec`: the catalogue comes from a numpy generator
seeded with (seed, crc32(market)) and each month's noise from one seeded with (seed, market,
month), so the same spec always gives identical frames.
"""

from __future__ import annotations

import dataclasses
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

import numpy as np
import pandas as pd

PROMO_UPLIFT = 1.2  # display/feature effect of a promotion on top of its price effect
DECLINING_SHARE, GROWING_SHARE, INTERMITTENT_SHARE = 0.15, 0.10, 0.15
_OVERSTOCK = 0.3  # share of a decline the buyer keeps ordering anyway, so stock piles up


@dataclass(frozen=True)
class MarketSpec:
    """One market: code, currency, catalogue size, and price and demand scale versus the US."""

    code: str
    currency: str
    n_products: int
    price_scale: float
    demand_scale: float


DEFAULT_MARKETS: tuple[MarketSpec, ...] = (
    MarketSpec("US", "USD", 240, 1.0, 1.0),
    MarketSpec("GB", "GBP", 160, 0.8, 0.5),
    MarketSpec("DE", "EUR", 180, 0.9, 0.6),
    MarketSpec("SE", "SEK", 120, 10.0, 0.25),
)


def last_closed_month(today: date | None = None) -> str:
    """``YYYY-MM`` of the month before ``today``'s (UTC today by default): the newest month whose
    sales are complete, and the last month partition of the pipeline."""
    today = today or datetime.now(UTC).date()
    return (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")


def recent_months(count: int, today: date | None = None) -> list[str]:
    """The last ``count`` closed months, oldest first, e.g. ``['2026-10', '2026-11']``."""
    last = pd.Period(last_closed_month(today), freq="M")
    return [str(last - back) for back in range(count - 1, -1, -1)]


@dataclass(frozen=True)
class GeneratorSpec:
    """What to generate: markets, the month range (inclusive) and the seed.

    The default range runs from 2022-01 to the last closed month, so demo data always reach the
    newest month partition; pass ``last_month`` for data that do not depend on today.
    """

    markets: tuple[MarketSpec, ...] = DEFAULT_MARKETS
    first_month: str = "2022-01"
    last_month: str = field(default_factory=last_closed_month)
    seed: int = 7

    def __post_init__(self) -> None:
        for month in (self.first_month, self.last_month):
            if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
                raise ValueError(f"month {month!r} is not YYYY-MM")
        if self.first_month > self.last_month:
            raise ValueError(f"first_month {self.first_month} > last_month {self.last_month}")
        codes = [m.code for m in self.markets]
        if not codes or len(set(codes)) != len(codes):
            raise ValueError(f"markets must be a non-empty list of distinct codes, got {codes}")
        if any(m.n_products < 1 for m in self.markets):
            raise ValueError("every market needs at least one product")
        if self.seed < 0:
            raise ValueError("seed must be >= 0")

    def with_size(
        self,
        products: int | None = None,
        markets: list[str] | None = None,
        first_month: str | None = None,
        last_month: str | None = None,
    ) -> GeneratorSpec:
        """A copy with every market resized to `products`, only `markets` (by code), other months."""
        chosen = self.markets
        if markets is not None:
            by_code = {m.code: m for m in self.markets}
            unknown = [c for c in markets if c.strip().upper() not in by_code]
            if unknown:
                raise ValueError(f"unknown market(s) {unknown}; known: {sorted(by_code)}")
            chosen = tuple(by_code[c.strip().upper()] for c in markets)
        if products is not None:
            chosen = tuple(dataclasses.replace(m, n_products=products) for m in chosen)
        return dataclasses.replace(
            self,
            markets=chosen,
            first_month=first_month or self.first_month,
            last_month=last_month or self.last_month,
        )


@dataclass(frozen=True)
class MonthDrop:
    """The landing drop of one market and month: daily sales and the month-end product snapshot."""

    market: str
    month: str
    sales: pd.DataFrame
    products: pd.DataFrame


class _Category(NamedTuple):
    price_lo: float  # base list price range in USD
    price_hi: float
    elasticity: float  # category mean of the true price elasticity
    weekend: float  # Saturday/Sunday demand relative to a weekday
    amplitude: float  # yearly seasonality: amplitude of a cosine ...
    peak: float  # ... peaking on this day of the year
    xmas: float  # extra uplift in the days before Christmas


CATEGORIES: dict[str, _Category] = {
    "Snacks": _Category(1.5, 6, -2.0, 1.35, 0.10, 200, 0.3),
    "Beverages": _Category(1, 8, -2.2, 1.30, 0.35, 196, 0.1),
    "Dairy": _Category(1, 7, -1.2, 1.10, 0.05, 180, 0.1),
    "Bakery": _Category(1.5, 6, -1.5, 1.25, 0.08, 355, 0.6),
    "Household": _Category(2, 15, -1.4, 1.15, 0.05, 100, 0.0),
    "Personal Care": _Category(2, 18, -1.6, 1.05, 0.10, 170, 0.2),
    "Frozen": _Category(2.5, 12, -1.8, 1.20, 0.25, 200, 0.1),
    "Pantry": _Category(1, 9, -1.0, 1.10, 0.08, 355, 0.4),
}
_PARAM = {f: np.array([getattr(c, f) for c in CATEGORIES.values()]) for f in _Category._fields}
# Product names: descriptor, noun and size words per category.
_WORDS = {
    "Snacks": "Sea Salt,Paprika,Cheddar,Honey Roast,Chili,Oat / Crisps,Pretzels,Popcorn,Crackers,Nut Mix,Crunch / 100g,150g,200g,500g",
    "Beverages": "Sparkling,Cold Brew,Lemon,Ginger,Berry,Classic / Cola,Iced Tea,Water,Lemonade,Juice,Coffee / 330ml,500ml,1L,1.5L",
    "Dairy": "Organic,Greek,Farmhouse,Light,Whole,Creamy / Yoghurt,Milk,Butter,Cheddar,Skyr,Cream / 150g,250g,500g,1L",
    "Bakery": "Sourdough,Rye,Brioche,Seeded,Cinnamon,Butter / Loaf,Rolls,Bagels,Croissants,Buns,Cookies / 4-pack,6-pack,400g,800g",
    "Household": "Lemon Fresh,Eco,Ultra,Sensitive,Power,Pine / Detergent,Dish Soap,Cleaner,Sponges,Bin Bags,Paper Towels / 500ml,1L,2L,10-pack",
    "Personal Care": "Aloe,Mint,Coconut,Fresh,Gentle,Charcoal / Shampoo,Toothpaste,Body Wash,Deodorant,Hand Cream,Soap / 50ml,100ml,250ml,400ml",
    "Frozen": "Vanilla,Stone Baked,Garden,Chocolate,Crispy,Mixed / Ice Cream,Pizza,Peas,Fish Fingers,Berries,Fries / 400g,500g,750g,1kg",
    "Pantry": "Basmati,Whole Wheat,Extra Virgin,Roasted,Spiced,Wild / Rice,Pasta,Olive Oil,Tomato Sauce,Flour,Honey / 250g,500g,1kg,750ml",
}
_TRUTH = ["product_id", "category", "elasticity", "is_declining", "annual_decline", "decline_start",
          "is_intermittent", "base_daily_units"]  # fmt: skip


_MATRICES = ("change_day", "level", "promo_span", "promo_off")


@dataclass(frozen=True)
class _Catalogue:
    """One market's products and their true demand and price model, in days from `origin`."""

    origin: pd.Timestamp
    frame: pd.DataFrame  # snapshot columns, the ground truth and the private model parameters
    change_day: np.ndarray  # products × changes: days on which the list price steps
    level: np.ndarray  # products × (changes + 1): list price after each step
    promo_span: np.ndarray  # products × spells × 2: first day and end day (exclusive)
    promo_off: np.ndarray  # products × spells: discount share

    def take(self, rows: np.ndarray) -> _Catalogue:
        """The catalogue of some products only."""
        arrays = (getattr(self, k)[rows] for k in _MATRICES)
        return _Catalogue(self.origin, self.frame.iloc[rows].reset_index(drop=True), *arrays)

    def col(self, name: str) -> np.ndarray:
        """One per-product column as a products × 1 array, ready to broadcast over days."""
        return self.frame[name].to_numpy()[:, None]


def _rng(spec: GeneratorSpec, market: str, *stream: int) -> np.random.Generator:
    return np.random.default_rng([spec.seed, zlib.crc32(market.encode()), *stream])


def _catalogue(spec: GeneratorSpec, code: str) -> _Catalogue:
    """Draw the products of one market: everything about them except the daily noise."""
    markets = {m.code: m for m in spec.markets}
    if code not in markets:
        raise KeyError(f"market {code!r} is not in the spec ({', '.join(markets)})")
    m, rng = markets[code], _rng(spec, code, 0)
    n, origin = m.n_products, pd.Timestamp(f"{spec.first_month}-01")
    span_years = ((pd.Period(spec.last_month, "M").end_time - origin).days + 1) / 365.25
    cat = rng.integers(0, len(CATEGORIES), n)
    lo, hi = np.log(_PARAM["price_lo"][cat]), np.log(_PARAM["price_hi"][cat])
    ref_price = np.round(np.exp(rng.uniform(lo, hi)) * m.price_scale, 2)
    unit_cost = np.round(ref_price * rng.uniform(0.45, 0.75, n), 2)
    elasticity = np.clip(_PARAM["elasticity"][cat] + rng.normal(0, 0.3, n), -3.2, -0.4)
    # Roles by exact shares, so that even a small catalogue has each kind of product.
    order, n_dec = rng.permutation(n), round(DECLINING_SHARE * n)
    declining = np.isin(np.arange(n), order[:n_dec])
    growing = np.isin(np.arange(n), order[n_dec : n_dec + round(GROWING_SHARE * n)])
    intermittent = np.isin(np.arange(n), rng.permutation(n)[: round(INTERMITTENT_SHARE * n)])
    decline = np.where(declining, rng.uniform(0.3, 0.6, n), 0.0)
    decline_start = np.where(declining, rng.uniform(0.25, 0.6, n) * span_years, np.nan)
    growth = np.where(growing, rng.uniform(0.1, 0.4, n), rng.normal(0, 0.03, n)) * ~declining
    fast = np.maximum(rng.lognormal(np.log(4.0), 0.9, n) * m.demand_scale, 0.7)
    base = np.where(intermittent, rng.uniform(0.05, 0.45, n), fast)
    dispersion = np.where(intermittent, rng.uniform(0.5, 2.0, n), rng.uniform(3.0, 15.0, n))
    cover_days = rng.uniform(30, 90, n)
    # List price: a few steps of ±5-15 % (mostly up), never below 1.15 × unit cost.
    change_day = np.cumsum(rng.uniform(150, 500, (n, 6)), axis=1).astype(np.int64) - 90
    step = rng.uniform(0.05, 0.15, (n, 6)) * np.where(rng.random((n, 6)) < 0.65, 1, -1)
    level = ref_price[:, None] * np.cumprod(np.c_[np.ones(n), 1 + step], axis=1)
    level = np.round(np.maximum(level, 1.15 * unit_cost[:, None]), 2)
    # Promotions: non-overlapping spells of 3-10 days at 10-30 % off, three or four a year.
    length = rng.integers(3, 11, (n, int(span_years * 6) + 2))
    first = np.cumsum(rng.integers(20, 170, length.shape), axis=1)
    first[:, 1:] += np.cumsum(length, axis=1)[:, :-1]
    promo_off = rng.uniform(0.10, 0.30, length.shape)
    start_day = np.round(np.nan_to_num(decline_start) * 365.25).astype(np.int64)
    words = [[part.split(",") for part in _WORDS[name].split(" / ")] for name in CATEGORIES]
    names = [" ".join(str(rng.choice(part)) for part in words[c]) for c in cat]
    frame = pd.DataFrame(
        {
            "product_id": [f"{code}-{i:06d}" for i in range(1, n + 1)],
            "name": names,
            "category": np.array(list(CATEGORIES), dtype=object)[cat],
            "unit_cost": unit_cost,
            "elasticity": elasticity,
            "is_declining": declining,
            "annual_decline": decline,
            "decline_start": (origin + pd.to_timedelta(start_day, unit="D")).where(declining),
            "is_intermittent": intermittent,
            "base_daily_units": base,
            # private model parameters
            "cat": cat, "ref_price": ref_price, "growth": growth, "decline_years": decline_start,
            "dispersion": dispersion, "cover_days": cover_days,
        }
    )  # fmt: skip
    span = np.stack([first, first + length], axis=2)
    return _Catalogue(origin, frame, change_day, level, span, promo_off)


def _list_price(c: _Catalogue, days: np.ndarray) -> np.ndarray:
    """products × days: list price in force on each day (days counted from the origin)."""
    steps = (c.change_day[:, :, None] <= days[None, None, :]).sum(axis=1)
    return np.take_along_axis(c.level, steps, axis=1)


def _promo_off(c: _Catalogue, days: np.ndarray) -> np.ndarray:
    """products × days: promotion discount share on each day, 0 when there is no promotion."""
    d = days[None, None, :]
    inside = (c.promo_span[:, :, :1] <= d) & (d < c.promo_span[:, :, 1:])
    return (inside * c.promo_off[:, :, None]).max(axis=1)


def _trend(c: _Catalogue, days: np.ndarray) -> np.ndarray:
    """products × days: decline (from its start) for declining products, steady growth otherwise."""
    years = days[None, :] / 365.25
    since = np.nan_to_num(np.clip(years - c.col("decline_years"), 0, None))
    return (1 - c.col("annual_decline")) ** since * (1 + c.col("growth")) ** years


def _level(c: _Catalogue, days: np.ndarray, price: np.ndarray) -> np.ndarray:
    """products × days: mean daily units at `price` without trend or promotion uplift."""
    dates = c.origin + pd.to_timedelta(days, unit="D")
    cat = c.frame["cat"].to_numpy()
    uplift = _PARAM["weekend"][cat][:, None]
    weekly = np.where(dates.dayofweek.to_numpy() >= 5, uplift, 1.0) / ((5 + 2 * uplift) / 7)
    doy = dates.dayofyear.to_numpy()[None, :]
    amplitude, peak, xmas = (_PARAM[k][cat][:, None] for k in ("amplitude", "peak", "xmas"))
    yearly = 1 + amplitude * np.cos(2 * np.pi * (doy - peak) / 365.25)
    christmas = 1 + xmas * np.exp(-0.5 * ((doy - 356) / 6) ** 2)
    price_effect = (price / c.col("ref_price")) ** c.col("elasticity")
    return c.col("base_daily_units") * weekly * yearly * christmas * price_effect


def ground_truth(spec: GeneratorSpec, market: str) -> pd.DataFrame:
    """Per product, the truth the pipeline should find: elasticity, decline, intermittency."""
    return _catalogue(spec, market).frame[_TRUTH].copy()


def expected_units(
    spec: GeneratorSpec,
    market: str,
    product_ids,
    start: date,
    days: int,
    price_multiplier: pd.Series | np.ndarray | float,
) -> pd.DataFrame:
    """True mean daily units over `days` days from `start` at list price × multiplier, no promos.

    The list price is the one in force the day before `start` (for a month's first day: the price
    in the previous month's product snapshot). A Series indexed by product id is aligned by id;
    any other multiplier is taken positionally (or broadcast if scalar).
    """
    c = _catalogue(spec, market)
    ids = pd.Index([str(p) for p in product_ids])
    rows = pd.Index(c.frame["product_id"]).get_indexer(ids)
    if (rows < 0).any():
        raise KeyError(f"unknown product ids for {market}: {list(ids[rows < 0][:5])}")
    if isinstance(price_multiplier, pd.Series) and ids.isin(price_multiplier.index).all():
        price_multiplier = price_multiplier.reindex(ids)
    multiplier = np.broadcast_to(np.asarray(price_multiplier, dtype=float), (len(ids),))
    c = c.take(rows)
    offsets = (pd.Timestamp(start) - c.origin).days + np.arange(days)
    price = _list_price(c, offsets[:1] - 1) * multiplier[:, None]
    mean = _level(c, offsets, price) * _trend(c, offsets)
    return pd.DataFrame(
        {
            "product_id": np.repeat(ids.to_numpy(dtype=object), days),
            "date": np.tile((c.origin + pd.to_timedelta(offsets, unit="D")).to_numpy(), len(ids)),
            "expected_units": mean.ravel(),
        }
    )


def generate(spec: GeneratorSpec) -> Iterator[MonthDrop]:
    """Yield one landing drop per market and month: markets in spec order, months ascending."""
    months = pd.period_range(spec.first_month, spec.last_month, freq="M")
    for market in spec.markets:
        c = _catalogue(spec, market.code)
        days = np.arange((months[-1].end_time.normalize() - c.origin).days + 1)
        list_price, off = _list_price(c, days), _promo_off(c, days)
        promo = off > 0
        price = np.where(promo, np.round(list_price * (1 - off), 2), list_price)
        level, trend = _level(c, days, price), _trend(c, days)
        mean = level * trend * np.where(promo, PROMO_UPLIFT, 1.0)
        # Stock: normal cover of the month's demand, plus what the buyer kept ordering for a
        # declining product although its demand had gone (demand without decline minus demand).
        lost = np.where(c.col("is_declining"), level * (1 - trend), 0.0)
        overhang = _OVERSTOCK * np.cumsum(lost, axis=1)
        ids, k = c.frame["product_id"].to_numpy(dtype=object), c.col("dispersion")
        dates = (c.origin + pd.to_timedelta(days, unit="D")).to_numpy()
        for month in months:
            lo = (month.start_time - c.origin).days
            hi = lo + month.days_in_month
            rng, mu = _rng(spec, market.code, 1, month.year * 12 + month.month), mean[:, lo:hi]
            units = rng.negative_binomial(np.broadcast_to(k, mu.shape), k / (k + mu))
            sales = pd.DataFrame(
                {
                    "date": np.tile(dates[lo:hi], len(ids)),
                    "product_id": np.repeat(ids, hi - lo),
                    "units": units.ravel().astype(np.int64),
                    "price": price[:, lo:hi].ravel().astype(np.float64),
                    "promo": promo[:, lo:hi].ravel(),
                }
            )
            cover = c.frame["cover_days"].to_numpy() * rng.lognormal(0, 0.15, len(ids))
            stock = cover * mu.mean(axis=1) + overhang[:, hi - 1]
            products = c.frame[["product_id", "name", "category", "unit_cost"]].assign(
                price=list_price[:, hi - 1], stock_on_hand=np.round(stock).astype(np.int64)
            )
            yield MonthDrop(market.code, str(month), sales, products)
