"""KPIs and underperformer rules on hand-built frames: each rule shown firing and not firing."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shelfcast.core.performance import RULES, PerformanceParams, assess_performance
from shelfcast.schemas import ProductPerformanceSchema

MONTH = "2024-03"  # 31 days


VALUES = {
    "demand_decline": 0.25,
    "min_decline_z": 2.5,
    "price_elasticity": -1.5,
    "piling_cover_days": 100,
    "piling_decline": 0.15,
    "max_stock_cover_days": 150,
    "yoy_decline": 0.25,
    "trend_decline": 0.2,
    "category_share_floor": 0.35,
    "laggard_decline": 0.1,
    "min_margin_rate": 0.12,
    "min_units_for_ratios": 20,
}


def params(*rules: str, **changes) -> PerformanceParams:
    return PerformanceParams(**{"rules": rules or RULES, **VALUES, **changes})


def sales(units_by_product: dict[str, dict[str, int]], price: float = 2.0) -> pd.DataFrame:
    """One sales row per product and month (on the 1st) with the month's units."""
    rows = [
        {
            "market": "US",
            "month": month,
            "date": pd.Timestamp(f"{month}-01"),
            "product_id": product,
            "units": units,
            "price": price,
            "promo": False,
            "revenue": units * price,
        }
        for product, months in units_by_product.items()
        for month, units in months.items()
    ]
    return pd.DataFrame(rows)


def products(ids, category="snacks", unit_cost=1.0, stock_on_hand=0) -> pd.DataFrame:
    n = len(ids)
    return pd.DataFrame(
        {
            "market": "US",
            "month": MONTH,
            "product_id": list(ids),
            "name": [f"product {i}" for i in ids],
            "category": category if isinstance(category, list) else [category] * n,
            "currency": "USD",
            "unit_cost": unit_cost if isinstance(unit_cost, list) else [unit_cost] * n,
            "price": 2.0,
            "stock_on_hand": stock_on_hand
            if isinstance(stock_on_hand, list)
            else [stock_on_hand] * n,
        }
    )


def reasons(frame: pd.DataFrame) -> dict[str, str]:
    return dict(zip(frame["product_id"], frame["reasons"], strict=True))


def months(start: str, end: str) -> list[str]:
    return [str(p) for p in pd.period_range(start, end, freq="M")]


WINDOW = months("2023-03", MONTH)  # the 13 months demand_trend reads


def daily(
    units: dict[str, list[int]],
    prices: dict[str, list[float]] | None = None,
    promotion: dict[str, tuple[str, int, int]] | None = None,
) -> pd.DataFrame:
    """Daily rows over WINDOW: each product's units per month (oldest first), spread evenly over
    the days; ``prices`` per month (default 2.0); ``promotion``: (month, days, extra units a
    day) on that month's first days, at 30 % off."""
    frames = []
    for product, per_month in units.items():
        for i, (month, total) in enumerate(zip(WINDOW, per_month, strict=True)):
            days = pd.date_range(month, periods=pd.Period(month).days_in_month)
            spread = np.diff(np.floor(np.linspace(0, total, len(days) + 1))).astype(int)
            price = np.full(len(days), (prices or {}).get(product, [2.0] * 13)[i])
            promo = np.zeros(len(days), dtype=bool)
            if promotion and product in promotion and promotion[product][0] == month:
                _, n, extra = promotion[product]
                promo[:n], spread[:n], price[:n] = True, spread[:n] + extra, price[:n] * 0.7
            frames.append(
                pd.DataFrame(
                    {"date": days, "product_id": product, "units": spread, "price": price}
                ).assign(promo=promo, revenue=lambda f: f["units"] * f["price"])
            )
    return pd.concat(frames, ignore_index=True)


def falling(start: float, yearly: float) -> list[int]:
    """13 monthly totals from ``start`` changing by ``yearly`` a year (−0.4: 40 % down)."""
    return [round(start * (1 + yearly) ** (i / 12)) for i in range(13)]


SEASON = [1 + 0.3 * np.cos(2 * np.pi * i / 12) for i in range(13)]  # same month a year apart


# --- KPIs -----------------------------------------------------------------------------------------


