"""Thin Dagster definitions joining the retail core to the platform: assets, checks, partitions,
jobs, schedules, resources."""
