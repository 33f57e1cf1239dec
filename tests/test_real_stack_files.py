"""The offline tools on stack files as the real Pulumi CLI leaves them (tests/data/stackfiles):
after `pulumi stack init` (an encryption salt after `config:`), `pulumi config set`, `--secret`
values (decrypted with the stack's passphrase, else stood in for and never printed), and after
`toe attendees add`."""

from __future__ import annotations

import json
import shutil
from datetime import date

import boto3
import fixes
import pytest
from conftest import ROOT, link_program

from toe import cost, preflight
from toe.offline.account import load_account
from toe.offline.harness import simulated_aws
from toe.preflight import Clients
from toe.stack_secrets import SecretText
from toe.stackfiles import StackFileError, read_config, stack_config

STACK_FILES = ROOT / "tests" / "data" / "stackfiles"
CLI_FILES = ["init", "config-set", "secrets", "kms"]
PASSPHRASE = "workshop-passphrase"  # tests/data/stackfiles/README.md
SECRET_IMAGE = "registry.example.com/cuda:12.8"
DEFAULT_IMAGE = "nvcr.io/nvidia/cuda:12.8.1-base-ubuntu24.04"
TODAY = date(2026, 11, 28)


@pytest.fixture(scope="module")
def session():
    with simulated_aws(load_account()):
        yield boto3.Session(region_name="ap-northeast-2")


@pytest.fixture(scope="module")
def lookup(session):
    from core import instance_types

    return instance_types.boto3_lookup(session.client("ec2"))


def project(tmp_path, name: str):
    link_program(tmp_path)
    shutil.copy(STACK_FILES / f"Pulumi.{name}.yaml", tmp_path / "Pulumi.dev.yaml")
    return tmp_path


@pytest.mark.parametrize("name", CLI_FILES)
def test_cost_and_preflight_read_every_real_stack_file_and_edits_to_it(
    tmp_path, session, monkeypatch, name
):
    """The two tests that once edited the checkout's file as text, on each real file."""
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    directory = project(tmp_path, name)
    ec2 = Clients(ec2=session.client("ec2"), quotas=None, iam=None, sts=session.client("sts"))
    fixes.set_config(directory / "Pulumi.dev.yaml", efaInstanceType="g5.8xlarge")
    report = cost.run(["dev"], on=TODAY, clients=ec2, project_dir=directory)
    assert "EFA check (efaInstanceType)" in {line.item for line in report.stacks[0].lines}
    fixes.set_config(directory / "Pulumi.dev.yaml", distributedCheck=True)
    checked = preflight.run("dev", clients=ec2, today=TODAY, project_dir=directory)
    ids = {c.id: c for c in checked.checks}
    assert "config" not in ids, ids["config"].summary  # it appears only when the config fails
    assert "quotas" in ids


def test_config_set_values_arrive_as_the_cli_wrote_them(tmp_path, lookup):
    cfg = read_config("dev", lookup, project(tmp_path, "config-set"), today=TODAY)
    assert cfg.gpu_pool.max_gpus == 8  # `pulumi config set gpuMaxGpus 8` wrote the text "8"


def test_a_secret_opens_with_the_stacks_passphrase(tmp_path, lookup, monkeypatch):
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE)
    directory = project(tmp_path, "secrets")
    values = stack_config("dev", directory)
    image = values["training-on-eks:gpuCheckImage"]
    assert isinstance(image, SecretText) and image.known
    assert image == SECRET_IMAGE
    assert repr(image) == "SecretText([secret])"  # never the text, not even in a traceback
    groups = json.loads(values["training-on-eks:nodeGroups"])
    assert groups[1]["labels"] == {"team": "blue"}  # a secret set with --path
    cfg = read_config("dev", lookup, directory, today=TODAY)
    assert cfg.checks.gpu_image == SECRET_IMAGE
    assert cfg.node_groups[0].max_size == 3


def test_a_passphrase_file_opens_it_too(tmp_path, monkeypatch):
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    (tmp_path / "phrase").write_text(PASSPHRASE)
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE_FILE", str(tmp_path / "phrase"))
    values = stack_config("dev", project(tmp_path, "secrets"))
    assert values["training-on-eks:gpuCheckImage"] == SECRET_IMAGE


@pytest.mark.parametrize("name", ["secrets", "kms"])
def test_without_the_key_a_secret_is_a_stand_in_the_checks_accept(
    tmp_path, lookup, monkeypatch, name
):
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    directory = project(tmp_path, name)
    fixes.set_config(directory / "Pulumi.dev.yaml", gpuCheckImage={"secure": "v1:AAAA:BBBB"})
    image = stack_config("dev", directory)["training-on-eks:gpuCheckImage"]
    assert isinstance(image, SecretText) and not image.known
    assert image == DEFAULT_IMAGE  # the key's default: its type checks pass
    assert read_config("dev", lookup, directory, today=TODAY).checks.gpu_image == DEFAULT_IMAGE


def test_a_wrong_passphrase_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "not-the-passphrase")
    with pytest.raises(StackFileError) as err:
        stack_config("dev", project(tmp_path, "secrets"))
    assert "does not open this stack's secrets (incorrect passphrase)" in str(err.value)
