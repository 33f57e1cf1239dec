"""The check scripts in `checks/`, run by `sh` with fake tools printing real output."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT, shared_path

from core import results

CHECKS = ROOT / "checks"
SH = shutil.which("sh") or "/bin/sh"


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    message: str


def _fake(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


def _cat(path: Path, exit_code: int = 0, stderr: Path | None = None) -> str:
    err = f"cat {shlex.quote(str(stderr))} >&2\n" if stderr else ""
    return f"cat {shlex.quote(str(path))}\n{err}exit {exit_code}\n"


def _run(script: str, tmp_path: Path, env: dict[str, str] | None = None) -> Run:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    # Only the basic tools the scripts use, so a missing fake reads as "command not found".
    for tool in ("cat", "sed", "grep", "awk", "wc", "tr", "cut", "head"):
        found = shutil.which(tool)
        assert found, tool
        link = bin_dir / tool
        if not link.exists():
            link.symlink_to(found)
    log = tmp_path / "termination-log"
    proc = subprocess.run(
        [SH, str(CHECKS / script)],
        env={"PATH": str(bin_dir), "TERMINATION_LOG": str(log), **(env or {})},
        capture_output=True,
        text=True,
        timeout=20,
    )
    return Run(proc.returncode, proc.stdout, log.read_text() if log.exists() else "")


def _fake_nvidia_smi(tmp_path: Path, full: Path, query: Path, query_exit: int = 0) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    _fake(
        bin_dir,
        "nvidia-smi",
        'case "$*" in\n'
        f"  *--query-gpu=name,driver_version,memory.total,count*) {_cat(query, query_exit)};;\n"
        f'  "") {_cat(full)};;\n'
        '  *) echo "unexpected arguments: $*" >&2; exit 99;;\n'
        "esac\n",
    )


@pytest.mark.parametrize("script", ["gpu-check.sh", "efa-check.sh"])
def test_scripts_are_valid_posix_sh(script: str) -> None:
    subprocess.run([SH, "-n", str(CHECKS / script)], check=True)


def test_gpu_check_h200_passes_with_full_log_and_parsed_result(tmp_path: Path) -> None:
    full = shared_path("fixtures", "nvidia-smi", "h200", "nvidia-smi.txt")
    _fake_nvidia_smi(tmp_path, full, shared_path("fixtures/nvidia-smi/h200/query-nounits.csv"))
    run = _run("gpu-check.sh", tmp_path)
    assert run.returncode == 0, run.stdout
    assert full.read_text().strip() in run.stdout  # the whole nvidia-smi table reaches the log
    result = results.parse_gpu_result(run.message)
    assert result == results.GpuResult(
        status=results.PASSED,
        reason="1 GPU(s) visible",
        gpus=(results.GpuInfo("NVIDIA H200", "580.159.04", 143771),),
        cuda_version="13.0",
        exit_code=0,
    )


def test_gpu_check_t4g_reads_cuda_version_from_its_header(tmp_path: Path) -> None:
    full = shared_path("fixtures", "nvidia-smi", "t4g", "nvidia-smi.txt")
    _fake_nvidia_smi(tmp_path, full, shared_path("fixtures/nvidia-smi/h200/query-nounits.csv"))
    run = _run("gpu-check.sh", tmp_path)
    assert run.returncode == 0
    assert "cuda=13.0\n" in run.message
    assert "NVIDIA T4G" in run.stdout


def test_gpu_check_fails_on_bad_query_and_keeps_nvidia_smi_reason(tmp_path: Path) -> None:
    full = shared_path("fixtures", "nvidia-smi", "h200", "nvidia-smi.txt")
    bad = shared_path("fixtures", "nvidia-smi", "h200", "query-bad-field.stdout.txt")
    code = int(shared_path("fixtures/nvidia-smi/h200/query-bad-field.exit-code.txt").read_text())
    _fake_nvidia_smi(tmp_path, full, bad, query_exit=code)
    run = _run("gpu-check.sh", tmp_path)
    assert code == 2
    assert run.returncode == 0  # a result was written; the readout fails `pulumi up` on it
    result = results.parse_gpu_result(run.message)
    assert result.status == results.FAILED
    assert result.exit_code == 2
    assert 'Field "bogus_field" is not a valid field to query.' in result.reason
    assert result.cuda_version == "13.0"


def test_gpu_check_fails_when_nvidia_smi_is_missing(tmp_path: Path) -> None:
    run = _run("gpu-check.sh", tmp_path)
    assert run.returncode == 0
    result = results.parse_gpu_result(run.message)
    assert (result.status, result.exit_code) == (results.FAILED, 127)
    assert "nvidia-smi not found" in result.reason


def test_gpu_check_fails_when_no_gpu_is_listed(tmp_path: Path) -> None:
    full = shared_path("fixtures", "nvidia-smi", "h200", "nvidia-smi.txt")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    _fake_nvidia_smi(tmp_path, full, empty)
    run = _run("gpu-check.sh", tmp_path)
    assert run.returncode == 0
    result = results.parse_gpu_result(run.message)
    assert (result.status, result.reason) == (results.FAILED, "nvidia-smi listed no GPU")


def test_gpu_check_truncates_many_gpus_to_4096_bytes_at_a_line(tmp_path: Path) -> None:
    full = shared_path("fixtures", "nvidia-smi", "h200", "nvidia-smi.txt")
    line = shared_path("fixtures/nvidia-smi/h200/query-nounits.csv").read_text().strip()
    many = tmp_path / "many.csv"
    many.write_text((line + "\n") * 300)
    _fake_nvidia_smi(tmp_path, full, many)
    run = _run("gpu-check.sh", tmp_path)
    assert run.returncode == 0
    assert len(run.message.encode()) <= results.MAX_MESSAGE_BYTES
    result = results.parse_gpu_result(run.message)
    assert result.status == results.PASSED
    assert 0 < len(result.gpus) < 300
    assert len(result.gpus) + result.truncated == 300


def _fake_fi_info(tmp_path: Path, fixture: str, transform: str = "") -> None:
    """`fi_info` printing a real fixture directory's stdout/stderr and exiting with its code."""
    base = shared_path("fixtures", "fi_info", fixture)
    code = int((base / "exit-code.txt").read_text())
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    stdout = shlex.quote(str(base / "stdout.txt"))
    pipe = f" | sed {shlex.quote(transform)}" if transform else ""
    stderr = shlex.quote(str(base / "stderr.txt"))
    _fake(
        bin_dir,
        "fi_info",
        '[ "$*" = "-p efa" ] || { echo "unexpected arguments: $*" >&2; exit 99; }\n'
        f"cat {stdout}{pipe}\ncat {stderr} >&2\nexit {code}\n",
    )