def test_kpis_of_the_month():
    history = sales({"A": {"2023-03": 50, "2024-03": 40}, "B": {"2023-03": 10}})
    frame = assess_performance(
        history, products(["A", "B"], unit_cost=1.5, stock_on_hand=62), MONTH, params()
    )
    a, b = frame.set_index("product_id").loc["A"], frame.set_index("product_id").loc["B"]
    assert (a["units"], a["revenue"], a["gross_margin"]) == (40, 80.0, 20.0)
    assert a["margin_rate"] == pytest.approx(0.25)
    assert (a["units_last_year"], a["yoy_change"]) == (50.0, pytest.approx(-0.2))
    assert a["stock_cover_days"] == pytest.approx(62 / (40 / 31))
    # B did not sell this month: 0 units, no margin rate, unbounded cover, yoy −100 %.
    assert (b["units"], b["revenue"]) == (0, 0.0)
    assert np.isnan(b["margin_rate"]) and np.isnan(b["stock_cover_days"])
    assert b["yoy_change"] == pytest.approx(-1.0)


def test_output_is_one_row_per_product_and_validates():
    history = sales({"A": {MONTH: 30}, "ghost": {MONTH: 99}})  # ghost is not in the catalogue
    frame = assess_performance(history, products(["A", "B", "C"]), MONTH, params())
    assert list(frame["product_id"]) == ["A", "B", "C"]
    assert list(frame.columns) == list(ProductPerformanceSchema.to_schema().columns)
    ProductPerformanceSchema.validate(frame)


def test_absent_months_make_ratios_unknown_not_zero():
    # Only this month is loaded: no last year, no trend history.
    frame = assess_performance(sales({"A": {MONTH: 30}}), products(["A"]), MONTH, params())
    assert frame[["units_last_year", "yoy_change", "trend_change"]].isna().all(axis=None)


def test_no_sales_at_all_still_assesses_every_product():
    frame = assess_performance(
        pd.DataFrame(), products(["A", "B"], stock_on_hand=[5, 0]), MONTH, params()
    )
    assert list(frame["units"]) == [0, 0]
    assert reasons(frame) == {"A": "overstock", "B": ""}
    ProductPerformanceSchema.validate(frame)


def test_category_share_is_units_over_category_median():
    history = sales({"A": {MONTH: 100}, "B": {MONTH: 100}, "C": {MONTH: 20}, "D": {MONTH: 50}})
    frame = assess_performance(history, products(["A", "B", "C", "D"]), MONTH, params())
    assert list(frame["category_share"]) == pytest.approx([100 / 75, 100 / 75, 20 / 75, 50 / 75])


def test_category_share_with_zero_median_uses_mean_and_a_dead_category_is_neutral():
    history = sales({"A": {MONTH: 30}, "B": {MONTH: 0}, "C": {MONTH: 0}, "X": {MONTH: 0}})
    catalogue = products(["A", "B", "C", "X"], category=["k", "k", "k", "dead"])
    frame = assess_performance(history, catalogue, MONTH, params()).set_index("product_id")
    assert frame.loc[["A", "B", "C"], "category_share"].tolist() == pytest.approx([3.0, 0.0, 0.0])
    assert frame.loc["X", "category_share"] == 1.0


def test_demand_trend_is_the_yearly_change_net_of_the_category_season():
    seasonal = lambda units: [round(u * f) for u, f in zip(units, SEASON, strict=True)]  # noqa: E731
    history = daily(
        {
            "A": seasonal([3000] * 13),
            "B": seasonal([2000] * 13),
            "C": seasonal([1000] * 13),
            "falling": seasonal(falling(3000, -0.4)),
        }
    )
    frame = assess_performance(history, products(["A", "B", "C", "falling"]), MONTH, params())
    trend = frame.set_index("product_id")["demand_trend"]
    assert trend[["A", "B", "C"]].tolist() == pytest.approx([0, 0, 0], abs=0.01)
    assert trend["falling"] == pytest.approx(-0.4, abs=0.01)
    # the season alone moves the raw 3-month comparison of a steady product
    assert abs(frame.set_index("product_id").loc["A", "trend_change"]) > 0.2


