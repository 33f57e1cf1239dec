"""`python -m toe cost`: one attendee and a fleet of 30, priced from a Price List response or the
bundled table, with the instance facts moto has from EC2."""

from __future__ import annotations

import json
import shutil
from datetime import date

import boto3
import fixes
import pytest
from botocore.stub import Stubber

from tests.conftest import ROOT, WORKSHOP_STACK, workshop_copy
from tests.fakes.error_page import FIRST_TEXT, PAGE, error_page_server
from toe import cost
from toe.cli import main
from toe.offline.account import load_account
from toe.offline.harness import simulated_aws
from toe.preflight import Clients

REGION = "ap-northeast-2"
ON = date(2026, 12, 1)  # 1.33 is in extended support
PUBLISHED = "2026-11-20T18:12:33Z"
# Hourly prices the stub's Price List answers give (different from the bundled table on purpose).
API_PRICES = {"c7g.2xlarge": 0.33, "c6i.2xlarge": 0.40, "c6g.large": 0.08, "g4dn.xlarge": 0.65}
API_GP3 = 0.10


def price_list_item(attributes: dict, usd: float, unit: str) -> str:
    """One `PriceList` entry as GetProducts returns it (FormatVersion aws_v1): a JSON document in a
    string, with the product's attributes and its OnDemand term's price dimensions."""
    sku = "JRTCKXETXFEXAMPLE"
    return json.dumps(
        {
            "product": {
                "productFamily": "Compute Instance" if unit == "Hrs" else "Storage",
                "attributes": {"location": "Asia Pacific (Seoul)", **attributes},
                "sku": sku,
            },
            "serviceCode": "AmazonEC2",
            "terms": {
                "OnDemand": {
                    f"{sku}.JRTCKXETXF": {
                        "priceDimensions": {
                            f"{sku}.JRTCKXETXF.6YS6EN2CT7": {
                                "unit": unit,
                                "endRange": "Inf",
                                "description": "example",
                                "appliesTo": [],
                                "rateCode": f"{sku}.JRTCKXETXF.6YS6EN2CT7",
                                "beginRange": "0",
                                "pricePerUnit": {"USD": f"{usd:.10f}"},
                            }
                        },
                        "sku": sku,
                        "effectiveDate": "2026-11-01T00:00:00Z",
                        "offerTermCode": "JRTCKXETXF",
                        "termAttributes": {},
                    }
                }
            },
            "version": "20261120181233",
            "publicationDate": PUBLISHED,
        }
    )