# An EFA host prints the shm fixture's block shape with provider efa, domain rdmap0s29-rdm and
# protocol FI_PROTO_EFA (fixtures README): the EFA-present listing is derived from the shm fixture.
EFA_FROM_SHM = (
    "s/provider: shm/provider: efa/; s/fabric: shm/fabric: efa/; "
    "s/domain: shm/domain: rdmap0s29-rdm/; s/FI_PROTO_SHM/FI_PROTO_EFA/"
)


def test_efa_check_passes_on_listing_derived_from_shm_fixture(tmp_path: Path) -> None:
    _fake_fi_info(tmp_path, "shm", EFA_FROM_SHM)
    run = _run("efa-check.sh", tmp_path, {"EFA_REQUESTED": "true", "EFA_REQUIRED": "true"})
    assert run.returncode == 0
    assert "protocol: FI_PROTO_EFA" in run.stdout  # full listing in the log ...
    assert "protocol:" not in run.message  # ... only provider/fabric/domain/type in the result
    result = results.parse_efa_result(run.message)
    entry = results.EfaProvider("efa", "efa", "rdmap0s29-rdm", "FI_EP_RDM")
    assert result == results.EfaResult(
        status=results.PASSED,
        reason="2 efa provider entries",
        providers=(entry, entry),
        requested=True,
        exit_code=0,
    )


