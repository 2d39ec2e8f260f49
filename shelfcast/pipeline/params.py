"""The parameters resource: layered, checked, and frozen once per run.

Layers, lowest precedence first: ``configs/defaults.yaml``; ``configs/markets/<M>.yaml``; remote
overlays under ``config_url`` (``market=<M>.yaml``, ``month=<YYYY-MM>.yaml``,
``market=<M>/month=<YYYY-MM>.yaml``); a patch file; run patches. Every key and type is checked
against the defaults, a few keys against their allowed values, and no layer may hold a secret.
"""

from __future__ import annotations

import math
from pathlib import Path

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr

from shelfcast import locations
from shelfcast.platform.config import (
    ConfigError,
    Layer,
    ResolvedConfig,
    check_choices,
    check_no_secrets,
    merge_layers,
    patch_file_layer,
    patch_layer,
    read_layer,
)
from shelfcast.platform.snapshots import frozen_for_run, load_snapshot
from shelfcast.platform.storage import as_upath


def allowed_values() -> dict[str, list]:
    """Parameters that only take one of a few values."""
    from shelfcast.core.forecast import FORECASTERS
    from shelfcast.core.performance import RULES

    return {
        "forecast.model": sorted(FORECASTERS),
        "performance.rules": list(RULES),
        "optimiser.objective": ["margin", "revenue"],
        "delivery.kind": ["outbox", "http"],
    }


class PipelineParams(ConfigurableResource):
    """Layered parameters: versioned defaults, repo and remote overlays, then run patches."""

    patches: list[str] = Field(
        default=[], description="Run patches as KEY=VALUE, e.g. optimiser.max_price_change=0.1"
    )
    patch_file: str = Field(default="", description="YAML file of patches (path or fsspec URL)")
    replay: str = Field(
        default="", description="Saved parameters (JSON) to run with instead of the layers"
    )
    config_dir: str = Field(default="", description="Folder of defaults.yaml; empty: the repo's")
    config_url: str = Field(
        default="", description="Remote overlays (fsspec URL); empty: $SHELFCAST_CONFIG_URL"
    )
    snapshot_url: str = Field(
        default="", description="Where runs freeze their parameters; empty: the lake"
    )
    _run_id: str | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._run_id = context.run_id if context.dagster_run is not None else None

    def layers(self, market: str, month: str) -> tuple[list[Layer], list[str]]:
        """The layers that exist for a partition, and every layer's name in precedence order,
        optional ones that do not exist marked absent."""
        folder = self.config_dir or locations.config_dir()
        defaults = read_layer(str(Path(folder, "defaults.yaml")))
        assert defaults is not None
        candidates = [str(Path(folder, "markets", f"{market}.yaml"))]
        remote = (self.config_url or locations.config_url()).rstrip("/")
        if remote:
            candidates += [
                f"{remote}/market={market}.yaml",
                f"{remote}/month={month}.yaml",
                f"{remote}/market={market}/month={month}.yaml",
            ]
        layers, names = [defaults], [defaults.label]
        for url in candidates:
            layer = read_layer(url, optional=True)
            if layer is not None:
                layers.append(layer)
            names.append(layer.label if layer is not None else f"{url} (absent)")
        if self.patch_file:
            layers.append(patch_file_layer(self.patch_file))
            names.append(layers[-1].label)
        if self.patches:
            layers.append(patch_layer(self.patches))
            names.append(layers[-1].label)
        return layers, names

    def resolve(self, market: str, month: str) -> ResolvedConfig:
        """The parameters of ``market`` and ``YYYY-MM``, with the layer of every value."""
        if self.replay:
            if self.patches or self.patch_file:
                raise ConfigError("a replay runs with its saved parameters: drop the patches")
            replayed = load_snapshot(self.replay)
            replayed.layers.append(f"replay of {self.replay}")
            return replayed
        layers, names = self.layers(market, month)
        check_no_secrets(layers)
        check_markets(layers)
        resolved = merge_layers(layers[0], layers[1:])
        resolved.layers = names
        check_choices(resolved, allowed_values())
        check_ranges(resolved)
        return resolved

    def for_run(self, market: str, month: str) -> ResolvedConfig:
        """The run's frozen parameters: resolved by the first step, read by every other."""
        if self._run_id is None:  # outside a run (tests, the CLI's checks)
            return self.resolve(market, month)
        base = as_upath(self.snapshot_url or locations.storage_url())
        resolved, path = frozen_for_run(
            base,
            self._run_id,
            [f"market={market}", f"month={month}"],
            lambda: self.resolve(market, month),
        )
        resolved.layers.append(f"frozen at {path}")
        return resolved


def check_ranges(resolved: ResolvedConfig) -> None:
    """Numeric ranges, by the steps' own parameter classes, before any step runs.

    A wrong ``optimiser.max_price_change`` then fails the run check instead of the pricing step
    after ingest, performance and forecast have run.
    """
    from shelfcast.core.elasticity import ElasticityConfigError, check_settings
    from shelfcast.core.optimiser import OptimiserConfigError, OptimiserParams
    from shelfcast.core.performance import PerformanceParams
    from shelfcast.pipeline.partitions import HISTORY_WINDOW_MONTHS

    wrong = []
    optimiser, performance = resolved.get("optimiser"), resolved.get("performance")
    elasticity, forecast = resolved.get("elasticity"), resolved.get("forecast")
    try:
        OptimiserParams(**optimiser)
    except OptimiserConfigError as error:
        wrong.append(str(error))
    try:
        PerformanceParams(**performance)
    except ValueError as error:
        wrong.append(str(error))
    try:
        check_settings(elasticity["min"], elasticity["max"], elasticity["prior_strength"])
    except ElasticityConfigError as error:
        wrong.append(str(error))
    if not math.isfinite(elasticity["prior"]):
        wrong.append(f"elasticity.prior must be a finite number, got {elasticity['prior']}")
    if not 1 <= forecast["history_months"] <= HISTORY_WINDOW_MONTHS:
        wrong.append(
            f"forecast.history_months must be 1 … {HISTORY_WINDOW_MONTHS} (the months the "
            f"forecast step loads), got {forecast['history_months']}"
        )
    if not forecast["horizon_days"] >= 1:
        wrong.append(f"forecast.horizon_days must be >= 1, got {forecast['horizon_days']}")
    if not forecast["backtest_folds"] >= 0:
        wrong.append(f"forecast.backtest_folds must be >= 0, got {forecast['backtest_folds']}")
    if not resolved.get("delivery.effective_after_days") >= 0:
        wrong.append(
            "delivery.effective_after_days must be >= 0, got "
            f"{resolved.get('delivery.effective_after_days')}"
        )
    if wrong:
        raise ConfigError("; ".join(wrong))


def check_markets(layers: list[Layer]) -> None:
    """A market in an overlay must be a partition market: market keys become storage paths."""
    from shelfcast.pipeline.partitions import MARKETS

    for layer in layers[1:]:
        for market in layer.values.get("markets", {}) or {}:
            if market not in MARKETS:
                raise ConfigError(
                    f"{layer.name}: market {market!r} is not one of the partition markets "
                    f"({', '.join(MARKETS)}); add it to markets in configs/defaults.yaml first"
                )