def test_demand_trend_sees_through_price_steps_and_promotions():
    # "dearer": 20 % dearer for the last 6 months, selling what elasticity -1.5 predicts;
    # "promoted": a promotion in last year's month doubled its sales on 10 days.
    dearer = [3000] * 7 + [round(3000 * 1.2**-1.5)] * 6
    history = daily(
        {"A": [3000] * 13, "B": [3000] * 13, "dearer": dearer, "promoted": [3000] * 13},
        prices={"dearer": [2.0] * 7 + [2.4] * 6},
        promotion={"promoted": (WINDOW[0], 10, 100)},
    )
    frame = assess_performance(
        history, products(["A", "B", "dearer", "promoted"]), MONTH, params()
    ).set_index("product_id")
    assert frame.loc[["dearer", "promoted"], "yoy_change"].lt(-0.2).all()  # raw units: a fall
    assert frame.loc[["dearer", "promoted"], "demand_trend"].abs().lt(0.02).all()
    assert not frame["is_underperforming"].any()


def test_demand_trend_needs_six_months_and_sales():
    history = daily({"A": [300] * 13, "unsold": [0] * 13})
    only_five = history.loc[history["date"] >= "2023-11-01"]
    frame = assess_performance(only_five, products(["A"]), MONTH, params())
    assert frame[["demand_trend", "demand_trend_z"]].isna().all(axis=None)
    frame = assess_performance(history, products(["A", "unsold"]), MONTH, params())
    assert np.isnan(frame.set_index("product_id").loc["unsold", "demand_trend"])


def test_stock_cover_is_at_the_last_three_months_selling_rate():
    history = sales({"A": {"2024-01": 62, "2024-02": 29, MONTH: 0}})
    frame = assess_performance(history, products(["A"], stock_on_hand=91), MONTH, params())
    assert frame["stock_cover_days"].item() == pytest.approx(91 / (91 / 91))


# --- the rules, one at a time ---------------------------------------------------------------------


def test_yoy_decline():
    history = sales(
        {
            "fell": {"2023-03": 100, MONTH: 60},  # −40 %: fires
            "dipped": {"2023-03": 100, MONTH: 90},  # −10 %: under the threshold
            "tiny": {"2023-03": 10, MONTH: 2},  # −80 % of 10 units: too few to judge
            "new": {MONTH: 5},  # sold nothing last year: no ratio
        }
    )
    frame = assess_performance(
        history, products(["fell", "dipped", "tiny", "new"]), MONTH, params("yoy_decline")
    )
    assert reasons(frame) == {"fell": "yoy_decline", "dipped": "", "tiny": "", "new": ""}


def test_trend_decline():
    before, after = months("2023-10", "2023-12"), months("2024-01", MONTH)
    history = sales(
        {
            "sliding": {**dict.fromkeys(before, 100), **dict.fromkeys(after, 70)},  # −30 %
            "steady": {**dict.fromkeys(before, 100), **dict.fromkeys(after, 90)},  # −10 %
            "tiny": {**dict.fromkeys(before, 5), **dict.fromkeys(after, 1)},  # 15 units before
        }
    )
    frame = assess_performance(
        history, products(["sliding", "steady", "tiny"]), MONTH, params("trend_decline")
    )
    assert reasons(frame) == {"sliding": "trend_decline", "steady": "", "tiny": ""}
    assert frame["trend_change"].iloc[0] == pytest.approx(-0.3)


def test_trend_decline_needs_all_six_months():
    history = sales(
        {
            "sliding": {
                **dict.fromkeys(months("2023-11", "2023-12"), 100),
                **dict.fromkeys(months("2024-01", MONTH), 10),
            }
        }
    )
    frame = assess_performance(history, products(["sliding"]), MONTH, params("trend_decline"))
    assert np.isnan(frame["trend_change"].iloc[0]) and reasons(frame) == {"sliding": ""}


def test_demand_decline():
    history = daily(
        {
            "A": [3000] * 13,
            "B": [3000] * 13,
            "falling": falling(3000, -0.4),
            "slipping": falling(3000, -0.1),  # falls, but by less than the threshold
            "slow_falling": [3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 1, 1, 1],  # too few units to tell
        }
    )
    ids = ["A", "B", "falling", "slipping", "slow_falling"]
    frame = assess_performance(history, products(ids), MONTH, params("demand_decline"))
    assert reasons(frame) == {
        "A": "",
        "B": "",
        "falling": "demand_decline",
        "slipping": "",
        "slow_falling": "",
    }
    slow = frame.set_index("product_id").loc["slow_falling"]
    assert slow["demand_trend"] < -0.25 and slow["demand_trend_z"] > -2.5