def test_efa_check_shm_listing_is_not_efa(tmp_path: Path) -> None:
    _fake_fi_info(tmp_path, "shm")
    run = _run("efa-check.sh", tmp_path, {"EFA_REQUESTED": "true"})
    assert run.returncode == 0  # the result reports; the readout decides what fails
    result = results.parse_efa_result(run.message)
    assert result.status == results.FAILED
    assert [p.provider for p in result.providers] == ["shm", "shm"]
    assert results.efa_only(result.providers) == ()


def test_efa_check_no_device_exit_61_is_unavailable(tmp_path: Path) -> None:
    _fake_fi_info(tmp_path, "no-efa")
    run = _run("efa-check.sh", tmp_path, {"EFA_REQUESTED": "true"})
    assert run.returncode == 0
    assert "fi_getinfo: -61" in run.stdout
    result = results.parse_efa_result(run.message)
    assert (result.status, result.exit_code, result.providers) == (results.UNAVAILABLE, 61, ())
    assert result.reason == "no EFA device (fi_info exit 61: fi_getinfo: -61)"


def test_checks_fail_when_the_result_cannot_be_written(tmp_path: Path) -> None:
    _fake_fi_info(tmp_path, "no-efa")
    unwritable = {"EFA_REQUESTED": "true", "TERMINATION_LOG": str(tmp_path / "no" / "such" / "log")}
    assert _run("efa-check.sh", tmp_path, unwritable).returncode == 3
    assert (
        _run(
            "gpu-check.sh", tmp_path, {"TERMINATION_LOG": unwritable["TERMINATION_LOG"]}
        ).returncode
        == 3
    )


def test_efa_check_without_libfabric_exit_127_is_unavailable(tmp_path: Path) -> None:
    run = _run("efa-check.sh", tmp_path, {"EFA_REQUESTED": "true"})
    assert run.returncode == 0
    result = results.parse_efa_result(run.message)
    assert (result.status, result.exit_code) == (results.UNAVAILABLE, 127)
    assert "libfabric is missing" in result.reason


def test_efa_check_not_requested_still_lists_but_says_so(tmp_path: Path) -> None:
    _fake_fi_info(tmp_path, "shm", EFA_FROM_SHM)
    run = _run("efa-check.sh", tmp_path)
    assert run.returncode == 0
    result = results.parse_efa_result(run.message)
    assert (result.status, result.requested) == (results.UNAVAILABLE, False)
    assert result.reason.startswith("not requested (fi_info: 2 efa provider entries")
    assert len(results.efa_only(result.providers)) == 2


def test_efa_check_truncates_at_an_entry_boundary(tmp_path: Path) -> None:
    base = shared_path("fixtures", "fi_info", "shm")
    listing = tmp_path / "listing.txt"
    listing.write_text(base.joinpath("stdout.txt").read_text() * 100)  # 200 entries
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake(bin_dir, "fi_info", f"sed {shlex.quote(EFA_FROM_SHM)} {shlex.quote(str(listing))}\n")
    run = _run("efa-check.sh", tmp_path, {"EFA_REQUESTED": "true"})
    assert len(run.message.encode()) <= results.MAX_MESSAGE_BYTES
    result = results.parse_efa_result(run.message)
    assert result.status == results.PASSED
    assert 0 < len(result.providers) < 200
    assert result.truncated == (200 - len(result.providers)) * 4


def test_default_termination_log_path_is_documented() -> None:
    for script in ("gpu-check.sh", "efa-check.sh"):
        text = (CHECKS / script).read_text()
        assert 'TERMINATION_LOG="${TERMINATION_LOG:-/dev/termination-log}"' in text
