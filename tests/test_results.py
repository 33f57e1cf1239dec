"""Parsers in core/results.py, on every real fixture and on broken messages."""

from __future__ import annotations

import pytest
from conftest import shared_path

from core import results
from core.results import EfaProvider, GpuInfo, ResultParseError

H200 = GpuInfo("NVIDIA H200", "580.159.04", 143771)
FIXTURE_FILES = [
    "nvidia-smi/h200/list.txt",
    "nvidia-smi/h200/nvidia-smi.txt",
    "nvidia-smi/h200/q.txt",
    "nvidia-smi/h200/q.xml",
    "nvidia-smi/h200/query-bad-field.exit-code.txt",
    "nvidia-smi/h200/query-bad-field.stdout.txt",
    "nvidia-smi/h200/query-full.csv",
    "nvidia-smi/h200/query-noheader.csv",
    "nvidia-smi/h200/query-nounits.csv",
    "nvidia-smi/h200/version.txt",
    "nvidia-smi/t4g/nvidia-smi.txt",
    "fi_info/no-efa/exit-code.txt",
    "fi_info/no-efa/stderr.txt",
    "fi_info/no-efa/stdout.txt",
    "fi_info/shm/exit-code.txt",
    "fi_info/shm/stderr.txt",
    "fi_info/shm/stdout.txt",
    "fi_info/version.txt",
    "README.md",
]


def _fixture(relative: str) -> str:
    return shared_path("fixtures", *relative.split("/")).read_text()


def test_fixture_list_covers_every_file() -> None:
    root = shared_path("fixtures")
    found = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert found == sorted(FIXTURE_FILES)


@pytest.mark.parametrize(
    "relative", ["nvidia-smi/h200/query-nounits.csv", "nvidia-smi/h200/query-noheader.csv"]
)
def test_gpu_csv_without_header(relative: str) -> None:
    assert results.parse_gpu_csv(_fixture(relative)) == (H200,)


def test_gpu_csv_full_with_header_finds_columns_by_name() -> None:
    assert results.parse_gpu_csv(_fixture("nvidia-smi/h200/query-full.csv")) == (H200,)


def test_gpu_csv_bad_field_is_a_parse_error() -> None:
    assert _fixture("nvidia-smi/h200/query-bad-field.exit-code.txt").strip() == "2"
    with pytest.raises(ResultParseError, match="bogus_field"):
        results.parse_gpu_csv(_fixture("nvidia-smi/h200/query-bad-field.stdout.txt"))


@pytest.mark.parametrize(
    "relative",
    ["nvidia-smi/h200/list.txt", "nvidia-smi/h200/nvidia-smi.txt", "nvidia-smi/h200/version.txt"],
)
def test_gpu_csv_rejects_other_nvidia_smi_output(relative: str) -> None:
    with pytest.raises(ResultParseError):
        results.parse_gpu_csv(_fixture(relative))


def test_q_xml_agrees_with_the_csv() -> None:
    xml = _fixture("nvidia-smi/h200/q.xml")
    assert "<product_name>NVIDIA H200</product_name>" in xml
    assert "<driver_version>580.159.04</driver_version>" in xml
    assert "<cuda_version>13.0</cuda_version>" in xml


def test_fi_info_shm_listing_is_parsed_and_is_not_efa() -> None:
    providers = results.parse_fi_info(_fixture("fi_info/shm/stdout.txt"))
    assert providers == (EfaProvider("shm", "shm", "shm", "FI_EP_RDM"),) * 2
    assert results.efa_only(providers) == ()
    assert _fixture("fi_info/shm/exit-code.txt").strip() == "0"
    assert _fixture("fi_info/shm/stderr.txt") == ""


def efa_listing_from_shm() -> str:
    """What `fi_info -p efa` prints on an EFA host, derived from the real shm fixture.

    The fixtures README: an EFA host prints blocks of the same shape with `provider: efa`, a domain
    such as `rdmap0s29-rdm`, `type: FI_EP_RDM` and `protocol: FI_PROTO_EFA`.
    """
    text = _fixture("fi_info/shm/stdout.txt")
    for old, new in [
        ("provider: shm", "provider: efa"),
        ("fabric: shm", "fabric: efa"),
        ("domain: shm", "domain: rdmap0s29-rdm"),
        ("FI_PROTO_SHM", "FI_PROTO_EFA"),
    ]:
        text = text.replace(old, new)
    return text


def test_fi_info_efa_listing_derived_from_shm_fixture() -> None:
    providers = results.parse_fi_info(efa_listing_from_shm())
    assert providers == (EfaProvider("efa", "efa", "rdmap0s29-rdm", "FI_EP_RDM"),) * 2
    assert results.efa_only(providers) == providers


def test_fi_info_no_efa_output_has_no_entries() -> None:
    assert _fixture("fi_info/no-efa/exit-code.txt").strip() == "61"
    assert _fixture("fi_info/no-efa/stderr.txt").strip() == "fi_getinfo: -61"
    assert results.parse_fi_info(_fixture("fi_info/no-efa/stdout.txt")) == ()
    assert results.parse_fi_info(_fixture("fi_info/no-efa/stderr.txt")) == ()
    assert results.parse_fi_info(_fixture("fi_info/version.txt")) == ()


