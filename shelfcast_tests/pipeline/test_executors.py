"""SHELFCAST_EXECUTOR selects where steps run; the Celery workers' file matches the executor; the
production instance holds no credential."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from shelfcast.errors import UserError
from shelfcast.pipeline.executors import CELERY_SETTINGS, deployment_executor

CELERY_YAML = Path(__file__).resolve().parents[2] / "configs/dagster/celery.yaml"


def test_steps_run_in_processes_of_their_own_unless_the_deployment_says_otherwise(monkeypatch):
    monkeypatch.delenv("SHELFCAST_EXECUTOR", raising=False)
    assert deployment_executor().name == "multiprocess"
    for name in ("k8s", "in_process"):
        monkeypatch.setenv("SHELFCAST_EXECUTOR", name)
        assert deployment_executor().name == name


def test_celery_takes_broker_and_backend_from_the_environment_only(monkeypatch):
    monkeypatch.setenv("SHELFCAST_EXECUTOR", "celery")
    monkeypatch.delenv("SHELFCAST_CELERY_BACKEND", raising=False)
    monkeypatch.setenv("SHELFCAST_CELERY_BROKER", "redis://127.0.0.1:6379/0")
    with pytest.raises(UserError, match="set SHELFCAST_CELERY_BACKEND"):
        deployment_executor()
    monkeypatch.setenv("SHELFCAST_CELERY_BACKEND", "redis://127.0.0.1:6379/1")
    assert deployment_executor().name == "celery"


def test_an_unknown_executor_is_refused_naming_the_choices(monkeypatch):
    monkeypatch.setenv("SHELFCAST_EXECUTOR", "ray")
    with pytest.raises(
        UserError, match="SHELFCAST_EXECUTOR='ray': use one of multiprocess, in_process, celery"
    ):
        deployment_executor()


def test_the_workers_file_has_the_executors_settings():
    config = yaml.safe_load(CELERY_YAML.read_text())["execution"]["config"]
    assert config["config_source"] == CELERY_SETTINGS
    assert config["broker"] == {"env": "SHELFCAST_CELERY_BROKER"}
    assert config["backend"] == {"env": "SHELFCAST_CELERY_BACKEND"}


def test_the_production_instance_takes_every_credential_from_the_environment():
    instance = yaml.safe_load((CELERY_YAML.parent / "production.yaml").read_text())
    database = instance["storage"]["postgres"]["postgres_db"]
    for key in ("hostname", "port", "db_name", "username", "password"):
        assert set(database[key]) == {"env"}, key
    assert instance["compute_logs"]["class"] == "S3ComputeLogManager"
    assert instance["compute_logs"]["config"]["bucket"] == {"env": "SHELFCAST_LOG_BUCKET"}
    assert instance["run_coordinator"]["class"] == "QueuedRunCoordinator"
