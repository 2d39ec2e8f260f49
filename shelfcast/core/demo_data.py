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
from dataclasses import dataclass
from datetime import date
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


@dataclass(frozen=True)
class GeneratorSpec:
    """What to generate: markets, the month range (inclusive) and the seed."""

    markets: tuple[MarketSpec, ...] = DEFAULT_MARKETS
    first_month: str = "2022-01"
    last_month: str = "2024-12"
    seed: int = 7

    def __post_init__(self) -> None:
        for month in (self.first_month, self.last_month):
            if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
                raise ValueError(f"month {month!r} is not YYYY-MM")
        if self.first_month > self.last_month:
            raise ValueError(f"first_month {self.first_month} is after last_month {self.last_month}")
        codes = [m.code for m in self.markets]
        if not codes or len(set(codes)) != len(codes):
            raise ValueError(f"markets must be a non-empty list of distinct codes, got {codes}")
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
    price: tuple[float, float]  # base list price range in USD
    elasticity: float  # category mean of the true price elasticity
    weekend: float  # Saturday/Sunday demand relative to a weekday
    season: tuple[float, float, float]  # yearly amplitude, peak day of year, Christmas uplift
    words: tuple[str, str, str]  # descriptors, nouns, sizes (comma separated) for names


CATEGORIES: dict[str, _Category] = {
    "Snacks": _Category((1.5, 6), -2.0, 1.35, (0.10, 200, 0.3), ("Sea Salt,Paprika,Cheddar,Honey Roast,Chili,Oat", "Crisps,Pretzels,Popcorn,Crackers,Nut Mix,Crunch", "100g,150g,200g,500g")),
    "Beverages": _Category((1, 8), -2.2, 1.30, (0.35, 196, 0.1), ("Sparkling,Cold Brew,Lemon,Ginger,Berry,Classic", "Cola,Iced Tea,Water,Lemonade,Juice,Coffee", "330ml,500ml,1L,1.5L")),
    "Dairy": _Category((1, 7), -1.2, 1.10, (0.05, 180, 0.1), ("Organic,Greek,Farmhouse,Light,Whole,Creamy", "Yoghurt,Milk,Butter,Cheddar,Skyr,Cream", "150g,250g,500g,1L")),
    "Bakery": _Category((1.5, 6), -1.5, 1.25, (0.08, 355, 0.6), ("Sourdough,Rye,Brioche,Seeded,Cinnamon,Butter", "Loaf,Rolls,Bagels,Croissants,Buns,Cookies", "4-pack,6-pack,400g,800g")),
    "Household": _Category((2, 15), -1.4, 1.15, (0.05, 100, 0.0), ("Lemon Fresh,Eco,Ultra,Sensitive,Power,Pine", "Detergent,Dish Soap,Cleaner,Sponges,Bin Bags,Paper Towels", "500ml,1L,2L,10-pack")),
    "Personal Care": _Category((2, 18), -1.6, 1.05, (0.10, 170, 0.2), ("Aloe,Mint,Coconut,Fresh,Gentle,Charcoal", "Shampoo,Toothpaste,Body Wash,Deodorant,Hand Cream,Soap", "50ml,100ml,250ml,400ml")),
    "Frozen": _Category((2.5, 12), -1.8, 1.20, (0.25, 200, 0.1), ("Vanilla,Stone Baked,Garden,Chocolate,Crispy,Mixed", "Ice Cream,Pizza,Peas,Fish Fingers,Berries,Fries", "400g,500g,750g,1kg")),
    "Pantry": _Category((1, 9), -1.0, 1.10, (0.08, 355, 0.4), ("Basmati,Whole Wheat,Extra Virgin,Roasted,Spiced,Wild", "Rice,Pasta,Olive Oil,Tomato Sauce,Flour,Honey", "250g,500g,1kg,750ml")),
}
_CAT_NAMES = tuple(CATEGORIES)


