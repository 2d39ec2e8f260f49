"""Where the deployment's files are when nothing is set: the package's configs, the data folder."""

from __future__ import annotations

from pathlib import Path

import shelfcast
from shelfcast.pipeline import resources
from shelfcast.pipeline.metadata import display_layer
from shelfcast.pipeline.resources import Locations


def test_the_versioned_parameters_are_read_from_the_package(monkeypatch):
    monkeypatch.delenv("SHELFCAST_CONFIG_DIR", raising=False)
    folder = Path(Locations().config_folder())
    assert folder == Path(shelfcast.__file__).resolve().parent / "configs"
    assert (folder / "defaults.yaml").is_file()


def test_shelfcast_config_dir_overrides_the_package_and_a_field_overrides_both(
    monkeypatch, tmp_path
):
    monkeypatch.setenv("SHELFCAST_CONFIG_DIR", str(tmp_path / "env"))
    assert Locations().config_folder() == str(tmp_path / "env")
    assert Locations(config_dir=str(tmp_path / "field")).config_folder() == str(tmp_path / "field")


def test_the_repository_configs_link_points_at_the_package_configs():
    checkout = Path(shelfcast.__file__).resolve().parents[1]
    assert (checkout / "configs").resolve() == resources.CONFIG_DIR


def test_data_defaults_to_the_checkout_in_a_checkout(monkeypatch, tmp_path):
    monkeypatch.delenv("SHELFCAST_STORAGE", raising=False)
    monkeypatch.chdir(tmp_path)
    assert resources.CHECKOUT is not None
    assert Locations().storage_url() == str(resources.CHECKOUT / "data" / "lake")


def test_installed_data_defaults_to_the_working_directory(monkeypatch, tmp_path):
    for name in ("SHELFCAST_STORAGE", "SHELFCAST_LANDING", "SHELFCAST_OUTBOX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(resources, "CHECKOUT", None)  # as in site-packages
    monkeypatch.chdir(tmp_path)
    deployment = Locations()
    assert deployment.storage_url() == str(tmp_path / "data" / "lake")
    assert deployment.landing_url() == str(tmp_path / "data" / "landing")
    assert deployment.outbox_url() == str(tmp_path / "data" / "outbox")


def test_the_package_defaults_are_shown_as_configs_whether_installed_or_not():
    label = f"{resources.CONFIG_DIR / 'defaults.yaml'}@sha256:0123456789ab"
    assert display_layer(label) == "configs/defaults.yaml@sha256:0123456789ab"
    assert display_layer("s3://cfg/market=US.yaml@etag:1") == "s3://cfg/market=US.yaml@etag:1"
