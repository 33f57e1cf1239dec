"""What a person meant by a refused value (core/config/intent.py): the nearest valid value, or
None where nothing can be read into the text, so that no fix guesses."""

from __future__ import annotations

import pytest

from core.config import intent
from core.config.model import DURATION_RE, FAMILY_RE, K8S_NAME_RE


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("never", "Never"),
        (" NEVER ", "Never"),
        ("10 minutes", "10m"),
        ("1.5h", "1h30m"),
        ("1 hour 30 min", "1h30m"),
        ("1d", "24h"),
        ("90 seconds", "1m30s"),
        ("90", None),  # seconds or minutes: no telling
        ("5 parsecs", None),
        ("0s", None),
        ("1.5s", None),
        ("10m then", None),
    ],
)
def test_a_duration_is_read_as_karpenter_writes_it(text, meant):
    assert intent.duration(text) == meant
    if meant:
        assert DURATION_RE.fullmatch(meant)


@pytest.mark.parametrize(
    ("text", "meant"),
    [("GPU_Pool", "gpu-pool"), ("gpu pool!", "gpu-pool"), ("--", None), ("x" * 80, "x" * 63)],
)
def test_an_object_name_is_lower_case_dns(text, meant):
    assert intent.dns_label(text) == meant
    if meant:
        assert K8S_NAME_RE.fullmatch(meant)


@pytest.mark.parametrize(
    ("key", "meant"),
    [
        ("gpu workload", "gpu-workload"),
        ("Example.COM/team name", "example.com/team-name"),
        ("-x-", "x"),
        ("", None),
        (["a"], None),
    ],
)
def test_a_label_key_is_a_qualified_name(key, meant):
    assert intent.label_key(key) == meant
    if meant:
        assert intent.is_label_key(meant)


@pytest.mark.parametrize(
    ("value", "meant"), [("ml team", "ml-team"), (1, "1"), (True, "true"), ("", ""), ({}, None)]
)
def test_a_label_value_is_text(value, meant):
    assert intent.label_value(value) == meant


@pytest.mark.parametrize(
    ("text", "meant"),
    [("100 GB/s", 100.0), ("12.5GBps", 12.5), ("400 Gbps", 50.0), ("fast", None), ("-1", None)],
)
def test_bandwidth_is_gigabytes_per_second(text, meant):
    assert intent.gigabytes_per_second(text) == meant


@pytest.mark.parametrize(
    ("text", "seconds", "meant"),
    [
        ("8 GPUs", False, 8),
        ("30m", True, 1800),
        ("20 min", True, 1200),
        ("2 parsecs", True, None),
        ("4.0", False, 4),
        ("1e+20", False, 10**20),
        ("1e400", False, None),
        ("1.5h", True, 5400),
        ("1.5", False, None),
    ],
)
def test_a_whole_number_with_a_unit(text, seconds, meant):
    assert intent.whole_number(text, seconds=seconds) == meant


@pytest.mark.parametrize(
    ("text", "around"), [("1.5", (1, 2)), ("0.25", (0, 1)), ("4.0", None), ("4", None), ("x", None)]
)
def test_a_fraction_lies_between_two_whole_numbers(text, around):
    assert intent.whole_numbers_around(text) == around


@pytest.mark.parametrize(
    ("text", "readings"),
    [("90", ["1m30s", "1h30m"]), ("300", ["5m", "5h"]), (" 0 ", ["0s"]), ("5m", []), ("-1", [])],
)
def test_a_number_without_a_unit_reads_as_seconds_or_minutes(text, readings):
    assert intent.unitless_duration(text) == readings
    assert all(DURATION_RE.fullmatch(r) for r in readings)  # the NodePool CRD's pattern


def test_a_name_is_folded_and_matched_to_what_ec2_offers():
    offered = ["g5", "g6", "p4d", "r5"]
    assert intent.name("G6 ", FAMILY_RE) == "g6"
    assert intent.name("G5x", FAMILY_RE, offered) == "g5"
    assert intent.name("5", FAMILY_RE, offered) is None  # not a family's shape: no guess
    assert intent.name("P4D ", FAMILY_RE, offered) == "p4d"


def test_no_fix_swaps_one_gpu_for_another_with_a_near_name():
    """p4d (A100) is nearest in spelling to g4dn (T4), p5 (H100) to p5en (H200): each is a
    family EC2 has (botocore's model), so it is what was meant. A name EC2 has no family of is a
    slip for the offered one of its category and generation."""
    offered = ["g4dn", "g5", "g6", "p5en"]
    assert intent.slip_of_family("p4d", offered) is None
    assert intent.name("P4D ", FAMILY_RE, offered) is None
    assert intent.slip_of_family("p5", offered) is None
    assert intent.slip_of_family("g5x", offered) == "g5"
    assert intent.slip_of_family("g4d", offered) == "g4dn"
    assert intent.slip_of_family("p5n", offered) == "p5en"
    assert intent.slip_of_family("q9", offered) is None


def test_a_list_is_read_from_what_the_cli_stores_for_a_plain_value():
    assert intent.words("g6, g5", None) == ["g6", "g5"]
    assert intent.words("[g6 g5]", None) == ["g6", "g5"]
    assert intent.words("", None) is None
    assert intent.words('{"a": 1}', {"a": 1}) is None


def test_a_taint_is_rewritten_as_kubernetes_takes_it_or_not_at_all():
    assert intent.taint("gpu workload", True, "noschedule") == {
        "key": "gpu-workload",
        "value": "true",
        "effect": "NoSchedule",
    }
    assert intent.taint("dedicated", "", "NoExecute") == {"key": "dedicated", "effect": "NoExecute"}
    assert intent.taint("é", "x", "NoSchedule") is None  # no key can be read: no guess
    assert intent.kubectl_taint("[bold]x[/]") is None


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("v1.33", "1.33"),
        ("1.33.2", "1.33"),
        ("1.33-eks-1", "1.33"),
        (" 1.33 ", "1.33"),
        ("one", None),
    ],
)
def test_a_version_written_as_a_release_is_its_minor(text, meant):
    assert intent.minor_version(text) == meant
