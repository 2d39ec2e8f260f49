"""The parameters of a run: layered, checked, typed once, and frozen once per run.

Layers, lowest precedence first: ``configs/defaults.yaml``; ``configs/markets/<M>.yaml``; remote
overlays under the deployment's overlay URL (``market=<M>.yaml``, ``month=<YYYY-MM>.yaml``,
``market=<M>/month=<YYYY-MM>.yaml``); a patch file; run patches. Every key and type is checked
against the defaults, a few keys against their allowed values, and no layer may hold a secret.

The merged values become one :class:`RunParams`: a typed, frozen section per stage, each section
checking its own ranges in its constructor. That object is what the CLI checks before a run,
what a replayed snapshot is validated into, and what every asset reads: a ``--patch
optimiser.max_changes=10`` travels from the run config to ``RunParams.optimiser`` (an
``OptimiserParams``) to ``optimise_prices`` in that one shape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster import (
    ConfigurableResource,
    DagsterInvalidConfigError,
    InitResourceContext,
    ResourceDefinition,
)
from pydantic import Field, PrivateAttr
from upath import UPath

from shelfcast.core.cleaning import IngestParams
from shelfcast.core.elasticity import ElasticityParams
from shelfcast.core.forecast import FORECASTERS, ForecastParams
from shelfcast.core.optimiser import OptimiserParams
from shelfcast.core.performance import RULES, PerformanceParams
from shelfcast.errors import UserError
from shelfcast.pipeline.partitions import HISTORY_WINDOW_MONTHS, MARKETS
from shelfcast.pipeline.resources import Locations
from shelfcast.platform.config import (
    ConfigError,
    Layer,
    ResolvedConfig,
    check_choices,
    check_no_secret_values,
    check_no_secret_values_in_layers,
    check_no_secrets,
    merge_layers,
    patch_file_layer,
    patch_layer,
    read_layer,
)
from shelfcast.platform.delivery import DELIVERY_KINDS, DeliveryParams
from shelfcast.platform.secrets import name_secret_variable
from shelfcast.platform.snapshots import (
    frozen_for_run,
    latest_snapshot_path,
    load_snapshot,
    run_snapshot_path,
)

# Parameters that only take one of a few values: checked with the layer that set them.
ALLOWED_VALUES: dict[str, list] = {
    "forecast.model": sorted(FORECASTERS),
    "performance.rules": list(RULES),
    "optimiser.objective": ["margin", "revenue"],
    "delivery.kind": list(DELIVERY_KINDS),
}
# Each section of the configuration and the class that types it.
SECTIONS: dict[str, type] = {
    "ingest": IngestParams,
    "performance": PerformanceParams,
    "forecast": ForecastParams,
    "elasticity": ElasticityParams,
    "optimiser": OptimiserParams,
    "delivery": DeliveryParams,
}
_DOTTED_KEY = re.compile(r"\b([a-z_]+\.[a-z_]+)\b")


@dataclass(frozen=True)
class RunParams:
    """Every parameter of one partition's run, typed; ``config`` keeps values and provenance."""

    market: str
    month: str
    currency: str
    ingest: IngestParams
    performance: PerformanceParams
    forecast: ForecastParams
    elasticity: ElasticityParams
    optimiser: OptimiserParams
    delivery: DeliveryParams
    config: ResolvedConfig

    @classmethod
    def build(cls, config: ResolvedConfig, market: str, month: str) -> RunParams:
        """Type every section; every out-of-range value of every section in one ConfigError."""
        sections: dict[str, Any] = {}
        wrong: list[str] = []
        for name, section in SECTIONS.items():
            try:
                sections[name] = section(**config.values[name])
            except (UserError, ValueError) as error:  # each section's own range check
                wrong += [_with_layer(message, config) for message in str(error).split("; ")]
        forecast = sections.get("forecast")
        if forecast is not None and forecast.history_months > HISTORY_WINDOW_MONTHS:
            wrong.append(
                f"forecast.history_months must be 1 … {HISTORY_WINDOW_MONTHS} (the months the "
                f"forecast step loads), got {forecast.history_months}"
            )
        if wrong:
            raise ConfigError("; ".join(wrong))
        currency = config.values["markets"][market]["currency"]
        return cls(market=market, month=month, currency=currency, config=config, **sections)


