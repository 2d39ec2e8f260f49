"""Layered parameters: precedence, deep merge, typos and types named with their layer."""

from pathlib import Path

import pytest

from shelfcast.platform.config import (
    ConfigError,
    Layer,
    merge_layers,
    patch_layer,
    read_layer,
)

DEFAULTS = Layer(
    name="defaults.yaml",
    values={
        "optimiser": {"max_price_change": 0.2, "max_changes": 40, "price_ladder": [-0.1, 0.0, 0.1]},
        "forecast": {"model": "seasonal_trend", "horizon_days": 28},
    },
)


def test_later_layers_win_and_provenance_names_the_layer():
    overlay = Layer(name="markets/US.yaml", values={"optimiser": {"max_changes": 10}})
    resolved = merge_layers(DEFAULTS, [overlay, patch_layer(["optimiser.max_changes=5"])])
    assert resolved.get("optimiser.max_changes") == 5
    assert resolved.provenance["optimiser.max_changes"] == "--patch"
    assert resolved.provenance["optimiser.max_price_change"] == "defaults.yaml"


def test_a_patch_of_one_key_keeps_its_siblings():
    resolved = merge_layers(DEFAULTS, [patch_layer(["optimiser.max_price_change=0.1"])])
    assert resolved.get("optimiser") == {
        "max_price_change": 0.1,
        "max_changes": 40,
        "price_ladder": [-0.1, 0.0, 0.1],
    }


def test_lists_are_replaced_whole():
    resolved = merge_layers(DEFAULTS, [patch_layer(["optimiser.price_ladder=[-0.3,0.0]"])])
    assert resolved.get("optimiser.price_ladder") == [-0.3, 0.0]
    assert resolved.provenance["optimiser.price_ladder"] == "--patch"


def test_a_typo_names_key_layer_and_closest_valid_key():
    with pytest.raises(ConfigError) as error:
        merge_layers(DEFAULTS, [patch_layer(["optimiser.max_chnages=5"])])
    message = str(error.value)
    assert "--patch" in message
    assert "optimiser.max_chnages" in message
    assert "did you mean optimiser.max_changes" in message


def test_a_wrong_type_names_key_value_and_expected_type():
    overlay = Layer(name="s3://cfg/market=US.yaml", values={"forecast": {"horizon_days": "four"}})
    with pytest.raises(
        ConfigError, match=r"s3://cfg/market=US.yaml: forecast.horizon_days = 'four'.*expected int"
    ):
        merge_layers(DEFAULTS, [overlay])


def test_an_int_is_accepted_where_a_float_is_expected():
    resolved = merge_layers(DEFAULTS, [patch_layer(["optimiser.max_price_change=1"])])
    assert resolved.get("optimiser.max_price_change") == 1


def test_malformed_yaml_names_file_and_line(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text("optimiser:\n  max_changes: 3\n  objective: [margin\n")
    with pytest.raises(ConfigError, match=r"bad.yaml line \d+"):
        read_layer(str(path))


def test_a_missing_optional_overlay_is_fine_and_a_missing_required_one_is_not(tmp_path: Path):
    assert read_layer(str(tmp_path / "absent.yaml"), optional=True) is None
    with pytest.raises(ConfigError, match="does not exist"):
        read_layer(str(tmp_path / "absent.yaml"))


def test_a_patch_without_equals_sign_is_rejected():
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        patch_layer(["optimiser.max_changes"])
