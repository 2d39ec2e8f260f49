"""Layered parameters with provenance, on OmegaConf.

Layers are applied lowest precedence first: the versioned defaults, then overlays, then patches
given when a run is triggered. Mappings merge key by key (a patch of one key keeps its siblings);
lists are replaced whole. Every key of an upper layer must exist in the defaults with a value of
the same type, so a typo fails before any work, naming the key, the layer and the closest valid
key. For every leaf value the name of the layer that set it is recorded.
"""

from __future__ import annotations

import copy
import difflib
import functools
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from upath import UPath

from shelfcast.errors import UserError
from shelfcast.platform.secrets import secrets_in

PATCH_LAYER = "--patch"


class ConfigError(UserError, ValueError):
    """A parameter layer is malformed, unreadable or names a key or type the defaults do not know."""


@dataclass(frozen=True)
class Layer:
    """One source of parameters: its name (a file URL or ``--patch``) and its values."""

    name: str
    values: dict[str, Any]
    version: str | None = None
    trusted: bool = False  # the repo's versioned files; patches, overlays and replays are not

    @property
    def label(self) -> str:
        """The name with the revision that was read, e.g. ``s3://cfg/market=US.yaml@etag:…``."""
        return self.name if self.version is None else f"{self.name}@{self.version}"