def _with_layer(message: str, config: ResolvedConfig) -> str:
    """``optimiser.max_changes must … (set by --patch)``: of the keys a message names, the
    layer with the highest precedence, which is where the wrong value most likely came from."""
    layers = [
        config.provenance[key] for key in _DOTTED_KEY.findall(message) if key in config.provenance
    ]
    if not layers:
        return message
    rank = {label: index for index, label in enumerate(config.layers)}
    return f"{message} (set by {max(layers, key=lambda label: rank.get(label, -1))})"


class PipelineParams(ConfigurableResource):
    """Layered parameters: versioned defaults, repo and remote overlays, then run patches."""

    patches: list[str] = Field(
        default=[], description="Run patches as KEY=VALUE, e.g. optimiser.max_price_change=0.1"
    )
    patch_file: str = Field(default="", description="YAML file of patches (path or fsspec URL)")
    replay: str = Field(
        default="",
        description="Run with saved parameters instead of the layers: a Dagster run id, or a "
        "partition such as US|2024-03 (its latest successful run's parameters)",
    )
    deployment: Locations
    _run_id: str | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._run_id = context.run_id if context.dagster_run is not None else None

    def layers(self, market: str, month: str) -> tuple[list[Layer], list[str]]:
        """The layers that exist for a partition, and every layer's name in precedence order,
        optional ones that do not exist marked absent."""
        folder = self.deployment.config_folder()
        defaults = read_layer(str(Path(folder, "defaults.yaml")), trusted=True)
        assert defaults is not None
        # The repo's versioned files are trusted; remote overlays, like patches, are not.
        candidates = [(str(Path(folder, "markets", f"{market}.yaml")), True)]
        remote = self.deployment.overlays_url()
        if remote:
            candidates += [
                (f"{remote}/market={market}.yaml", False),
                (f"{remote}/month={month}.yaml", False),
                (f"{remote}/market={market}/month={month}.yaml", False),
            ]
        layers, names = [defaults], [defaults.label]
        for url, trusted in candidates:
            layer = read_layer(url, optional=True, trusted=trusted)
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
        """The merged parameters of ``market`` and ``YYYY-MM``, with the layer of every value.

        Every check of a layer happens here, before any work: keys and types against the
        defaults, interpolation only in trusted layers, allowed values, partition markets, and
        no secret (by key name or by value) anywhere in the result.
        """
        if self.replay:
            return self._replayed(market, month)
        layers, names = self.layers(market, month)
        check_no_secret_values_in_layers(layers)
        check_no_secrets(layers)
        check_markets(layers)
        resolved = merge_layers(layers[0], layers[1:])
        resolved.layers = names
        check_choices(resolved, ALLOWED_VALUES)
        _check_secret_values(resolved)
        return resolved

    def _replayed(self, market: str, month: str) -> ResolvedConfig:
        """A saved snapshot, validated like any untrusted layer before it is used."""
        if self.patches or self.patch_file:
            raise ConfigError("a replay runs with its saved parameters: drop the patches")
        path = replay_path(self.deployment.lake(), self.replay, market, month)
        replayed = load_snapshot(path)
        folder = self.deployment.config_folder()
        defaults = read_layer(str(Path(folder, "defaults.yaml")), trusted=True)
        assert defaults is not None
        layer = Layer(name=f"replay of {path}", values=replayed.values)
        check_no_secret_values_in_layers([defaults, layer])
        check_no_secrets([layer])
        check_markets([defaults, layer])
        merge_layers(defaults, [layer])  # unknown keys, wrong types, interpolation: refused
        check_choices(replayed, ALLOWED_VALUES)
        _check_secret_values(replayed)
        replayed.layers.append(f"replay of {path}")
        return replayed

    def check(self, market: str, month: str) -> RunParams:
        """The partition's parameters resolved and typed now, outside any run: every error
        a run would meet at its first step, met before it starts."""
        return RunParams.build(self.resolve(market, month), market, month)

    def for_partition(self, market: str, month: str) -> RunParams:
        """The run's frozen parameters: resolved and typed by the first step, read by every
        other step of the run, in whatever process it runs."""
        if self._run_id is None:  # outside a run (tests, the CLI's checks)
            return self.check(market, month)
        resolved, path = frozen_for_run(
            self.deployment.lake(),
            self._run_id,
            [f"market={market}", f"month={month}"],
            lambda: self.check(market, month).config,
        )
        resolved.layers.append(f"frozen at {path}")
        return RunParams.build(resolved, market, month)