def test_fi_info_entry_missing_a_field_is_an_error() -> None:
    with pytest.raises(ResultParseError, match="lacks domain"):
        results.parse_fi_info("provider: efa\n    fabric: efa\n    type: FI_EP_RDM\n")


def check_message(check: str, defaults: dict[str, str], data: str, /, **header: str) -> str:
    """A toe-check/1 message as the check scripts write it (checks/message.sh)."""
    fields = {
        "format": "toe-check/1",
        "check": check,
        **defaults,
        "count": str(len(data.splitlines())),
        "truncated": "0",
        **header,
    }
    head = "".join(f"{k}={v}\n" for k, v in fields.items())
    return f"{head}--\n{data}end\n"


def gpu_message(data: str, **header: str) -> str:
    defaults = {"status": "passed", "exit": "0", "reason": "1 GPU(s) visible", "cuda": "13.0"}
    return check_message("gpu", defaults, data, **header)


def efa_message(data: str, **header: str) -> str:
    defaults = {
        "requested": "true",
        "status": "passed",
        "exit": "0",
        "reason": "2 efa provider entries",
    }
    return check_message("efa", defaults, data, **header)


def _efa_data(listing: str) -> str:
    keep = ("provider:", "fabric:", "domain:", "type:")
    return "".join(
        line.strip() + "\n" for line in listing.splitlines() if line.strip().startswith(keep)
    )


def test_gpu_message_from_nounits_fixture() -> None:
    result = results.parse_gpu_result(gpu_message(_fixture("nvidia-smi/h200/query-nounits.csv")))
    assert result == results.GpuResult("passed", "1 GPU(s) visible", (H200,), "13.0", 0, 0)


def test_gpu_message_as_bytes() -> None:
    message = gpu_message(_fixture("nvidia-smi/h200/query-noheader.csv")).encode()
    assert results.parse_gpu_result(message).gpus == (H200,)


def test_efa_message_derived_from_shm_fixture() -> None:
    result = results.parse_efa_result(efa_message(_efa_data(efa_listing_from_shm())))
    assert result.status == results.PASSED
    assert result.requested is True
    assert len(results.efa_only(result.providers)) == 2


def test_efa_message_claiming_pass_on_shm_listing_is_unparseable() -> None:
    result = results.parse_efa_result(efa_message(_efa_data(_fixture("fi_info/shm/stdout.txt"))))
    assert result.status == results.UNPARSEABLE
    assert "provider: efa" in result.reason


def test_efa_message_no_device() -> None:
    message = efa_message("", status="unavailable", exit="61", reason="no EFA device")
    result = results.parse_efa_result(message)
    assert (result.status, result.exit_code, result.providers) == ("unavailable", 61, ())


GOOD_GPU = "NVIDIA H200, 580.159.04, 143771, 1\n"


@pytest.mark.parametrize(
    ("message", "why"),
    [
        (None, "empty"),
        ("", "empty"),
        (b"", "empty"),
        (b"\xff\xfe", "not UTF-8"),
        ("Error: something else entirely\n", "not a toe-check/1 message"),
        (gpu_message(GOOD_GPU)[:-4], "no 'end' line"),  # cut inside the data
        (gpu_message(GOOD_GPU).split("--")[0], "no end of header"),  # cut inside the header
        (gpu_message(GOOD_GPU) + "x" * 5000, "over 4096"),
        (gpu_message(GOOD_GPU, check="efa"), "for check 'efa'"),
        (gpu_message(GOOD_GPU, status="great"), "unknown status"),
        (gpu_message(GOOD_GPU, status="unavailable"), "unknown status"),
        (gpu_message(GOOD_GPU, exit="x"), "exit='x'"),
        (gpu_message(GOOD_GPU, count="3"), "count=3"),
        (gpu_message(""), "without any GPU"),
        (gpu_message("NVIDIA H200, 580.159.04, lots\n"), "not a MiB amount"),
        (gpu_message("just one field\n"), "not a GPU line"),
        (gpu_message(GOOD_GPU).replace("cuda=13.0", "cuda 13.0"), "not key=value"),
    ],
)
def test_broken_gpu_messages_are_unparseable(message: str | bytes | None, why: str) -> None:
    result = results.parse_gpu_result(message)
    assert result.status == results.UNPARSEABLE
    assert why in result.reason
    assert result.gpus == ()


@pytest.mark.parametrize(
    ("message", "why"),
    [
        ("", "empty"),
        (efa_message("provider: efa\n", count="1"), "lacks fabric"),
        (efa_message("", requested="maybe"), "requested='maybe'"),
        (efa_message("", status="pending"), "unknown status"),
        (efa_message("", status="unavailable")[:-2], "no 'end' line"),
    ],
)
def test_broken_efa_messages_are_unparseable(message: str, why: str) -> None:
    result = results.parse_efa_result(message)
    assert result.status == results.UNPARSEABLE
    assert why in result.reason


def test_every_truncation_of_a_message_is_unparseable() -> None:
    full = gpu_message(_fixture("nvidia-smi/h200/query-nounits.csv"))
    assert results.parse_gpu_result(full).status == results.PASSED
    # Every cut short of the final newline loses the "end" line (or more).
    statuses = {results.parse_gpu_result(full[:cut]).status for cut in range(len(full) - 1)}
    assert statuses == {results.UNPARSEABLE}