def _filters(**attributes) -> list[dict]:
    location = [{"Type": "TERM_MATCH", "Field": "location", "Value": "Asia Pacific (Seoul)"}]
    return location + [
        {"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in attributes.items()
    ]


def recorded_pricing(order: list[str]):
    """A pricing client answering GetProducts for `order` (instance types, or "gp3") in turn."""
    client = boto3.client(
        "pricing", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    stub = Stubber(client)
    for name in order:
        if name == "gp3":
            attributes = {"productFamily": "Storage", "volumeApiName": "gp3"}
            item = price_list_item({"volumeApiName": "gp3"}, API_GP3, "GB-Mo")
        else:
            attributes = {
                "instanceType": name,
                "operatingSystem": "Linux",
                "tenancy": "Shared",
                "preInstalledSw": "NA",
                "capacitystatus": "Used",
            }
            item = price_list_item(attributes, API_PRICES[name], "Hrs")
        stub.add_response(
            "get_products",
            {"FormatVersion": "aws_v1", "PriceList": [item]},
            {
                "ServiceCode": "AmazonEC2",
                "Filters": _filters(**attributes),
                "FormatVersion": "aws_v1",
                "MaxResults": 10,
            },
        )
    stub.activate()
    return client, stub


@pytest.fixture
def ec2():
    with simulated_aws(load_account()):
        session = boto3.Session(region_name=REGION)
        yield Clients(
            ec2=session.client("ec2"),
            quotas=None,
            iam=None,
            sts=session.client("sts"),
            eks=None,
        )


ORDER = ["gp3", "c7g.2xlarge", "c6i.2xlarge", "c6g.large", "g4dn.xlarge"]


def test_a_recorded_price_list_gives_the_expected_total(ec2):
    pricing, stub = recorded_pricing(ORDER)
    report = cost.run(["dev"], hours=8, on=ON, clients=ec2, pricing_client=pricing)
    stub.assert_no_pending_responses()

    (dev,) = report.stacks
    gp3_hour = API_GP3 / 730
    steady = (
        0.60  # EKS 1.33 in extended support on 2026-12-01
        + 2 * API_PRICES["c7g.2xlarge"]
        + 2 * API_PRICES["c6i.2xlarge"]
        + 4 * 50 * gp3_hour  # the node groups' 50 GiB root volumes
        + API_PRICES["c6g.large"] * 1.12  # the system node and its Auto Mode fee
        + 80 * gp3_hour
    )
    # The GPU check's node: 90 s launch, the EFA image's pull (10.5 GB at 29.9 MB/s), 5 s run,
    # then 5 minutes empty before consolidation.
    seconds = 90 + 10_500_000_000 / (1_766_399_024 / 59) + 5 + 300
    once = seconds / 3600 * (API_PRICES["g4dn.xlarge"] * 1.12 + 80 * gp3_hour)
    assert dev.per_hour == pytest.approx(steady, rel=1e-6)
    assert dev.once == pytest.approx(once, rel=1e-4)
    assert report.total == pytest.approx(steady * 8 + once, rel=1e-4)
    sources = {line.item: line.source for line in dev.lines}
    assert sources["node group ng-arm"] == (
        "Price List API (AmazonEC2, Asia Pacific (Seoul)), published 2026-11-20"
    )
    assert sources["EKS control plane (1.33, extended support since 2026-07-29)"].startswith(
        "core/data/eks_versions.yaml"
    )
    assert report.notes == ()


def test_without_the_price_list_the_bundled_table_says_how_old_it_is(ec2):
    report = cost.run(["dev"], hours=8, on=ON, clients=ec2, pricing_client=None)
    (dev,) = report.stacks
    sources = {line.item: line.source for line in dev.lines}
    assert (
        sources["node group ng-x86"]
        == "bundled table prices.yaml, recorded 2026-11-28 (3 days old)"
    )
    line = next(x for x in dev.lines if x.item == "node group ng-x86")
    assert line.usd_per_hour == pytest.approx(2 * 0.384)


def test_a_denied_price_list_falls_back_and_says_why(ec2):
    pricing = boto3.client(
        "pricing", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    stub = Stubber(pricing)
    for _ in range(5):
        stub.add_client_error("get_products", "AccessDeniedException", "not authorized", 400)
    stub.activate()
    report = cost.run(["dev"], on=ON, clients=ec2, pricing_client=pricing)
    assert any("Price List API not used" in n and "not authorized" in n for n in report.notes)
    assert all(
        "bundled table" in x.source or "eks_versions" in x.source or "%" in x.source
        for x in report.stacks[0].lines
    )


def test_standard_support_costs_a_sixth_of_extended(ec2):
    before = cost.run(["dev"], on=date(2026, 7, 1), clients=ec2)
    after = cost.run(["dev"], on=date(2026, 8, 1), clients=ec2)
    plane = next(x for x in before.stacks[0].lines if x.item.startswith("EKS control plane"))
    assert plane.item == "EKS control plane (1.33, standard support)"
    assert plane.usd_per_hour == 0.10
    assert after.stacks[0].per_hour - before.stacks[0].per_hour == pytest.approx(0.50)


def test_a_fleet_of_thirty_costs_thirty_attendees(ec2, tmp_path):
    workshop_copy(tmp_path)
    assert main(["attendees", "add", "--count", "30", "--dir", str(tmp_path)]) == 0
    stacks = [f"attendee{i:02d}" for i in range(1, 31)]
    one = cost.run(["dev"], hours=6, on=ON, clients=ec2)
    fleet = cost.run(stacks, hours=6, on=ON, clients=ec2, project_dir=tmp_path, check_runs=2)
    assert len(fleet.stacks) == 30
    assert fleet.per_hour == pytest.approx(30 * one.stacks[0].per_hour)
    assert fleet.total == pytest.approx(30 * (one.stacks[0].per_hour * 6 + 2 * one.stacks[0].once))


def test_an_efa_type_adds_its_own_node_for_its_pull(ec2, tmp_path):
    fixes.set_config(workshop_copy(tmp_path) / "Pulumi.dev.yaml", efaInstanceType="g5.8xlarge")
    report = cost.run(["dev"], on=ON, clients=ec2, project_dir=tmp_path)
    lines = {x.item: x for x in report.stacks[0].lines}
    efa = lines["EFA check (efaInstanceType)"]
    # Its own node: launch, the Deep Learning Container's pull, the run, 5 minutes empty.
    minutes = (90 + 10_500_000_000 / (1_766_399_024 / 59) + 5 + 300) / 60
    assert efa.quantity == f"1 x g5.8xlarge, {minutes:.0f} min each"
    assert efa.usd_once == pytest.approx(2.936 * minutes / 60, rel=1e-3)
    # The GPU check's node now only pulls the small CUDA base image, at its recorded size.
    gpu_minutes = (90 + 100_999_123 / (1_766_399_024 / 59) + 5 + 300) / 60
    assert lines["GPU check"].quantity == f"1 x g4dn.xlarge, {gpu_minutes:.0f} min each"


def test_cli_offline_prints_the_bill_and_json(capsys):
    assert main(["cost", "--offline", "--hours", "6", "--date", "2026-12-01"]) == 0
    out = capsys.readouterr().out
    assert "per attendee:" in out and "offline" in out
    assert main(["cost", "--offline", "--json", "--date", "2026-12-01"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["perStack"]["dev"]["usdPerHour"] > 0
    assert main(["cost", "--stacks", "dev"]) == 2  # --stacks needs --fleet
    with pytest.raises(SystemExit):
        main(["cost", "--hours", "0"])


def test_an_unknown_stack_is_named_with_the_stacks_there(capsys):
    cases = (
        ["cost", "--stack", "nosuch"],
        ["cost", "--stack", "nosuch", "--offline"],
        ["cost", "--fleet", "--stacks", "nosuch"],
    )
    for argv in cases:
        assert main(argv) == 2
        out = capsys.readouterr().out
        assert out.count("\n") == 1, out
        assert "no stack 'nosuch': there is no Pulumi.nosuch.yaml" in out and "(stacks: dev)" in out
        assert "python -m toe attendees add nosuch" in out
    assert main(["cost", "--stack", "devv", "--offline"]) == 2
    assert "did you mean dev?" in capsys.readouterr().out


def test_the_fix_for_an_unknown_stack_elsewhere_names_the_folder(tmp_path, capsys):
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    assert main(["cost", "--fleet", "--stacks", "a1", "a2", "--dir", str(tmp_path)]) == 2
    out = capsys.readouterr().out
    assert f"no stacks 'a1', 'a2': there are no Pulumi.a1.yaml, Pulumi.a2.yaml in {tmp_path}" in out
    assert f"`python -m toe attendees add a1 a2 --dir {tmp_path}`" in out


def _project(tmp_path, **stacks: str):
    """A project folder with the program and these stack files (name: text)."""
    for name in ("Pulumi.yaml", "__main__.py"):
        (tmp_path / name).symlink_to(ROOT / name)
    for stack, text in stacks.items():
        (tmp_path / f"Pulumi.{stack}.yaml").write_text(text)
    return tmp_path


def test_a_stack_without_a_region_gets_the_config_set_fix(tmp_path, capsys):
    dev = WORKSHOP_STACK.read_text()
    project = _project(tmp_path, noregion=dev.replace("  aws:region: ap-northeast-2\n", ""))
    for extra in ([], ["--offline"], ["--json"]):
        code = main(["cost", "--stack", "noregion", "--dir", str(project), *extra])
        assert code == 1  # as synth: the program's rules refuse the stack
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err and "Invalid endpoint" not in captured.err
        said = captured.out if extra == ["--json"] else captured.err
        assert "pulumi config set --stack noregion aws:region ap-northeast-2" in said
    assert captured.out.startswith('{\n  "status": "config-problems"')


def test_config_problems_are_reported_as_synth_reports_them(tmp_path, capsys):
    dev = WORKSHOP_STACK.read_text()
    bad = dev.replace("ng-arm", "ng arm!").replace("minSize: 2", "minSize: -1")
    project = _project(tmp_path, bad=bad)
    code = main(["synth", "--stack", "bad", "--dir", str(project), "--out", str(tmp_path / "o")])
    synth_lines = capsys.readouterr().err.splitlines()
    assert main(["cost", "--stack", "bad", "--dir", str(project), "--offline"]) == code == 1
    cost_lines = capsys.readouterr().err.splitlines()
    problems = [line for line in synth_lines if line.startswith("  ")]
    assert (
        len(problems) == 6 and sum("fix: pulumi config set --stack bad" in p for p in problems) == 3
    )
    assert cost_lines == [
        "cost: Stack 'bad' has 3 configuration problems; nothing was priced:",
        *problems,
    ]


def test_a_price_list_answering_an_html_page_is_one_line_and_verbose_prints_it(
    ec2, capsys, monkeypatch
):
    from botocore.config import Config

    with error_page_server() as url:
        pricing = boto3.client(
            "pricing",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="y",
            config=Config(retries={"max_attempts": 1}),
        )
        report = cost.run(["dev"], on=ON, clients=ec2, pricing_client=pricing)
    assert report.notes == (
        f"Price List API not used (HTTP 500 from Price List GetProducts: {FIRST_TEXT}): "
        "bundled table",
    )
    assert report.response_bodies == (PAGE,)

    monkeypatch.setattr(cost, "run", lambda *_args, **_kwargs: report)
    assert main(["cost", "--date", "2026-12-01"]) == 0
    out = capsys.readouterr().out
    assert out.count("HTTP 500 from Price List") == 1 and "<" not in out
    assert "[bold]could not[/bold]" in out and "--verbose prints the whole response" in out
    assert main(["cost", "--date", "2026-12-01", "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "<!DOCTYPE html>" in out and "Diagnostic line 19" in out
    assert main(["cost", "--date", "2026-12-01", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["responseBodies"] == [PAGE]
