"""`partner_export` and `partner_delivery`: the partner's rows, and the receipt of sending them."""

import pandas as pd
from dagster import AssetExecutionContext, Failure, MetadataValue, asset

from shelfcast import locations
from shelfcast.core.export import effective_date, to_partner_export
from shelfcast.pipeline.common import (
    contract_metadata,
    contract_type,
    frame_metadata,
    market_and_month,
    params_of,
    validated,
)
from shelfcast.pipeline.partitions import market_month
from shelfcast.pipeline.resources import PipelineParams
from shelfcast.platform.delivery import deliver_to_outbox, receipts_frame
from shelfcast.platform.storage import as_upath
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
        {**frame_metadata(frame), "effective_date": MetadataValue.text(effective.isoformat())}
    )
    return frame


@asset(
    partitions_def=market_month,
    dagster_type=contract_type(PartnerDeliverySchema),
    metadata=contract_metadata(PartnerDeliverySchema),
    group_name="delivery",
    code_version="1",
)
def partner_delivery(
    context: AssetExecutionContext, partner_export: pd.DataFrame, params: PipelineParams
) -> pd.DataFrame:
    """Sends the export to the partner and keeps the receipt of each batch."""
    market, month = market_and_month(context)
    resolved = params_of(context, params)
    kind = resolved.get("delivery.kind")
    if kind != "outbox":
        raise Failure(
            description=f"delivery.kind={kind!r} is not available yet; use delivery.kind=outbox",
            allow_retries=False,
        )
    outbox = as_upath(resolved.get("delivery.outbox_url") or locations.outbox_url())
    receipt = deliver_to_outbox(
        outbox / f"market={market}" / f"month={month}",
        scope=f"{market}|{month}",
        rows=partner_export,
        header={"market": market, "month": month},
    )
    frame = receipts_frame([receipt]).assign(market=market, month=month)
    frame = validated(
        frame[list(PartnerDeliverySchema.to_schema().columns)],
        PartnerDeliverySchema,
        "partner_delivery",
        context,
    )
    context.add_output_metadata(
        {
            **frame_metadata(frame),
            "status": MetadataValue.text(receipt.status),
            "destination": MetadataValue.path(receipt.destination),
            "accepted_count": MetadataValue.int(receipt.accepted_count),
        }
    )
    return frame