def test_stock_piling():
    history = daily(
        {"A": [3000] * 13, "B": [3000] * 13, "piling": falling(3000, -0.2),
         "stocked_steady": [3000] * 13, "lean_falling": falling(3000, -0.2)}
    )  # fmt: skip
    recent = {"piling": sum(falling(3000, -0.2)[-3:]) / 91, "steady": 3000 * 3 / 91}
    stock = [0, 0, round(120 * recent["piling"]), round(120 * recent["steady"]),
             round(60 * recent["piling"])]  # fmt: skip
    ids = ["A", "B", "piling", "stocked_steady", "lean_falling"]
    frame = assess_performance(
        history, products(ids, stock_on_hand=stock), MONTH, params("stock_piling")
    )
    assert reasons(frame) == {
        "A": "",
        "B": "",
        "piling": "stock_piling",
        "stocked_steady": "",
        "lean_falling": "",
    }


def test_category_laggard_needs_a_falling_demand_as_well():
    steady, falls = [1500] * 13, falling(3000, -0.6)  # falls to 1,200 this month
    history = daily(
        {
            "A": steady,
            "B": steady,
            "bottom_steady": [300] * 13,  # a category's bottom by construction, demand flat
            "bottom_falling": [round(u / 5) for u in falls],
            "top_falling": falls,  # falling, but not at the bottom
        }
    )
    ids = ["A", "B", "bottom_steady", "bottom_falling", "top_falling"]
    frame = assess_performance(history, products(ids), MONTH, params("category_laggard"))
    assert reasons(frame) == {
        "A": "",
        "B": "",
        "bottom_steady": "",
        "bottom_falling": "category_laggard",
        "top_falling": "",
    }
    assert frame.set_index("product_id").loc["bottom_steady", "category_share"] < 0.35


def test_low_margin():
    history = sales({"thin": {MONTH: 100}, "fat": {MONTH: 100}, "thin_tiny": {MONTH: 5}})
    catalogue = products(["thin", "fat", "thin_tiny"], unit_cost=[1.9, 1.0, 1.9])
    frame = assess_performance(history, catalogue, MONTH, params("low_margin"))
    assert reasons(frame) == {"thin": "low_margin", "fat": "", "thin_tiny": ""}
    assert frame["margin_rate"].iloc[0] == pytest.approx(0.05)


def test_overstock():
    history = sales(
        {"heavy": {MONTH: 31}, "fine": {MONTH: 31}, "unsold": {MONTH: 0}, "empty": {MONTH: 0}}
    )
    catalogue = products(["heavy", "fine", "unsold", "empty"], stock_on_hand=[200, 100, 5, 0])
    frame = assess_performance(history, catalogue, MONTH, params("overstock"))
    assert reasons(frame) == {"heavy": "overstock", "fine": "", "unsold": "overstock", "empty": ""}
    assert frame["stock_cover_days"].tolist()[:2] == pytest.approx([200.0, 100.0])
    assert np.isnan(frame["stock_cover_days"].iloc[2]) and frame["stock_cover_days"].iloc[3] == 0


def test_reasons_follow_rule_order_and_disabled_rules_never_fire():
    # "bad" falls 80 % in a year, lags its category, earns too little and is overstocked.
    history = sales(
        {
            "bad": dict(zip(WINDOW, falling(100, -0.8), strict=True)),
            "good": dict.fromkeys(WINDOW, 100),
        }
    )
    catalogue = products(["bad", "good"], unit_cost=[1.9, 1.0], stock_on_hand=[500, 10])
    everything = assess_performance(history, catalogue, MONTH, params())
    assert reasons(everything) == {
        "bad": "demand_decline;stock_piling;overstock;yoy_decline;trend_decline;"
        "category_laggard;low_margin",
        "good": "",
    }
    assert everything["is_underperforming"].tolist() == [True, False]

    some = assess_performance(history, catalogue, MONTH, params("low_margin", "yoy_decline"))
    assert reasons(some) == {"bad": "yoy_decline;low_margin", "good": ""}
    none = assess_performance(history, catalogue, MONTH, params(rules=()))
    assert not none["is_underperforming"].any() and (none["reasons"] == "").all()