@dataclass(frozen=True)
class _Catalogue:
    """One market's products and their true demand and price parameters, in days from `origin`."""

    origin: pd.Timestamp
    frame: pd.DataFrame  # product_id, name, category, unit_cost, ref_price and the ground truth
    cat: np.ndarray  # category index per product
    growth: np.ndarray  # yearly growth factor of the non-declining products
    decline_start: np.ndarray  # years from origin (inf for products that do not decline)
    dispersion: np.ndarray  # negative-binomial size: smaller is lumpier
    cover_days: np.ndarray  # normal stock cover
    change_day: np.ndarray  # products × changes: days on which the list price steps
    level: np.ndarray  # products × (changes + 1): list price after each step
    promo_span: np.ndarray  # products × spells × 2: first day and end day (exclusive)
    promo_off: np.ndarray  # products × spells: discount share


def _rng(spec: GeneratorSpec, market: str, *stream: int) -> np.random.Generator:
    return np.random.default_rng([spec.seed, zlib.crc32(market.encode()), *stream])


def _market(spec: GeneratorSpec, code: str) -> MarketSpec:
    for market in spec.markets:
        if market.code == code:
            return market
    raise KeyError(f"market {code!r} not in spec ({[m.code for m in spec.markets]})")


def _catalogue(spec: GeneratorSpec, code: str) -> _Catalogue:
    """Draw the products of one market: everything about them except the daily noise."""
    m, rng = _market(spec, code), _rng(spec, code, 0)
    n, origin = m.n_products, pd.Timestamp(f"{spec.first_month}-01")
    span_years = ((pd.Period(spec.last_month, "M").end_time - origin).days + 1) / 365.25
    cat = rng.integers(0, len(CATEGORIES), n)
    table = [CATEGORIES[c] for c in _CAT_NAMES]
    lo, hi = (np.array([t.price[i] for t in table])[cat] for i in (0, 1))
    ref_price = np.round(np.exp(rng.uniform(np.log(lo), np.log(hi))) * m.price_scale, 2)
    unit_cost = np.round(ref_price * rng.uniform(0.45, 0.75, n), 2)
    cat_elasticity = np.array([t.elasticity for t in table])[cat]
    elasticity = np.clip(cat_elasticity + rng.normal(0, 0.3, n), -3.2, -0.4)
    # Disjoint roles by exact shares, so even a small catalogue has each kind of product.
    order = rng.permutation(n)
    n_dec, n_grow = round(DECLINING_SHARE * n), round(GROWING_SHARE * n)
    declining = np.isin(np.arange(n), order[:n_dec])
    growing = np.isin(np.arange(n), order[n_dec : n_dec + n_grow])
    intermittent = np.isin(np.arange(n), rng.permutation(n)[: round(INTERMITTENT_SHARE * n)])
    annual_decline = np.where(declining, rng.uniform(0.3, 0.6, n), 0.0)
    decline_start = np.where(declining, rng.uniform(0.25, 0.6, n) * span_years, np.inf)
    growth = np.where(growing, rng.uniform(0.1, 0.4, n), rng.normal(0, 0.03, n)) * ~declining
    fast = np.maximum(rng.lognormal(np.log(4.0), 0.9, n) * m.demand_scale, 0.7)
    base = np.where(intermittent, rng.uniform(0.05, 0.45, n), fast)
    dispersion = np.where(intermittent, rng.uniform(0.5, 2.0, n), rng.uniform(3.0, 15.0, n))
    # List price: a few steps of ±5-15 % (mostly up), never below 1.15 × unit cost.
    change_day = np.cumsum(rng.uniform(150, 500, (n, 6)), axis=1).astype(np.int64) - 90
    step = rng.uniform(0.05, 0.15, (n, 6)) * np.where(rng.random((n, 6)) < 0.65, 1, -1)
    level = ref_price[:, None] * np.cumprod(np.c_[np.ones(n), 1 + step], axis=1)
    level = np.round(np.maximum(level, 1.15 * unit_cost[:, None]), 2)
    # Promotions: non-overlapping spells of 3-10 days at 10-30 % off, about 3-4 a year.
    n_spells = int(np.ceil(span_years * 6)) + 2
    length = rng.integers(3, 11, (n, n_spells))
    gap = rng.integers(20, 170, (n, n_spells))
    first = np.cumsum(gap, axis=1) + np.c_[np.zeros(n, np.int64), np.cumsum(length, axis=1)[:, :-1]]
    promo_span = np.stack([first, first + length], axis=2)
    promo_off = rng.uniform(0.10, 0.30, (n, n_spells))
    words = [[w.split(",") for w in t.words] for t in table]
    names = [
        " ".join(str(rng.choice(part)) for part in words[c]) for c in cat
    ]
    frame = pd.DataFrame(
        {
            "product_id": [f"{code}-{i:06d}" for i in range(1, n + 1)],
            "name": names,
            "category": np.array(_CAT_NAMES, dtype=object)[cat],
            "unit_cost": unit_cost,
            "ref_price": ref_price,
            "elasticity": elasticity,
            "is_declining": declining,
            "annual_decline": annual_decline,
            "decline_start": origin + pd.to_timedelta(np.where(declining, decline_start, np.nan) * 365.25, unit="D").round("D"),
            "is_intermittent": intermittent,
            "base_daily_units": base,
        }
    )
    cover_days = rng.uniform(30, 90, n)
    return _Catalogue(origin, frame, cat, growth, decline_start, dispersion, cover_days,
                      change_day, level, promo_span, promo_off)


