"""`sales` and `products`: landing drops typed, checked and cleaned into their contracts.

This is where the outside world enters, and where trust is earned. Before anything of a
partition is written, a drop is refused when it is unreadable (empty or corrupt file, named),
mistyped (see ``core.cleaning``), incomplete (no rows, missing days, products sold but absent
from the month's products drop) or drifted against the partition's own history (total units,
active products, median price, share of products with sales; for products, catalogue size and
median list price against the same trailing months of sales). Completeness and drift are blocking asset checks, visible in the UI: a
failed one is recorded, then the step fails with the same message and stores nothing.

`products` runs after `sales` in a run (a dependency for order only): a sales drop that is
refused also stops the products of its partition from being rewritten.
"""

from collections.abc import Iterator

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    BackfillPolicy,
    MetadataValue,
    Output,
)

from shelfcast.core.cleaning import (
    DropFormatError,
    IncompleteDropError,
    as_ids,
    check_complete,
    clean_products,
    clean_sales,
)
from shelfcast.core.drift import Drift, drifted, products_profile, sales_profile
from shelfcast.errors import UserError
from shelfcast.pipeline.factory import contracted_asset, market_and_month
from shelfcast.pipeline.metadata import config_metadata, frame_metadata
from shelfcast.pipeline.params import PipelineParams, RunParams
from shelfcast.pipeline.partitions import market_month, split_partition_key
from shelfcast.pipeline.resources import LandingZone, Locations
from shelfcast.platform.io_manager import ParquetIOManager
from shelfcast.platform.landing import MissingDropError
from shelfcast.schemas import ProductsSchema, SalesSchema

COMPLETE, IN_BAND = "drop_complete", "within_history_band"
BAND_PARAMETER = "ingest.drift_band"


class DriftError(UserError):
    """A month's drop lies outside the band of its partition's own history."""


def _checks(asset: str, complete: bool) -> list[AssetCheckSpec]:
    specs = [
        AssetCheckSpec(
            IN_BAND,
            asset=asset,
            blocking=True,
            description="Each profile metric of the month within ingest.drift_band × the "
            "median of the trailing months",
        )
    ]
    if complete:
        specs.append(
            AssetCheckSpec(
                COMPLETE,
                asset=asset,
                blocking=True,
                description="The drop has rows, covers every day of its month and sells only "
                "products of the month's products drop",
            )
        )
    return specs


@contracted_asset(
    SalesSchema,
    group="ingest",
    code_version="2",
    # Months of history load in one run: the IO manager writes each partition's own object.
    backfill_policy=BackfillPolicy.single_run(),
    check_specs=_checks("sales", complete=True),
)
def sales(
    context: AssetExecutionContext,
    landing: LandingZone,
    params: PipelineParams,
    deployment: Locations,
) -> Iterator:
    """Cleaned daily sales per product for the month, from the landing drop."""
    lake = ParquetIOManager(deployment.lake())
    months: dict[str, pd.DataFrame] = {}
    profiles: dict[str, dict[str, float]] = {}
    incomplete, drifts = [], []
    for key in context.partition_keys:
        market, month = split_partition_key(key)
        run = params.for_partition(market, month)
        frame = _cleaned(landing, "sales", market, month, clean_sales)
        known = _known_products(landing, market, month)
        problems = check_complete(frame, month, known if known is not None else [], run.ingest)
        if known is None:  # no products drop to compare with: that check is left to products
            problems = [p for p in problems if "absent from the month's products drop" not in p]
        several = len(context.partition_keys) > 1
        incomplete += [f"{month}: {problem}" if several else problem for problem in problems]
        profiles[month] = sales_profile(frame, len(known) if known else None)
        trailing = _trailing(market, month, run, profiles, _sales_profile_of(lake))
        drifts += [(month if several else "", d) for d in _drift(profiles[month], trailing, run)]
        months[month] = frame
    frame = pd.concat(months.values(), ignore_index=True) if len(months) > 1 else frame
    n_months = len(months)
    months.clear()  # the concatenated frame is the one copy kept
    yield _result(COMPLETE, incomplete, n_months)
    yield _drift_result(drifts, run)
    _refuse_if(incomplete, drifts, run, IncompleteDropError)
    metadata = {
        **frame_metadata(frame),
        "products": MetadataValue.int(frame["product_id"].nunique()),
        "units": MetadataValue.int(int(frame["units"].sum())),
        "revenue": MetadataValue.float(round(float(frame["revenue"].sum()), 2)),
    }
    if n_months == 1:
        metadata.update(
            config_metadata(run.config, [f"ingest.{k}" for k in run.config.get("ingest")])
        )
    yield Output(frame, metadata=metadata)


