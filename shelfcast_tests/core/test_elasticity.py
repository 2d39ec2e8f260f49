"""Elasticity: recovers a known pooled elasticity, falls back to the prior, respects the bounds."""

import numpy as np
import pandas as pd
import pytest

from shelfcast.core.demo_data import GeneratorSpec, generate, ground_truth
from shelfcast.core.elasticity import ElasticityParams, estimate_elasticity

BOUNDS = {"min": -4.0, "max": -0.2}


def params(prior: float = -1.5, prior_strength: float = 30, **bounds) -> ElasticityParams:
    return ElasticityParams(prior=prior, prior_strength=prior_strength, **{**BOUNDS, **bounds})


def synthetic(truth: dict[str, float], n_products=15, days=420, seed=0, vary_price=True):
    """Daily sales from log-linear demand with Poisson noise: product level, category
    seasonality, list-price steps, promotions (deeper price, extra uplift), known elasticity."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2023-01-01", periods=days)
    t = np.arange(days)
    sales, products = [], []
    for category, elasticity in truth.items():
        season = 1 + 0.3 * np.sin(2 * np.pi * (t / 365 + rng.random()))
        for i in range(n_products):
            ref = rng.uniform(2, 10)
            price = np.full(days, ref)
            promo = np.zeros(days, bool)
            if vary_price:
                steps = np.sort(rng.integers(30, days - 30, 3))
                levels = ref * np.cumprod(np.r_[1.0, 1 + rng.uniform(-0.15, 0.15, 3)])
                price = levels[np.searchsorted(steps, t, side="right")]
                for start in rng.integers(0, days - 7, 4):
                    promo[start : start + 7] = True
                price = np.where(promo, price * rng.uniform(0.7, 0.9), price)
            price = np.round(price, 2)
            mean = (
                rng.uniform(1, 8) * season * (price / ref) ** elasticity * np.where(promo, 1.2, 1)
            )
            units = rng.poisson(mean)
            pid = f"{category}-{i:03d}"
            sales.append(
                pd.DataFrame(
                    {
                        "market": "US",
                        "date": dates,
                        "product_id": pid,
                        "units": units,
                        "price": price,
                        "promo": promo,
                    }
                )
            )
            products.append((pid, category, float(price[-1]), float(price[-1]) * 0.5))
    frame = pd.concat(sales, ignore_index=True)
    frame["month"] = frame["date"].dt.strftime("%Y-%m")
    frame["revenue"] = frame["units"] * frame["price"]
    return frame, pd.DataFrame(products, columns=["product_id", "category", "price", "unit_cost"])


def by_category(result: pd.DataFrame) -> pd.Series:
    assert (result.groupby("category")["elasticity"].nunique() == 1).all()
    return result.groupby("category")["elasticity"].first()


@pytest.mark.parametrize("seed", [0, 1])
def test_recovers_known_pooled_elasticity_per_category(seed):
    truth = {"Dairy": -0.8, "Snacks": -1.6, "Beverages": -2.6}
    sales, products = synthetic(truth, seed=seed)
    result = estimate_elasticity(sales, products, params(-1.5, 30))
    estimate = by_category(result)
    for category, value in truth.items():
        assert estimate[category] == pytest.approx(value, abs=0.3), category
    assert list(result.columns) == [
        "product_id",
        "category",
        "elasticity",
        "elasticity_se",
        "n_obs",
        "price_variation",
        "source",
    ]
    assert (result["source"] == "history").all() and (result["price_variation"] > 0.02).all()
    assert result["product_id"].tolist() == products["product_id"].tolist()
    assert (result["elasticity"] <= 0).all() and (result["elasticity_se"] > 0).all()
    assert (result["n_obs"] > 0).all()


def test_a_category_without_price_variation_returns_the_prior():
    moving, _ = synthetic({"Moving": -1.2}, seed=3)
    flat, _ = synthetic({"Flat": -2.5}, seed=4, vary_price=False)
    sales = pd.concat([moving, flat], ignore_index=True)
    products = sales.groupby("product_id", as_index=False).agg(price=("price", "last"))
    products["category"] = products["product_id"].str.split("-").str[0]
    result = estimate_elasticity(sales, products, params(-1.7, 30))
    estimate = by_category(result)
    assert estimate["Flat"] == pytest.approx(-1.7)
    assert estimate["Moving"] == pytest.approx(-1.2, abs=0.3)
    flat = result["category"] == "Flat"
    assert (result.loc[flat, "source"] == "prior").all() and (
        result.loc[flat, "price_variation"] == 0
    ).all()
    assert (result.loc[~flat, "source"] == "history").all()


def test_products_without_history_get_the_category_value_or_the_prior():
    sales, products = synthetic({"Snacks": -1.6}, n_products=10)
    extra = pd.DataFrame(
        {
            "product_id": ["Snacks-new", "Toys-001"],
            "category": ["Snacks", "Toys"],
            "price": [3.0, 9.0],
            "unit_cost": [1.0, 4.0],
        }
    )
    result = estimate_elasticity(sales, pd.concat([products, extra]), params(-1.5, 30))
    row = result.set_index("product_id")
    assert row.at["Snacks-new", "elasticity"] == row.at["Snacks-000", "elasticity"]
    assert row.at["Toys-001", "elasticity"] == pytest.approx(-1.5)
    assert row.at["Toys-001", "n_obs"] == 0


def test_no_sales_at_all_gives_the_prior_everywhere():
    _, products = synthetic({"Snacks": -1.6}, n_products=3, days=120)
    empty = pd.DataFrame()  # what a window with no sales partitions concatenates to
    result = estimate_elasticity(empty, products, params(-1.5, 30))
    assert (result["elasticity"] == -1.5).all()


def test_estimates_are_clipped_to_the_bounds():
    sales, products = synthetic({"Luxury": -6.0, "Staple": -0.02}, seed=5)
    estimate = by_category(estimate_elasticity(sales, products, params(-1.5, 30)))
    assert estimate["Luxury"] == -4.0 and estimate["Staple"] == -0.2
    # a prior outside the bounds is clipped too
    flat, flat_products = synthetic({"Flat": -1.0}, vary_price=False, n_products=3, days=120)
    assert by_category(estimate_elasticity(flat, flat_products, params(-9.0, 30)))["Flat"] == -4.0


def test_prior_strength_moves_the_estimate_toward_the_prior():
    sales, products = synthetic({"Snacks": -2.5}, n_products=8, seed=2)
    free, weak, strong = (
        by_category(estimate_elasticity(sales, products, params(-0.5, k)))["Snacks"]
        for k in (0.0, 30.0, 1e9)
    )
    assert free <= weak < -0.5
    assert strong == pytest.approx(-0.5, abs=0.01)


def test_bad_bounds_are_rejected():
    _, products = synthetic({"A": -1.0}, n_products=2, days=120)
    with pytest.raises(ValueError, match="lower <= upper <= 0"):
        params(min=-0.2, max=-4.0)


# --- on the demo generator's data, where every product's true elasticity is known -------------

TOLERANCE = 0.35  # each US category within ±0.35 of the mean true elasticity of its products


def two_years(market: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    spec = GeneratorSpec().with_size(markets=[market], first_month="2022-04", last_month="2024-03")
    drops = list(generate(spec))
    sales = pd.concat([d.sales for d in drops], ignore_index=True)
    return (
        sales,
        drops[-1].products,
        ground_truth(spec, market).set_index("product_id")["elasticity"],
    )


def scored(market: str) -> pd.DataFrame:
    """Per category: the estimate, its standard error and the mean true elasticity."""
    sales, products, truth = two_years(market)
    result = estimate_elasticity(sales, products, params(-1.5, 30))
    return (
        result.assign(truth=result["product_id"].map(truth))
        .groupby("category")
        .agg(
            estimate=("elasticity", "first"),
            se=("elasticity_se", "first"),
            truth=("truth", "mean"),
            source=("source", "first"),
        )
    )


def test_on_two_years_of_us_demo_data_each_category_lands_within_the_tolerance():
    score = scored("US")  # 240 products in 8 categories, 104 weeks
    assert len(score) == 8 and (score["source"] == "history").all()
    error = (score["estimate"] - score["truth"]).abs()
    assert (error <= TOLERANCE).all(), score.assign(error=error)
    assert error.mean() < 0.2


def test_the_reported_standard_error_is_honest_across_the_demo_markets():
    score = pd.concat([scored(m) for m in ("US", "GB", "DE", "SE")])  # 32 categories
    z = (score["estimate"] - score["truth"]) / score["se"]
    assert (z.abs() <= 2).mean() >= 0.85  # ~95 % expected
    assert (z.abs() <= 3).all()
    assert score["se"].between(0.05, 1.0).all()