def _list_price(c: _Catalogue, days: np.ndarray) -> np.ndarray:
    """products × days: list price in force on each day (days counted from the origin)."""
    steps = (c.change_day[:, :, None] <= days[None, None, :]).sum(axis=1)
    return np.take_along_axis(c.level, steps, axis=1)


def _promo_off(c: _Catalogue, days: np.ndarray) -> np.ndarray:
    """products × days: promotion discount share on each day, 0 when there is no promotion."""
    d = days[None, None, :]
    inside = (c.promo_span[:, :, :1] <= d) & (d < c.promo_span[:, :, 1:])
    return (inside * c.promo_off[:, :, None]).max(axis=1)


def _mean_demand(c: _Catalogue, days: np.ndarray, price: np.ndarray) -> np.ndarray:
    """products × days: true mean daily units at `price`, before any promotion uplift."""
    f, years = c.frame, days / 365.25
    trend = np.where(
        np.isfinite(c.decline_start)[:, None],
        (1 - f["annual_decline"].to_numpy()[:, None])
        ** np.clip(years[None, :] - c.decline_start[:, None], 0, None),
        (1 + c.growth[:, None]) ** years[None, :],
    )
    dates = c.origin + pd.to_timedelta(days, unit="D")
    weekend_uplift = np.array([CATEGORIES[k].weekend for k in _CAT_NAMES])[c.cat][:, None]
    weekly = np.where(dates.dayofweek.to_numpy() >= 5, weekend_uplift, 1.0)
    weekly = weekly / ((5 + 2 * weekend_uplift) / 7)
    amp, peak, xmas = (np.array([CATEGORIES[k].season[i] for k in _CAT_NAMES])[c.cat][:, None]
                       for i in range(3))
    doy = dates.dayofyear.to_numpy()[None, :]
    yearly = (1 + amp * np.cos(2 * np.pi * (doy - peak) / 365.25)) * (
        1 + xmas * np.exp(-0.5 * ((doy - 356) / 6) ** 2)
    )
    elasticity = f["elasticity"].to_numpy()[:, None]
    relative_price = price / f["ref_price"].to_numpy()[:, None]
    base = f["base_daily_units"].to_numpy()[:, None]
    return base * trend * weekly * yearly * relative_price**elasticity