@dataclass
class ResolvedConfig:
    """The merged, resolved parameters and, for every leaf, the layer that set it."""

    values: dict[str, Any]
    provenance: dict[str, str] = field(default_factory=dict)
    layers: list[str] = field(default_factory=list)

    def get(self, dotted_key: str) -> Any:
        node: Any = self.values
        for part in dotted_key.split("."):
            node = node[part]
        return node

    def as_yaml(self) -> str:
        return yaml.safe_dump(self.values, sort_keys=False)

    def to_json(self) -> str:
        return json.dumps(
            {"values": self.values, "provenance": self.provenance, "layers": self.layers},
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> ResolvedConfig:
        data = json.loads(text)
        return cls(values=data["values"], provenance=data["provenance"], layers=data["layers"])


def read_layer(url: str, optional: bool = False, trusted: bool = False) -> Layer | None:
    """Read a YAML layer from a local path or any fsspec URL; ``None`` if optional and absent.

    The layer's version is the object's VersionId or ETag where the store has one, else a hash
    of the content, so provenance can say exactly which revision of a file set a value.
    """
    path = UPath(url)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if optional:
            return None
        raise ConfigError(f"config layer {url} does not exist") from None
    except Exception as error:  # unreachable server, bad credentials, ...
        raise ConfigError(
            f"config layer {url} could not be read ({type(error).__name__}: {error}); "
            "check the URL, the endpoint and the credentials"
        ) from None
    return Layer(
        name=url,
        values=parse_yaml(data.decode(), url),
        version=_version(path, data),
        trusted=trusted,
    )


def _version(path: UPath, data: bytes) -> str:
    if path.protocol not in ("", "file", "local"):
        try:
            info = path.fs.info(path.path)
        except Exception:  # a store without metadata: fall back to the content hash
            info = {}
        for key in ("VersionId", "version_id", "ETag", "etag"):
            if info.get(key):
                return f"{key.lower()}:{str(info[key]).strip(chr(34))}"
    return f"sha256:{hashlib.sha256(data).hexdigest()[:12]}"


def parse_yaml(text: str, source: str) -> dict[str, Any]:
    """The mapping a layer's text holds, checked to be plain values; a fresh copy each time.

    Parsed once per text and source in a process: a history load resolves every month's
    parameters, reading the same defaults and market files each time (PyYAML's pure-Python
    parser takes 9 ms for defaults.yaml)."""
    return copy.deepcopy(_parsed_yaml(text, source))


@functools.lru_cache(maxsize=64)
def _parsed_yaml(text: str, source: str) -> dict[str, Any]:
    try:
        values = yaml.safe_load(text)
    except yaml.constructor.ConstructorError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(
            f"{source}{where}: YAML tags such as !!python/… are not accepted; give plain values "
            "(numbers, strings, true/false, lists, mappings)"
        ) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(f"{source}{where}: malformed YAML ({problem})") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(
            f"{source}: expected a mapping of parameters, found {type(values).__name__}"
        )
    check_plain(values, source)
    return values


PLAIN = (str, int, float, bool, type(None))


def check_plain(values: Mapping[str, Any], source: str) -> None:
    """Only plain values: YAML can also produce dates, bytes and sets, which no parameter is."""
    for key, value in _leaves(values).items():
        items = value if isinstance(value, list) else [value]
        for item in items:
            if not isinstance(item, PLAIN):
                raise ConfigError(
                    f"{source}: {key} holds a {type(item).__name__}, not a plain value; quote "
                    "it as a string or give a number, true/false or a list"
                )


def patch_file_layer(url: str) -> Layer:
    """A patch file: YAML of nested keys or of dotted keys (``optimiser.max_changes: 5``)."""
    layer = read_layer(url)
    assert layer is not None
    nested = OmegaConf.to_container(
        OmegaConf.from_dotlist([f"{k}={json.dumps(v)}" for k, v in _leaves(layer.values).items()])
    )
    return Layer(name=f"--patch-file {url}", values=nested, version=layer.version)  # type: ignore[arg-type]


def patch_layer(patches: Iterable[str], name: str = PATCH_LAYER) -> Layer:
    """``['optimiser.max_price_change=0.1', ...]`` as a layer; values are parsed as YAML."""
    patches = list(patches)
    for patch in patches:
        if "=" not in patch or not patch.split("=", 1)[0].strip():
            raise ConfigError(
                f"{name} {patch!r}: expected KEY=VALUE, e.g. optimiser.max_changes=10"
            )
    try:
        values = OmegaConf.to_container(OmegaConf.from_dotlist(patches))
    except yaml.YAMLError:
        keys = ", ".join(patch.split("=", 1)[0].strip() for patch in patches)
        raise ConfigError(
            f"{name} ({keys}): YAML tags such as !!python/… and other non-plain values are not "
            "accepted; give a plain value, e.g. optimiser.max_changes=10"
        ) from None
    except OmegaConfBaseException as error:
        raise ConfigError(f"{name}: {error}") from None
    check_plain(values, name)  # type: ignore[arg-type]
    return Layer(name=name, values=values)  # type: ignore[arg-type]


def merge_layers(
    defaults: Layer, overlays: Iterable[Layer], open_mappings: Iterable[str] = ()
) -> ResolvedConfig:
    """Merge overlays onto the defaults, checking every key and type against the defaults.

    ``open_mappings`` names mappings (dotted keys) whose entries an overlay may add, such as a
    new market; every other key must already exist in the defaults.
    """
    open_mappings = tuple(open_mappings)
    merged: Any = OmegaConf.create(defaults.values)
    provenance = {key: defaults.label for key in _leaves(defaults.values)}
    names = [defaults.label]
    check_interpolation(defaults)
    for layer in overlays:
        check_interpolation(layer)
        _check_layer(layer, merged, open_mappings)
        merged = OmegaConf.merge(merged, OmegaConf.create(layer.values))
        label = layer.label
        for key in _leaves(layer.values):
            for existing in [k for k in provenance if k.startswith(key + ".")]:
                del provenance[existing]  # a list or mapping replaced whole
            provenance[key] = label
        names.append(label)
    try:
        values = OmegaConf.to_container(merged, resolve=True)
    except OmegaConfBaseException as error:
        raise ConfigError(f"could not resolve parameters: {error}") from None
    return ResolvedConfig(values=values, provenance=provenance, layers=names)  # type: ignore[arg-type]


INTERPOLATION = re.compile(r"\$\{")
RESOLVER = re.compile(r"\$\{\s*([A-Za-z_][\w.]*)\s*:")
# Resolvers a trusted layer may use: none of them reads the environment (``oc.env`` would let a
# versioned file pull a secret into the resolved config). Plain ``${other.key}`` references are
# always allowed in trusted layers.
ALLOWED_RESOLVERS = frozenset({"oc.select", "oc.dict.keys", "oc.dict.values"})


def check_interpolation(layer: Layer) -> None:
    """``${…}`` only in trusted layers, and there only with allowed resolvers.

    An untrusted layer (a patch, a patch file, a remote overlay, a replayed snapshot) holding
    ``${…}`` is refused before any work, naming layer and key: resolving it could read the
    environment of whichever machine runs the step.
    """
    for key, value in _leaves(layer.values).items():
        for text in value if isinstance(value, list) else [value]:
            if not isinstance(text, str) or not INTERPOLATION.search(text):
                continue
            if not layer.trusted:
                raise ConfigError(
                    f"{layer.name}: {key} holds an interpolation (${{…}}); interpolation is "
                    "resolved only in the repo's versioned config files, never in patches, patch "
                    "files, remote overlays or replayed parameters: give the value itself"
                )
            for resolver in RESOLVER.findall(text):
                if resolver not in ALLOWED_RESOLVERS:
                    raise ConfigError(
                        f"{layer.name}: {key} uses the resolver {resolver}, which is not allowed "
                        f"(allowed: {', '.join(sorted(ALLOWED_RESOLVERS))}); config names an "
                        "environment variable, it never reads one"
                    )


def _check_layer(layer: Layer, merged: DictConfig, open_mappings: tuple[str, ...]) -> None:
    reference = OmegaConf.to_container(merged)
    for key, value in _leaves(layer.values).items():
        if any(key == m or key.startswith(m + ".") for m in open_mappings):
            continue
        node: Any = reference
        walked: list[str] = []
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                valid = [".".join([*walked, k]) for k in node] if isinstance(node, Mapping) else []
                hint = difflib.get_close_matches(".".join([*walked, part]), valid, n=1)
                suggestion = f"; did you mean {hint[0]}?" if hint else ""
                raise ConfigError(f"{layer.name}: unknown parameter {key} = {value!r}{suggestion}")
            node = node[part]
            walked.append(part)
        _check_type(layer.name, key, value, node)


def _check_type(layer: str, key: str, value: Any, default: Any) -> None:
    if default is None or value is None:
        return
    expected = type(default)
    ok = isinstance(value, expected) or (
        expected is float and isinstance(value, int) and not isinstance(value, bool)
    )
    if expected is str and isinstance(value, str):
        ok = True
    if isinstance(default, bool) != isinstance(value, bool):
        ok = False
    if not ok:
        raise ConfigError(
            f"{layer}: {key} = {value!r} has type {type(value).__name__}, "
            f"expected {expected.__name__} (default {default!r})"
        )


def _leaves(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings to dotted keys; lists are leaves (they are replaced whole)."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(_leaves(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def check_choices(resolved: ResolvedConfig, choices: Mapping[str, Sequence[Any]]) -> None:
    """Parameters limited to a few values: name the key, the value, its layer and the choices."""
    for key, allowed in choices.items():
        value = resolved.get(key)
        values = value if isinstance(value, list) else [value]
        for item in values:
            if item not in allowed:
                hint = difflib.get_close_matches(str(item), [str(a) for a in allowed], n=1)
                raise ConfigError(
                    f"{resolved.provenance.get(key, '?')}: {key} = {item!r} is not one of "
                    f"{', '.join(map(str, allowed))}"
                    + (f"; did you mean {hint[0]}?" if hint else "")
                )


SECRET_KEY = re.compile(r"(token|secret|password|passwd|api_?key|credential)s?$", re.IGNORECASE)


def check_no_secret_values(resolved: ResolvedConfig, extra_names: Iterable[str] = ()) -> None:
    """Refuse a resolved config that holds a secret's value or a URL with credentials, whatever
    the key: the key and the variable are named, the value never is."""
    found = secrets_in(resolved.values, extra_names)
    if found:
        key, what = found[0]
        layer = resolved.provenance.get(key, "?")
        more = f" (and {len(found) - 1} more key(s))" if len(found) > 1 else ""
        raise ConfigError(
            f"{layer}: {key} holds {what}{more}; secrets never live in config (value withheld). "
            "Put the secret in an environment variable and name that variable, as "
            "delivery.token_env does"
        )


def check_no_secret_values_in_layers(layers: Iterable[Layer]) -> None:
    """The same, layer by layer, before any other check can quote a value in its message.

    Variables that a layer names under a ``*_env`` key (``delivery.token_env``) count as secret.
    """
    layers = list(layers)
    named = [
        str(value)
        for layer in layers
        for key, value in _leaves(layer.values).items()
        if key.endswith("_env") and isinstance(value, str)
    ]
    for layer in layers:
        found = secrets_in(layer.values, named)
        if found:
            key, what = found[0]
            raise ConfigError(
                f"{layer.name}: {key} holds {what}; secrets never live in config (value "
                "withheld). Put the secret in an environment variable and name that variable, "
                "as delivery.token_env does"
            )


def check_no_secrets(layers: Iterable[Layer]) -> None:
    """Refuse secret-looking keys: config names the environment variable that holds a secret."""
    for layer in layers:
        for key, value in _leaves(layer.values).items():
            if SECRET_KEY.search(key.rsplit(".", 1)[-1]) and value not in (None, ""):
                raise ConfigError(
                    f"{layer.name}: {key} looks like a secret; secrets never live in config. "
                    f"Put it in an environment variable and name that variable (e.g. {key}_env)"
                )
