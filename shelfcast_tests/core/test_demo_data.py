"""The demo data generator: deterministic, well-formed, and with something true to find."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from shelfcast.core.demo_data import (
    DEFAULT_MARKETS,
    GeneratorSpec,
    expected_units,
    generate,
    ground_truth,
    last_closed_month,
    recent_months,
)

SMALL = GeneratorSpec(seed=3).with_size(
    products=30, markets=["US", "SE"], first_month="2023-01", last_month="2024-02"
)
SALES_DTYPES = {
    "date": "datetime64[ns]",
    "product_id": "object",
    "units": "int64",
    "price": "float64",
    "promo": "bool",
}
PRODUCTS_COLUMNS = ["product_id", "name", "category", "unit_cost", "price", "stock_on_hand"]
# Three years of one market, for the statistical properties that need a long history.
LONG = GeneratorSpec(seed=3).with_size(
    products=40, markets=["US"], first_month="2022-01", last_month="2024-12"
)


@pytest.fixture(scope="module")
def drops():
    return list(generate(SMALL))


@pytest.fixture(scope="module")
def long_drops():
    return list(generate(LONG))


def _history(drops, market: str, spec: GeneratorSpec = SMALL) -> pd.DataFrame:
    """All sales of one market, with the true product parameters joined on."""
    sales = pd.concat([d.sales for d in drops if d.market == market], ignore_index=True)
    return sales.merge(ground_truth(spec, market), on="product_id")


def _two_decimals(values: pd.Series) -> bool:
    return bool(np.allclose(values, values.round(2), rtol=0, atol=1e-9))


def test_one_drop_per_market_and_month_in_order(drops):
    keys = [(d.market, d.month) for d in drops]
    months = [str(p) for p in pd.period_range("2023-01", "2024-02", freq="M")]
    assert keys == [(m, month) for m in ("US", "SE") for month in months]


def test_same_spec_gives_identical_frames_and_another_seed_does_not(drops):
    again = list(generate(SMALL))
    for first, second in zip(drops, again, strict=True):
        pd.testing.assert_frame_equal(first.sales, second.sales)
        pd.testing.assert_frame_equal(first.products, second.products)
    other = next(generate(GeneratorSpec(seed=4, markets=SMALL.markets, last_month="2023-01")))
    assert not other.sales["units"].equals(drops[0].sales["units"])


def test_sales_drop_has_one_row_per_product_and_day_of_the_month(drops):
    for drop in drops:
        sales, period = drop.sales, pd.Period(drop.month, freq="M")
        assert sales.dtypes.astype(str).to_dict() == SALES_DTYPES
        assert not sales.duplicated(["product_id", "date"]).any()
        assert (sales["date"].dt.to_period("M") == period).all()
        per_product = sales.groupby("product_id")["date"].nunique()
        assert (per_product == period.days_in_month).all()
        assert set(per_product.index) == set(drop.products["product_id"])
        assert (sales["units"] >= 0).all() and (sales["price"] > 0).all()
        assert _two_decimals(sales["price"])
        assert sales["product_id"].str.fullmatch(rf"{drop.market}-\d{{6}}").all()


def test_products_snapshot_is_well_formed_with_positive_list_margins(drops):
    for drop in drops:
        products = drop.products
        assert list(products.columns) == PRODUCTS_COLUMNS
        assert products["product_id"].is_unique
        assert str(products["stock_on_hand"].dtype) == "int64"
        assert (products["stock_on_hand"] >= 0).all()
        assert (products["unit_cost"] > 0).all() and _two_decimals(products["price"])
        assert (products["price"] > products["unit_cost"]).all()
        assert products["name"].str.len().gt(5).all()
    categories = pd.concat([d.products["category"] for d in drops]).unique()
    assert len(categories) >= 6


def test_month_end_snapshot_price_is_the_list_price_and_promos_are_discounts(drops):
    drop = drops[5]
    last_day = drop.sales[drop.sales["date"] == drop.sales["date"].max()]
    merged = last_day.merge(drop.products, on="product_id", suffixes=("", "_list"))
    full = merged[~merged["promo"]]
    assert (full["price"] == full["price_list"]).all()
    assert (merged.loc[merged["promo"], "price"] < merged.loc[merged["promo"], "price_list"]).all()
    history = _history(drops, "US")
    assert 0.02 < history["promo"].mean() < 0.15
    list_levels = history[~history["promo"]].groupby("product_id")["price"].nunique()
    assert list_levels.max() >= 2  # list prices do change over the history


def test_markets_differ_in_currency_prices_and_size(drops):
    assert {m.code: m.currency for m in DEFAULT_MARKETS} == {
        "US": "USD",
        "GB": "GBP",
        "DE": "EUR",
        "SE": "SEK",
    }
    assert len({m.n_products for m in DEFAULT_MARKETS}) > 1
    us, se = _history(drops, "US"), _history(drops, "SE")
    assert 5 < se["price"].median() / us["price"].median() < 20
    assert us["units"].sum() > 2 * se["units"].sum()


def test_declining_products_sell_markedly_less_late_than_early(long_drops):
    history = _history(long_drops, "US", LONG)
    month = history["date"].dt.to_period("M")
    early = history[month <= pd.Period("2022-06", "M")].groupby("product_id")["units"].sum()
    late = history[month >= pd.Period("2024-07", "M")].groupby("product_id")["units"].sum()
    declining = ground_truth(LONG, "US").set_index("product_id")["is_declining"]
    ratio = late / early
    assert declining.sum() == 6
    typical = ratio[~declining].median()
    assert ratio[declining].median() < 0.7 * typical
    # Price cuts or noise can hide a decline, but not for most declining products.
    assert (ratio[declining] < 0.8 * typical).mean() >= 2 / 3


def test_price_response_recovers_the_true_elasticity(long_drops):
    """Per product: log units on log price, with the promotion flag (its display uplift),
    weekend and a linear trend; pooled across products by the median."""
    estimates, truths = [], []
    history = _history(long_drops, "US", LONG)
    steady = history[~history["is_declining"] & (history["base_daily_units"] > 2)]
    for _, product in steady.groupby("product_id"):
        sold = product[product["units"] > 0]
        days = (sold["date"] - sold["date"].min()).dt.days / 365
        weekend = sold["date"].dt.dayofweek >= 5
        x = np.c_[np.ones(len(sold)), np.log(sold["price"]), sold["promo"], weekend, days]
        estimates.append(np.linalg.lstsq(x, np.log(sold["units"]), rcond=None)[0][1])
        truths.append(product["elasticity"].iloc[0])
    estimates, truths = np.array(estimates), np.array(truths)
    assert len(estimates) >= 15
    assert np.median(estimates) < -0.8
    assert abs(np.median(estimates) - np.median(truths)) < 0.7
    assert (estimates < 0).mean() >= 0.75


def test_intermittent_products_have_many_zero_days(drops):
    history = _history(drops, "US")
    zero_share = (history["units"] == 0).groupby(history["product_id"]).mean()
    truth = ground_truth(SMALL, "US").set_index("product_id")
    intermittent = truth["is_intermittent"]
    assert intermittent.sum() >= 3
    assert (truth.loc[intermittent, "base_daily_units"] < 0.5).all()
    assert zero_share[intermittent].median() > 0.5
    assert zero_share[~intermittent].median() < 0.3


def test_declining_products_end_overstocked(long_drops):
    last = long_drops[-1]
    daily = last.sales.groupby("product_id")["units"].mean().clip(lower=0.05)
    cover = last.products.set_index("product_id")["stock_on_hand"] / daily
    declining = ground_truth(LONG, "US").set_index("product_id")["is_declining"]
    normal = cover[~declining].median()
    assert 20 < normal < 120
    assert cover[declining].median() > 1.5 * normal


def test_ground_truth_is_plausible():
    truth = ground_truth(GeneratorSpec(), "US")
    assert len(truth) == 240 and truth["product_id"].is_unique
    assert (truth["elasticity"] < 0).all()
    assert truth["elasticity"].between(-3.5, -0.3).all()
    assert truth["is_declining"].mean() == pytest.approx(0.15, abs=0.01)
    assert truth.loc[truth["is_declining"], "annual_decline"].between(0.3, 0.6).all()
    assert truth["decline_start"].notna().eq(truth["is_declining"]).all()
    assert truth["is_intermittent"].mean() == pytest.approx(0.15, abs=0.01)
    with pytest.raises(KeyError):
        ground_truth(SMALL, "GB")


def test_with_size_resizes_selects_and_keeps_the_rest():
    spec = GeneratorSpec().with_size(products=12, markets=["se", "US"], last_month="2022-03")
    assert [m.code for m in spec.markets] == ["SE", "US"]
    assert all(m.n_products == 12 for m in spec.markets)
    assert spec.markets[0].currency == "SEK"
    assert (spec.first_month, spec.last_month, spec.seed) == ("2022-01", "2022-03", 7)
    assert GeneratorSpec().with_size() == GeneratorSpec()
    assert len(list(generate(spec))) == 6
    with pytest.raises(ValueError, match="XX"):
        GeneratorSpec().with_size(markets=["XX"])
    with pytest.raises(ValueError):
        GeneratorSpec(first_month="2024-05", last_month="2024-01")


def test_expected_units_respond_to_price_with_the_true_elasticity():
    truth = ground_truth(SMALL, "US").set_index("product_id")
    ids = list(truth.index[:5])
    start = date(2024, 3, 1)  # after the generated range: the model extrapolates
    base = expected_units(SMALL, "US", ids, start, 31, np.ones(5))
    assert list(base.columns) == ["product_id", "date", "expected_units"]
    assert len(base) == 5 * 31 and (base["expected_units"] > 0).all()
    assert base["date"].min() == pd.Timestamp(start)
    cheaper = expected_units(SMALL, "US", ids, start, 31, pd.Series(0.9, index=ids[::-1]))
    ratio = (cheaper["expected_units"] / base["expected_units"]).groupby(base["product_id"]).mean()
    np.testing.assert_allclose(ratio[ids], 0.9 ** truth.loc[ids, "elasticity"], rtol=1e-9)
    with pytest.raises(KeyError):
        expected_units(SMALL, "US", ["US-999999"], start, 3, 1.0)


def test_expected_units_match_what_the_generator_sold(drops):
    last = [d for d in drops if d.market == "US"][-1]
    ids = last.products["product_id"]
    expected = expected_units(SMALL, "US", ids, date(2024, 2, 1), 29, 1.0)
    merged = last.sales.merge(expected, on=["product_id", "date"])
    # Compare on days without a promotion and at the list price the forecast assumes.
    previous = [d for d in drops if d.market == "US"][-2].products.set_index("product_id")["price"]
    same = ~merged["promo"] & (merged["price"] == merged["product_id"].map(previous))
    assert same.mean() > 0.7
    actual, mean = merged.loc[same, "units"].sum(), merged.loc[same, "expected_units"].sum()
    assert actual == pytest.approx(mean, rel=0.1)


def test_default_spec_covers_every_product_day_of_four_markets_and_36_months():
    drops = list(generate(GeneratorSpec(last_month="2024-12")))
    assert len(drops) == 4 * 36
    assert sum(len(d.sales) for d in drops) == 700 * 1096


def test_the_default_period_ends_at_the_last_closed_month():
    assert last_closed_month(date(2026, 12, 2)) == "2026-11"
    assert last_closed_month(date(2027, 1, 1)) == "2026-12"
    assert recent_months(2, date(2027, 1, 31)) == ["2026-11", "2026-12"]
    spec = GeneratorSpec()
    assert (spec.first_month, spec.last_month) == ("2022-01", last_closed_month())