def ground_truth(spec: GeneratorSpec, market: str) -> pd.DataFrame:
    """Per product, the truth the pipeline should discover: elasticity, decline, intermittency."""
    columns = ["product_id", "category", "elasticity", "is_declining", "annual_decline",
               "decline_start", "is_intermittent", "base_daily_units"]
    return _catalogue(spec, market).frame[columns].copy()


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
    anything else is taken positionally.
    """
    c = _catalogue(spec, market)
    ids = pd.Index([str(p) for p in product_ids])
    row = pd.Index(c.frame["product_id"]).get_indexer(ids)
    if (row < 0).any():
        raise KeyError(f"unknown product ids for {market}: {list(ids[row < 0][:5])}")
    if isinstance(price_multiplier, pd.Series) and ids.isin(price_multiplier.index).all():
        price_multiplier = price_multiplier.reindex(ids)
    multiplier = np.broadcast_to(np.asarray(price_multiplier, dtype=float), (len(ids),))
    sub = dataclasses.replace(
        c, **{k: getattr(c, k)[row] for k in ("cat", "growth", "decline_start", "dispersion",
                                              "cover_days", "change_day", "level", "promo_span",
                                              "promo_off")},
        frame=c.frame.iloc[row].reset_index(drop=True),
    )
    first = (pd.Timestamp(start) - c.origin).days
    offsets = first + np.arange(days)
    price = _list_price(sub, np.array([first - 1]))[:, :1] * multiplier[:, None]
    mean = _mean_demand(sub, offsets, np.broadcast_to(price, (len(ids), days)))
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
        f, n = c.frame, len(c.frame)
        days = np.arange((months[-1].end_time.normalize() - c.origin).days + 1)
        list_price = _list_price(c, days)
        off = _promo_off(c, days)
        promo = off > 0
        price = np.where(promo, np.round(list_price * (1 - off), 2), list_price)
        mean = _mean_demand(c, days, price) * np.where(promo, PROMO_UPLIFT, 1.0)
        # Stock: normal cover of the month's demand, plus what the buyer kept ordering for
        # declining products although demand had gone (the trend-free demand minus the real one).
        trend_free = _mean_demand(dataclasses.replace(c, decline_start=np.full(n, np.inf)), days, price)
        overhang = _OVERSTOCK * np.cumsum(trend_free - _mean_demand(c, days, price), axis=1)
        ids = f["product_id"].to_numpy(dtype=object)
        for month in months:
            lo = (month.start_time - c.origin).days
            hi = lo + month.days_in_month
            rng = _rng(spec, market.code, 1, month.year * 12 + month.month)
            mu = mean[:, lo:hi]
            k = c.dispersion[:, None]
            units = rng.negative_binomial(np.broadcast_to(k, mu.shape), k / (k + mu))
            dates = (c.origin + pd.to_timedelta(days[lo:hi], unit="D")).to_numpy()
            sales = pd.DataFrame(
                {
                    "date": np.tile(dates, n),
                    "product_id": np.repeat(ids, hi - lo),
                    "units": units.ravel().astype(np.int64),
                    "price": price[:, lo:hi].ravel().astype(np.float64),
                    "promo": promo[:, lo:hi].ravel(),
                }
            )
            stock = c.cover_days * mu.mean(axis=1) * rng.lognormal(0, 0.15, n) + overhang[:, hi - 1]
            products = pd.DataFrame(
                {
                    "product_id": ids,
                    "name": f["name"].to_numpy(dtype=object),
                    "category": f["category"].to_numpy(dtype=object),
                    "unit_cost": f["unit_cost"].to_numpy(dtype=np.float64),
                    "price": list_price[:, hi - 1].astype(np.float64),
                    "stock_on_hand": np.round(stock).astype(np.int64),
                }
            )
            yield MonthDrop(market.code, str(month), sales, products)
