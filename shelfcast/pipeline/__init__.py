"""Thin Dagster definitions joining the retail core to the platform: assets, checks, partitions,
jobs, schedules, resources."""

import warnings

from dagster import BetaWarning, PreviewWarning

from shelfcast.platform.secrets import install_log_redaction

# Defence in depth: a secret's value that reaches a log record anyway is masked.
install_log_redaction()

# shelfcast pins one Dagster release and uses its multi-partition mappings, single-run backfills
# and partitioned asset checks on purpose; their beta/preview notices would bury real warnings.
warnings.filterwarnings("ignore", category=BetaWarning)
warnings.filterwarnings("ignore", category=PreviewWarning)
# The job mixes a single-run backfill policy (sales history) with per-partition assets.
warnings.filterwarnings(
    "ignore", message="Asset job monthly_pricing materializes assets with varying"
)
