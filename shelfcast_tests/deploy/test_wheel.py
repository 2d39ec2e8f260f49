"""The wheel is what production installs: built from this tree, installed with its dependencies in
a fresh virtual environment outside the repository, it must load its definitions and run a
partition with the parameter files it carries, from a working directory that is no checkout.

The build context is the one the Dockerfile copies (pyproject.toml, setup.cfg, README.md and
shelfcast/), and the install is the image's, ``shelfcast[deploy]``, so what passes here is what
the user-code image holds. The install takes about two minutes from the machine's package mirrors.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from shelfcast_tests.s3_server import PIPELINE_ASSETS

pytestmark = [pytest.mark.slow, pytest.mark.deploy]

REPO = Path(__file__).resolve().parents[2]
# What the Dockerfile's builder stage copies; nothing else may be needed to build the wheel.
BUILD_CONTEXT = ("pyproject.toml", "setup.cfg", "README.md", "shelfcast")
MARKET, MONTH = "US", "2024-03"
ASSETS = PIPELINE_ASSETS


@dataclass
class Installed:
    bin: Path
    work: Path  # outside the repository: the working directory of every command

    def run(self, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
        """A command of the virtual environment, cwd outside the repository, output captured."""
        result = subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            cwd=cwd or self.work,
            env={**clean_env(), **(env or {})},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, f"{args}: exit {result.returncode}\n{result.stderr[-3000:]}"
        return result


def clean_env() -> dict[str, str]:
    """The environment without anything that could lead the installed package back to this
    checkout (PYTHONPATH, the active venv) or to other folders (SHELFCAST_*, DAGSTER_HOME)."""
    dropped = ("PYTHONPATH", "VIRTUAL_ENV", "DAGSTER_HOME", "PYTHONSTARTUP")
    return {
        key: value
        for key, value in os.environ.items()
        if key not in dropped and not key.startswith("SHELFCAST_")
    }


def pip(python: Path, *args: str, timeout: float) -> None:
    result = subprocess.run(
        [str(python), "-m", "pip", *args],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, (
        f"pip {args[0]}: exit {result.returncode}\n{result.stderr[-3000:]}"
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    """The wheel built from a copy of the build context, installed with the deploy extra."""
    root = tmp_path_factory.mktemp("wheel")
    assert REPO not in root.parents, "the virtual environment must live outside the repository"
    source = root / "source"
    for name in BUILD_CONTEXT:
        if (REPO / name).is_dir():
            shutil.copytree(
                REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            source.mkdir(exist_ok=True)
            shutil.copy(REPO / name, source / name)
    pip(
        Path(sys.executable),
        "wheel",
        "--no-deps",
        str(source),
        "-w",
        str(root / "dist"),
        timeout=300,
    )
    (wheel,) = (root / "dist").glob("shelfcast-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True, env=clean_env())
    # --no-compile: bytecode is written at first import instead of for every module up front.
    pip(
        root / "venv" / "bin" / "python",
        "install",
        "-q",
        "--no-compile",
        f"{wheel}[deploy]",
        timeout=600,
    )
    work = root / "work"
    work.mkdir()
    return Installed(bin=root / "venv" / "bin", work=work)


@pytest.fixture(scope="module")
def found(installed) -> dict:
    """What the installed package resolves with nothing set, run from the working directory."""
    script = (
        "import json, shelfcast\n"
        "from shelfcast.pipeline import resources\n"
        "from shelfcast.pipeline.metadata import display_layer\n"
        "print(json.dumps({'package': shelfcast.__file__, 'checkout': str(resources.CHECKOUT),\n"
        "  'configs': resources.Locations().config_folder(),\n"
        "  'lake': resources.Locations().storage_url(),\n"
        "  'label': display_layer(f\"{resources.CONFIG_DIR}/defaults.yaml@sha256:x\")}))\n"
    )
    return json.loads(installed.run("python", "-c", script).stdout)


def test_the_installed_package_uses_the_configs_it_carries_and_the_working_directory(
    installed, found
):
    site_packages = installed.bin.parent / "lib"
    assert Path(found["package"]).is_relative_to(site_packages)
    assert found["checkout"] == "None"
    assert Path(found["configs"]) == Path(found["package"]).parent / "configs"
    assert (Path(found["configs"]) / "defaults.yaml").is_file()
    for template in ("local.yaml", "production.yaml", "celery.yaml"):
        assert (Path(found["configs"]) / "dagster" / template).is_file(), template
    assert found["lake"] == str(installed.work / "data" / "lake")
    assert found["label"] == "configs/defaults.yaml@sha256:x"


def test_the_definitions_validate_from_the_wheel(installed):
    result = installed.run("dagster", "definitions", "validate", "-m", "shelfcast.definitions")
    output = result.stdout + result.stderr  # Dagster's logger writes to either, by version
    assert "Validation successful for code location shelfcast.definitions" in output


def test_one_partition_runs_from_the_wheel_into_the_lake_and_the_outbox(installed, found, tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    configs = Path(found["configs"])
    shutil.copy(configs / "dagster" / "local.yaml", home / "dagster.yaml")
    env = {
        "SHELFCAST_LANDING": str(tmp_path / "landing"),
        "SHELFCAST_STORAGE": str(tmp_path / "lake"),
        "SHELFCAST_OUTBOX": str(tmp_path / "outbox"),
        "DAGSTER_HOME": str(home),
    }
    installed.run(
        "shelfcast", "data", "generate", "--markets", MARKET, "--products", "40",
        "--first-month", "2023-01", "--last-month", MONTH, env=env,
    )  # fmt: skip
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    installed.run(
        "shelfcast", "run", "--market", MARKET, "--month", MONTH, "--workers", "1",
        env=env, cwd=cwd,
    )  # fmt: skip
    partition = Path(f"market={MARKET}", f"month={MONTH}.parquet")
    for asset in ASSETS:
        assert (tmp_path / "lake" / asset / partition).is_file(), asset
    outbox = tmp_path / "outbox" / f"market={MARKET}" / f"month={MONTH}"
    manifest = json.loads((outbox / "manifest.json").read_text())
    assert (outbox / "batch.json").is_file() and manifest
    assert not (cwd / "data").exists(), "the variables, not the cwd default, were used"


def test_the_landing_default_of_an_installed_package_is_data_in_the_working_directory(
    installed, tmp_path
):
    installed.run(
        "shelfcast", "data", "generate", "--markets", MARKET, "--products", "5",
        "--first-month", MONTH, "--last-month", MONTH, cwd=tmp_path,
    )  # fmt: skip
    drop = tmp_path / "data" / "landing" / "sales" / f"market={MARKET}" / f"month={MONTH}"
    assert any(drop.iterdir())


def test_shelfcast_config_dir_replaces_the_packaged_parameters(installed, found, tmp_path):
    configs = tmp_path / "configs"
    shutil.copytree(found["configs"], configs)
    defaults = configs / "defaults.yaml"
    text = defaults.read_text()
    assert text.count("max_changes: 40") == 1
    defaults.write_text(text.replace("max_changes: 40", "max_changes: 7"))
    show = ("shelfcast", "config", "show", "--market", MARKET, "--month", MONTH, "--provenance")

    packaged = installed.run(*show).stdout
    changed = installed.run(*show, env={"SHELFCAST_CONFIG_DIR": str(configs)}).stdout

    assert re.search(r"^optimiser\.max_changes\s+40\s", packaged, re.MULTILINE)
    row = re.search(r"^optimiser\.max_changes\s+7\s+(\S+)", changed, re.MULTILINE)
    assert row and row.group(1).startswith(f"{defaults}@sha256:")


def test_the_deploy_extra_brings_the_production_engines_and_the_k8s_executor_loads(installed):
    script = (
        "from dagster_celery import celery_executor\n"
        "from dagster_k8s import K8sRunLauncher, k8s_job_executor\n"
        "from dagster_postgres import PostgresRunStorage\n"
        "from dagster_aws.s3.compute_log_manager import S3ComputeLogManager\n"
        "import redis\n"
        "from shelfcast.definitions import defs\n"
        "print(defs.executor.name)\n"
    )
    loaded = installed.run("python", "-c", script, env={"SHELFCAST_EXECUTOR": "k8s"})
    assert loaded.stdout.strip().splitlines()[-1] == "k8s"