def test_unknown_rule_is_named_with_the_valid_ones():
    with pytest.raises(ValueError, match="'yoy_drop'") as error:
        params("yoy_drop")
    assert all(rule in str(error.value) for rule in RULES)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("demand_decline", 1.5, "must be a share in [0, 1]"),
        ("min_decline_z", -1.0, "must be a number >= 0"),
        ("price_elasticity", 0.5, "must be a number <= 0"),
        ("piling_cover_days", 0, "must be > 0"),
        ("piling_decline", -0.1, "must be a share in [0, 1]"),
        ("max_stock_cover_days", float("inf"), "must be > 0"),
        ("yoy_decline", 25, "must be a share in [0, 1]"),
        ("trend_decline", -0.2, "must be a share in [0, 1]"),
        ("category_share_floor", -0.1, "must be a share >= 0"),
        ("laggard_decline", 2.0, "must be a share in [0, 1]"),
        ("min_margin_rate", 1.0, "must be a share below 1"),
        ("min_units_for_ratios", -1, "must be >= 0"),
    ],
)
def test_out_of_range_thresholds_are_refused_naming_the_key(key, value, message):
    with pytest.raises(ValueError) as error:
        params(**{key: value})
    assert f"performance.{key} {message}, got {value}" in str(error.value)


def test_every_threshold_is_a_key_of_the_versioned_performance_section():
    from shelfcast.pipeline.partitions import versioned_defaults

    section = versioned_defaults()["performance"]
    assert set(section) == {f.name for f in dataclasses.fields(PerformanceParams)}
    assert set(section["rules"]) <= set(RULES)
    PerformanceParams(**section)


# --- every cited rule holds, on arbitrary data -----------------------------------------------------

HISTORY = months("2023-03", MONTH)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.integers(0, 120), min_size=len(HISTORY), max_size=len(HISTORY)),
            st.floats(0.5, 2.5),
            st.integers(0, 400),
            st.sampled_from(["a", "b"]),
        ),
        min_size=1,
        max_size=8,
    ),
    st.sets(st.sampled_from(RULES)),
)
def test_a_flagged_product_meets_every_rule_it_cites(catalogue, enabled):
    ids = [f"P{i}" for i in range(len(catalogue))]
    history = sales(
        {
            pid: dict(zip(HISTORY, units, strict=True))
            for pid, (units, *_) in zip(ids, catalogue, strict=True)
        }
    )
    snapshot = products(
        ids,
        unit_cost=[c for _, c, _, _ in catalogue],
        stock_on_hand=[s for _, _, s, _ in catalogue],
        category=[k for *_, k in catalogue],
    )
    p = params(*enabled) if enabled else params(rules=())
    frame = assess_performance(history, snapshot, MONTH, p)
    ProductPerformanceSchema.validate(frame)
    previous_3m = {pid: sum(units[-6:-3]) for pid, (units, *_) in zip(ids, catalogue, strict=True)}
    for row, stock in zip(frame.itertuples(), snapshot["stock_on_hand"], strict=True):
        cited = set(filter(None, row.reasons.split(";")))
        assert cited <= set(enabled)
        assert row.is_underperforming == bool(cited)
        unbounded = np.isnan(row.stock_cover_days) and stock > 0
        holds = {
            "demand_decline": row.demand_trend < -p.demand_decline
            and row.demand_trend_z <= -p.min_decline_z,
            "stock_piling": (row.stock_cover_days > p.piling_cover_days or unbounded)
            and row.demand_trend < -p.piling_decline,
            "overstock": row.stock_cover_days > p.max_stock_cover_days or unbounded,
            "yoy_decline": row.yoy_change < -p.yoy_decline and row.units_last_year >= 20,
            "trend_decline": row.trend_change < -p.trend_decline
            and previous_3m[row.product_id] >= 20,
            "category_laggard": row.category_share < p.category_share_floor
            and row.demand_trend < -p.laggard_decline,
            "low_margin": row.margin_rate < p.min_margin_rate and row.units >= 20,
        }
        assert cited == {rule for rule in enabled if holds[rule]}
