"""`partner_export` and `partner_delivery`: the partner's rows, and the receipt of sending them."""

import pandas as pd
from dagster import AssetExecutionContext, MetadataValue

from shelfcast.core.export import effective_date, to_partner_export
from shelfcast.pipeline.factory import contracted_asset, market_and_month
from shelfcast.pipeline.metadata import config_metadata, frame_metadata, section_keys
from shelfcast.pipeline.params import PipelineParams, RunParams
from shelfcast.pipeline.partitions import market_month
from shelfcast.pipeline.resources import Locations
from shelfcast.platform.delivery import (
    Receipt,
    deliver_to_outbox,
    receipts_frame,
    receipts_from_frame,
)
from shelfcast.platform.http_delivery import HttpDelivery
from shelfcast.platform.io_manager import ParquetIOManager
from shelfcast.platform.storage import as_upath
from shelfcast.platform.validation import ContractViolation
from shelfcast.schemas import PartnerDeliverySchema, PartnerExportSchema, project


@contracted_asset(PartnerExportSchema, group="delivery", code_version="1")
def partner_export(
    context: AssetExecutionContext,
    price_recommendations: pd.DataFrame,
    product_performance: pd.DataFrame,
    params: PipelineParams,
) -> pd.DataFrame:
    """The price changes exactly as the partner's contract wants them."""
    run = params.for_partition(*market_and_month(context))
    effective = effective_date(run.month, run.delivery.effective_after_days)
    frame = to_partner_export(price_recommendations, product_performance, effective)
    context.add_output_metadata(
        {
            **frame_metadata(frame, currency=run.currency),
            "effective_date": MetadataValue.text(effective.isoformat()),
            **config_metadata(run.config, ["delivery.effective_after_days"]),
        }
    )
    return frame


@contracted_asset(
    PartnerDeliverySchema,
    group="delivery",
    code_version="2",
    kind="json",  # batches go out as JSON: outbox files or the partner's API
    # Caps how many partitions deliver at once across runs (`dagster instance concurrency set
    # partner_api N`); delivery.concurrency caps the batches in flight within one partition.
    pool="partner_api",
)
def partner_delivery(
    context: AssetExecutionContext,
    partner_export: pd.DataFrame,
    params: PipelineParams,
    deployment: Locations,
) -> pd.DataFrame:
    """Sends the export to the partner once per content and keeps the receipt of each batch.

    Delivering a partition again finds its earlier receipts (this asset's previous output in
    the lake, or the outbox manifest) and sends nothing; the HTTP partner also recognises every
    batch by its Idempotency-Key. ``delivery.force`` sends again under new keys.
    """
    run = params.for_partition(*market_and_month(context))
    settings = run.delivery
    scope, header = f"{run.market}|{run.month}", {"market": run.market, "month": run.month}
    if settings.kind == "outbox":
        root = as_upath(settings.outbox_url or deployment.outbox_url())
        folder = root / f"market={run.market}" / f"month={run.month}"
        receipts = [deliver_to_outbox(folder, scope, partner_export, header, settings.force)]
    else:
        receipts = HttpDelivery(settings, log=context.log).deliver(
            scope,
            partner_export,
            header,
            previous=previous_receipts(context, ParquetIOManager(deployment.lake())),
            force=settings.force,
        )
    frame = project(
        receipts_frame(receipts).assign(market=run.market, month=run.month), PartnerDeliverySchema
    )
    context.add_output_metadata(delivery_metadata(frame, run))
    return frame


def previous_receipts(context: AssetExecutionContext, lake: ParquetIOManager) -> list[Receipt]:
    """The receipts this partition's last materialization left in the lake, if any."""
    try:
        stored = lake.load_partition(
            context.asset_key, market_month, context.partition_key, PartnerDeliverySchema
        )
    except FileNotFoundError:
        return []
    except ContractViolation as error:
        # Harmless to ignore: the partner still recognises delivered batches by their keys.
        context.log.warning(f"earlier receipts unreadable, ignored: {error.description}")
        return []
    return receipts_from_frame(stored)


def destination_metadata(frame: pd.DataFrame, run: RunParams) -> dict:
    """Where the batches went: the outbox batch as a path, the partner API as a URL."""
    if not len(frame):
        return {}
    destination = str(frame["destination"].iloc[0])
    if run.delivery.kind == "outbox":
        return {
            "destination": MetadataValue.path(destination),
            "outbox_batch": MetadataValue.path(f"{destination.rstrip('/')}/batch.json"),
        }
    return {"destination": MetadataValue.url(destination)}


def delivery_metadata(frame: pd.DataFrame, run: RunParams) -> dict:
    statuses = frame["status"].value_counts()
    return {
        **frame_metadata(frame),
        **config_metadata(run.config, section_keys(run.config, "delivery")),
        "kind": MetadataValue.text(run.delivery.kind),
        **destination_metadata(frame, run),
        "batches_delivered": MetadataValue.int(int(statuses.get("delivered", 0))),
        "batches_already_delivered": MetadataValue.int(int(statuses.get("already_delivered", 0))),
        "attempts": MetadataValue.int(int(frame["attempts"].sum())),
        "accepted_count": MetadataValue.int(int(frame["accepted_count"].sum())),
    }