@contracted_asset(
    ProductsSchema,
    group="ingest",
    code_version="2",
    deps=[AssetDep("sales")],
    check_specs=_checks("products", complete=False),
)
def products(
    context: AssetExecutionContext,
    landing: LandingZone,
    params: PipelineParams,
    deployment: Locations,
) -> Iterator:
    """Product master snapshot: category, unit cost, current price, stock on hand."""
    run = params.for_partition(*market_and_month(context))
    frame = _cleaned(landing, "products", run.market, run.month, clean_products, run.currency)
    if frame.empty:
        raise IncompleteDropError("the products drop has no rows")
    lake = ParquetIOManager(deployment.lake())
    profile = products_profile(frame)
    trailing = _trailing(run.market, run.month, run, {}, _sales_profile_of(lake))
    drifts = [("", d) for d in _drift(profile, trailing, run)]
    yield _drift_result(drifts, run)
    _refuse_if([], drifts, run, IncompleteDropError)
    yield Output(
        frame,
        metadata={
            **frame_metadata(frame),
            "categories": MetadataValue.int(frame["category"].nunique()),
            **config_metadata(run.config, [f"markets.{run.market}.currency"]),
        },
    )


def _cleaned(
    landing: LandingZone, dataset: str, market: str, month: str, clean, *args
) -> pd.DataFrame:
    """The month's drop read and typed; a refusal names the drop's folder."""
    try:
        return clean(landing.read_drop(dataset, market, month), market, month, *args)
    except DropFormatError as error:
        raise DropFormatError(f"{landing.folder(dataset, market, month)}: {error}") from None


def _prefixed(month: str, text: str) -> str:
    return f"{month}: {text}" if month else text


def _known_products(landing: LandingZone, market: str, month: str) -> set[str] | None:
    """The product ids of the month's products drop, or None when it has not landed."""
    try:
        raw = landing.read_drop("products", market, month)
    except MissingDropError:
        return None
    if "product_id" not in raw.columns:
        return None  # the products step names the missing column
    problems: list[str] = []
    ids = as_ids(raw["product_id"], "product_id", problems)
    return set(ids.dropna()) if not problems else None


def _sales_profile_of(lake: ParquetIOManager):
    def profile(market: str, month: str) -> dict[str, float] | None:
        key = f"{market}|{month}-01"
        stored = lake.read_columns(
            AssetKey("sales"), market_month, key, ["product_id", "units", "price"]
        )
        if stored is None:
            return None
        catalogue = lake.read_columns(AssetKey("products"), market_month, key, ["product_id"])
        return sales_profile(stored, len(catalogue) if catalogue is not None else None)

    return profile


def _trailing(market: str, month: str, run: RunParams, this_run: dict, stored_profile) -> dict:
    """Profiles of the ``ingest.drift_months`` months before ``month``: from this run when it
    covers them (a single-run backfill), else from the lake."""
    trailing = {}
    period = pd.Period(month, freq="M")
    for back in range(1, run.ingest.drift_months + 1):
        label = str(period - back)
        profile = this_run.get(label) or stored_profile(market, label)
        if profile is not None:
            trailing[label] = profile
    return trailing


def _drift(profile, trailing, run: RunParams) -> list[Drift]:
    return drifted(profile, trailing, run.ingest.drift_band, run.ingest.drift_min_months)


def _result(check: str, problems: list[str], months: int) -> AssetCheckResult:
    return AssetCheckResult(
        check_name=check,
        passed=not problems,
        metadata={
            "months_checked": MetadataValue.int(months),
            "problems": MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none"),
        },
    )


def _drift_result(drifts: list[tuple[str, Drift]], run: RunParams) -> AssetCheckResult:
    band = run.ingest.drift_band
    lines = [_prefixed(month, d.describe(band, BAND_PARAMETER)) for month, d in drifts]
    return AssetCheckResult(
        check_name=IN_BAND,
        passed=not drifts,
        metadata={
            "band": MetadataValue.text(f"{band[0]:g}× … {band[1]:g}× of the trailing median"),
            "drifted": MetadataValue.md("\n".join(f"- {line}" for line in lines) or "none"),
        },
    )


def _refuse_if(incomplete, drifts, run: RunParams, incomplete_error) -> None:
    if incomplete:
        raise incomplete_error("drop refused as incomplete: " + "; ".join(incomplete))
    if drifts:
        band = run.ingest.drift_band
        raise DriftError(
            "drop refused as drifted against the partition's own history: "
            + "; ".join(_prefixed(month, d.describe(band, BAND_PARAMETER)) for month, d in drifts)
            + ". If the feed really changed, widen the band for this month with an overlay or "
            "a patch, e.g. --patch 'ingest.drift_band=[0.2,2000]'"
        )
