"""`partner_export` and `partner_delivery`: the partner's rows, and the receipt of sending them."""

import contextlib

import pandas as pd
from dagster import AssetExecutionContext, Failure, MetadataValue, asset, build_input_context

from shelfcast import locations
from shelfcast.core.export import effective_date, to_partner_export
from shelfcast.pipeline.common import (
    config_metadata,
    contract_metadata,
    contract_type,
    frame_metadata,
    market_and_month,
    params_of,
    validated,
)
from shelfcast.pipeline.partitions import market_month
from shelfcast.pipeline.resources import PipelineParams
from shelfcast.platform.delivery import (
    DeliveryError,
    Receipt,
    deliver_to_outbox,
    receipts_frame,
    receipts_from_frame,
)
from shelfcast.platform.http_delivery import HttpDelivery, HttpSettings
from shelfcast.platform.storage import as_upath
from shelfcast.platform.validation import ContractViolation
from shelfcast.schemas import PartnerDeliverySchema, PartnerExportSchema


@asset(
    partitions_def=market_month,
    dagster_type=contract_type(PartnerExportSchema),
    metadata=contract_metadata(PartnerExportSchema),
    group_name="delivery",
    code_version="1",
)
def partner_export(
    context: AssetExecutionContext,
    price_recommendations: pd.DataFrame,
    product_performance: pd.DataFrame,
    params: PipelineParams,
) -> pd.DataFrame:
    """The price changes exactly as the partner's contract wants them."""
    market, month = market_and_month(context)
    resolved = params_of(context, params)
    effective = effective_date(month, int(resolved.get("delivery.effective_after_days")))
    frame = validated(
        to_partner_export(price_recommendations, product_performance, effective),
        PartnerExportSchema,
        "partner_export",
        context,
    )
    context.add_output_metadata(
        {
            **frame_metadata(frame),
            "effective_date": MetadataValue.text(effective.isoformat()),
            **config_metadata(resolved, ["delivery.effective_after_days"]),
        }
    )
    return frame


@asset(
    partitions_def=market_month,
    dagster_type=contract_type(PartnerDeliverySchema),
    metadata=contract_metadata(PartnerDeliverySchema),
    group_name="delivery",
    code_version="2",
    # The io_manager reads this partition's earlier receipts back (see previous_receipts).
    required_resource_keys={"io_manager", "params"},
    # Caps how many partitions deliver at once across runs (`dagster instance concurrency set
    # partner_api N`); delivery.concurrency caps the batches in flight within one partition.
    pool="partner_api",
)
def partner_delivery(context: AssetExecutionContext, partner_export: pd.DataFrame) -> pd.DataFrame:
    """Sends the export to the partner once per content and keeps the receipt of each batch.

    Delivering a partition again finds its earlier receipts (this asset's previous output in
    the lake, or the outbox manifest) and sends nothing; the HTTP partner also recognises every
    batch by its Idempotency-Key. ``delivery.force`` sends again under new keys.
    """
    market, month = market_and_month(context)
    resolved = params_of(context, context.resources.params)
    settings = resolved.get("delivery")
    scope, header = f"{market}|{month}", {"market": market, "month": month}
    with delivery_errors(market, month):
        if settings["kind"] == "outbox":
            folder = as_upath(settings["outbox_url"] or locations.outbox_url())
            receipts = [
                deliver_to_outbox(
                    folder / f"market={market}" / f"month={month}",
                    scope,
                    partner_export,
                    header,
                    force=settings["force"],
                )
            ]
        elif settings["kind"] == "http":
            receipts = HttpDelivery(HttpSettings.from_mapping(settings), log=context.log).deliver(
                scope,
                partner_export,
                header,
                previous=previous_receipts(context),
                force=settings["force"],
            )
        else:
            raise DeliveryError(f"delivery.kind={settings['kind']!r}: use outbox or http")
    frame = receipts_frame(receipts).assign(market=market, month=month)
    frame = validated(
        frame[list(PartnerDeliverySchema.to_schema().columns)],
        PartnerDeliverySchema,
        "partner_delivery",
        context,
    )
    context.add_output_metadata(delivery_metadata(frame, resolved))
    return frame


@contextlib.contextmanager
def delivery_errors(market: str, month: str):
    """A refused or unreachable partner is one clear step failure, not a traceback."""
    try:
        yield
    except DeliveryError as error:
        raise Failure(
            description=f"partner delivery {market} {month}: {error}", allow_retries=False
        ) from None


def previous_receipts(context: AssetExecutionContext) -> list[Receipt]:
    """The receipts this partition's last materialization left in the lake, if any."""
    loading = build_input_context(
        asset_key=context.asset_key,
        partition_key=context.partition_key,
        asset_partitions_def=context.assets_def.partitions_def,
        instance=context.instance,
    )
    try:
        return receipts_from_frame(context.resources.io_manager.load_input(loading))
    except FileNotFoundError:
        return []
    except ContractViolation as error:
        # Harmless to ignore: the partner still recognises delivered batches by their keys.
        context.log.warning(f"earlier receipts unreadable, ignored: {error.description}")
        return []


def delivery_metadata(frame: pd.DataFrame, resolved) -> dict:
    statuses = frame["status"].value_counts()
    keys = [f"delivery.{name}" for name in resolved.get("delivery")]
    return {
        **frame_metadata(frame),
        **config_metadata(resolved, keys),
        "kind": MetadataValue.text(resolved.get("delivery.kind")),
        "destination": MetadataValue.text(frame["destination"].iloc[0] if len(frame) else ""),
        "batches_delivered": MetadataValue.int(int(statuses.get("delivered", 0))),
        "batches_already_delivered": MetadataValue.int(int(statuses.get("already_delivered", 0))),
        "attempts": MetadataValue.int(int(frame["attempts"].sum())),
        "accepted_count": MetadataValue.int(int(frame["accepted_count"].sum())),
    }
