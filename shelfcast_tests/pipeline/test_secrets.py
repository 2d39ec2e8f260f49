"""Secrets cannot enter configuration, logs or the lake, by any layer.

The threat: a patch, a patch file, a remote overlay or a replayed snapshot (none of them
versioned, all of them untrusted) that pulls a secret into the resolved parameters, which are
saved in the lake, put in metadata, logged and shown. Each case is refused before any step with
a message that names the key and never the value; the last test runs them all plus a real HTTP
delivery with a known fake token and then searches every file the run could have written.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shelfcast.cli import app
from shelfcast.pipeline.params import PipelineParams
from shelfcast.pipeline.resources import Locations
from shelfcast.pipeline.runner import replay, run_partitions
from shelfcast.platform.config import ConfigError
from shelfcast.platform.secrets import MASK, redact
from shelfcast_tests.partner_api.helpers import TOKEN, running_partner

AWS_SECRET = "aws-secret-value-3c9d1e7f"


@pytest.fixture
def secret_env(monkeypatch):
    monkeypatch.setenv("PARTNER_API_TOKEN", TOKEN)
    monkeypatch.setenv("SHELFCAST_TEST_PASSWORD", AWS_SECRET)


def check(patches=(), patch_file: str = "", deployment: Locations | None = None):
    params = PipelineParams(
        patches=list(patches), patch_file=patch_file, deployment=deployment or Locations()
    )
    return params.check("US", "2024-03")


def refusal(**settings) -> str:
    with pytest.raises(ConfigError) as refused:
        check(**settings)
    text = str(refused.value)
    assert TOKEN not in text and AWS_SECRET not in text
    return text


def test_interpolation_in_a_patch_is_refused_naming_layer_and_key(secret_env):
    text = refusal(patches=["delivery.url=${oc.env:PARTNER_API_TOKEN}"])
    assert "--patch: delivery.url holds an interpolation" in text


def test_interpolation_in_a_patch_file_is_refused(secret_env, tmp_path: Path):
    patch_file = tmp_path / "patch.yaml"
    patch_file.write_text("delivery:\n  url: ${oc.env:PARTNER_API_TOKEN}\n")
    text = refusal(patch_file=str(patch_file))
    assert f"--patch-file {patch_file}" in text and "delivery.url holds an interpolation" in text


@pytest.mark.slow
def test_interpolation_in_a_remote_overlay_on_s3_is_refused(secret_env, s3_env, s3_server):
    s3_server.client().put_object(
        Bucket=s3_env,
        Key="config/market=US.yaml",
        Body=b"delivery:\n  url: ${oc.env:PARTNER_API_TOKEN}\n",
    )
    text = refusal(deployment=Locations(config_url=f"s3://{s3_env}/config"))
    assert f"s3://{s3_env}/config/market=US.yaml" in text
    assert "delivery.url holds an interpolation" in text


def test_a_trusted_file_may_not_use_a_resolver_that_reads_the_environment(secret_env, tmp_path):
    import shutil

    configs = tmp_path / "configs"
    shutil.copytree(Locations().config_folder(), configs)
    (configs / "markets" / "US.yaml").write_text("delivery:\n  url: ${oc.env:PARTNER_API_TOKEN}\n")
    text = refusal(deployment=Locations(config_dir=str(configs)))
    assert "uses the resolver oc.env, which is not allowed" in text


def test_a_secret_value_under_an_innocent_key_is_refused_with_the_value_withheld(secret_env):
    text = refusal(patches=[f"delivery.url=https://partner.example.com/{TOKEN}"])
    assert "delivery.url holds the value of the environment variable PARTNER_API_TOKEN" in text
    assert "value withheld" in text
    text = refusal(patches=[f"forecast.model={AWS_SECRET}"])
    assert "SHELFCAST_TEST_PASSWORD" in text


def test_a_url_with_credentials_is_refused_before_any_step(secret_env):
    text = refusal(patches=["delivery.url=https://svc:hunter2-long@partner.example.com/v1"])
    assert "delivery.url holds a URL with credentials" in text and "hunter2" not in text


def test_a_yaml_tag_in_a_patch_gives_one_clear_message(secret_env):
    text = refusal(patches=["x=!!python/object/apply:os.system ['echo pwned']"])
    assert "YAML tags such as !!python/… and other non-plain values are not accepted" in text


def test_a_yaml_tag_in_a_patch_file_gives_one_clear_message(secret_env, tmp_path):
    patch_file = tmp_path / "patch.yaml"
    patch_file.write_text("optimiser:\n  max_changes: !!python/object/apply:os.system ['id']\n")
    assert "YAML tags such as !!python/… are not accepted" in refusal(patch_file=str(patch_file))


@pytest.mark.parametrize("reference", ["../../somewhere", "/etc/passwd", "s3://other/params.json"])
def test_a_replay_reference_outside_the_lake_is_refused(workspace, reference):
    with pytest.raises(ConfigError, match="give a Dagster run id"):
        replay(reference)
    with pytest.raises(ConfigError, match="give a Dagster run id"):
        PipelineParams(replay=reference, deployment=Locations()).check("US", "2024-03")


def test_redaction_masks_secret_values_and_credentials_in_any_text(secret_env):
    text = f"token {TOKEN} and https://me:{AWS_SECRET}@host/x"
    masked = redact(text)
    assert TOKEN not in masked and AWS_SECRET not in masked and MASK in masked


def test_config_show_never_prints_a_secret(secret_env):
    result = CliRunner().invoke(
        app,
        [
            "config",
            "show",
            "--market",
            "US",
            "--month",
            "2024-03",
            "--patch",
            "delivery.url=${oc.env:SHELFCAST_TEST_PASSWORD}",
        ],
    )
    assert result.exit_code == 1
    assert AWS_SECRET not in result.output and "holds an interpolation" in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_after_every_case_and_a_real_delivery_the_token_is_nowhere(
    workspace, secret_env, monkeypatch, tmp_path, capfd
):
    monkeypatch.setenv("DAGSTER_HOME", str(workspace.home))
    attempts = [
        ["delivery.url=${oc.env:PARTNER_API_TOKEN}"],
        [f"delivery.url=https://partner.example.com/{TOKEN}"],
        [f"delivery.url=https://svc:{TOKEN}@partner.example.com/v1"],
    ]
    for patches in attempts:
        with pytest.raises(ConfigError):
            run_partitions(["US"], ["2024-03"], patches)
    runner = CliRunner()
    for patches in attempts:
        args = ["run", "--market", "US", "--month", "2024-03"]
        for patch in patches:
            args += ["--patch", patch]
        result = runner.invoke(app, args)
        assert result.exit_code == 1 and TOKEN not in result.output
    with running_partner(tmp_path / "partner.sqlite3") as partner:
        http = ["delivery.kind=http", f"delivery.url={partner.batches_url}"]
        outcome = run_partitions(["US"], ["2024-03"], http)[0]
        assert outcome.success, outcome.error
    captured = capfd.readouterr()
    assert TOKEN not in captured.out + captured.err
    searched = 0
    for root in (workspace.lake, workspace.outbox, workspace.home):
        for path in Path(root).rglob("*"):
            if path.is_file():
                searched += 1
                assert TOKEN.encode() not in path.read_bytes(), path
    assert searched > 50
    assert os.environ["PARTNER_API_TOKEN"] == TOKEN