RUN_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
PARTITION_REFERENCE = re.compile(
    r"^(?P<market>[A-Z]{2})[|/ ](?P<month>\d{4}-(0[1-9]|1[0-2]))(-01)?$"
)


def replay_path(lake: UPath, reference: str, market: str, month: str) -> UPath:
    """The snapshot a replay reads: always inside the lake's ``_runs/`` or ``_params/``.

    ``reference`` is a Dagster run id (its format checked, so it can never walk out of the
    lake) or a partition such as ``US|2024-03`` (that partition's latest parameters).
    """
    partition = [f"market={market}", f"month={month}"]
    if RUN_ID.match(reference):
        return run_snapshot_path(lake, reference, partition)
    found = PARTITION_REFERENCE.match(reference)
    if found:
        if (found["market"], found["month"]) != (market, month):
            raise ConfigError(
                f"replay {reference!r} names another partition than the run's {market} {month}"
            )
        return latest_snapshot_path(lake, partition)
    raise ConfigError(
        f"replay {reference!r}: give a Dagster run id (like 3f2b8c1e-…, 36 characters) or a "
        "partition such as US|2024-03"
    )


def _check_secret_values(resolved: ResolvedConfig) -> None:
    token_env = (resolved.values.get("delivery") or {}).get("token_env") or ""
    name_secret_variable(token_env)
    check_no_secret_values(resolved, [token_env])


def check_markets(layers: list[Layer]) -> None:
    """A market in an overlay must be a partition market: market keys become storage paths."""
    for layer in layers[1:]:
        for market in layer.values.get("markets", {}) or {}:
            if market not in MARKETS:
                raise ConfigError(
                    f"{layer.name}: market {market!r} is not one of the partition markets "
                    f"({', '.join(MARKETS)}); add it to markets in configs/defaults.yaml first"
                )


def check_patches(patches: list[str], config_folder: str) -> None:
    """Run patches checked alone against the versioned defaults: syntax, unknown keys (with the
    closest valid key), types, allowed values and secrets, with the messages ``shelfcast run``
    prints. Ranges and overlays need the partition and are checked by the run's first step."""
    if not patches:
        return
    defaults = read_layer(str(Path(config_folder, "defaults.yaml")))
    assert defaults is not None
    layer = patch_layer(patches)
    check_no_secrets([layer])
    check_markets([defaults, layer])
    check_choices(merge_layers(defaults, [layer]), ALLOWED_VALUES)


def checked_at_launch(params: PipelineParams) -> ResourceDefinition:
    """The ``params`` resource whose run config is checked when a run is launched.

    Dagster validates a run config against its schema as it is typed in the Launchpad, and
    when a run is launched it builds the run's execution plan in the code location, which
    applies the config mapping of every ``configured`` resource. This mapping checks the
    patches there, so a typo fails the launch (from the UI, ``dagster job execute``, ``dg
    launch`` or a schedule) with the CLI's message, before any run is created.
    """
    definition = params.get_resource_definition()

    def check(config: dict) -> dict:
        try:
            if config.get("replay") and (config.get("patches") or config.get("patch_file")):
                raise ConfigError("a replay runs with its saved parameters: drop the patches")
            check_patches(list(config.get("patches") or []), params.deployment.config_folder())
        except ConfigError as error:
            raise DagsterInvalidConfigError(str(error), [], config) from None
        return config

    return definition.configured(check, config_schema=definition.config_field)
