"""Checking an account file before moto is seeded with it.

Its shape is judged by `toe/accounts/account.schema.json` (jsonschema, every error at once; draft
7, which editors' YAML language servers read from old to new: 1.19's README says "JSON Schema 7
and below", 1.25's adds 2019-09 and 2020-12; `make e2e` runs 1.25). What only EC2's data can
judge comes after: the region (botocore's endpoint data), its zones and the
instance types each zone offers (moto's copy of EC2's data), and the CIDR blocks (the Amazon VPC
user guide: blocks are /16 to /28, a subnet's lies inside its VPC's). Each problem says where it
is, what is wrong and an edit that fixes it while keeping what the file meant, where one exists.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import reprlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import jsonschema

import core.config.intent as intent
from core.config.intent import closest, written_otherwise
from core.instance_types import size_rank
from core.problems import Problem

SCHEMA = Path(__file__).resolve().parents[1] / "accounts" / "account.schema.json"
# AWS VPC and subnet sizes: /16 (65,536 addresses) to /28 (16) (Amazon VPC user guide, "VPC
# CIDR blocks" and "Subnet sizing").
VPC_PREFIXES = range(16, 29)


class Ec2Data(Protocol):
    """What EC2 knows that the file is judged by (moto's copy, in toe.offline.account)."""

    def zones(self, region: str) -> frozenset[str]: ...
    def offered(self, region: str, zone: str) -> frozenset[str]: ...
    def gpu_node(self, instance_type: str) -> bool: ...  # amd64 with NVIDIA GPUs


_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = 60
_shown = _repr.repr


class AccountError(ValueError):
    """The account file is not usable: every problem found in it, each with its fix (or, when
    it cannot be read, `reason`, which names it)."""

    def __init__(self, path: Path, problems: Sequence[Problem] = (), *, reason: str = "") -> None:
        self.path = path
        self.problems = tuple(problems)
        if self.problems:
            count = len(self.problems)
            reason = f"{path}: {count} problem{'s' * (count != 1)} in the account file:\n"
            reason += "\n".join(p.render() for p in self.problems)
        super().__init__(reason)


@dataclass(frozen=True)
class Edit:
    """A change to the file that fixes one problem: set the value at `path`, remove it, or give
    its key another name (`rename`)."""

    path: tuple[str | int, ...]
    value: Any = None
    remove: bool = False
    rename: str | None = None

    def describe(self) -> str:
        where = key_of(self.path)
        if self.rename is not None:
            return f"rename {where} to {key_of((*self.path[:-1], self.rename))}"
        if self.remove:
            return f"remove {where}"
        return f"set {where} to {json.dumps(self.value)}"

    def apply(self, document: Any) -> None:
        *parents, last = self.path
        for step in parents:
            document = document[step]
        if self.rename is not None:
            document[self.rename] = document.pop(last)
        elif self.remove:
            del document[last]
        else:
            document[last] = self.value


@dataclass(frozen=True)
class FileProblem(Problem):
    """A problem in the account file; `edit`, when there is one, is what its fix does."""

    edit: Edit | None = None


def key_of(path: Sequence[str | int]) -> str:
    """`vpcs[0].subnets[1].cidr`: the place in the file, as the problems name it."""
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else f".{step}" if text else str(step)
    return text or "(the file)"


def _fixed(path: tuple, edit: Edit, message: str, why: str = "") -> FileProblem:
    return FileProblem(key_of(path), message, edit.describe() + why, edit=edit)


def _told(path: tuple, message: str, fix: str) -> FileProblem:
    return FileProblem(key_of(path), message, fix)


@functools.cache
def _validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))


def problems(raw: Mapping[str, Any], ec2: Ec2Data) -> list[FileProblem]:
    """Every problem of the file's document `raw`: its shape first, then EC2's facts."""
    from core.config import valid_regions

    found = [p for error in _validator().iter_errors(raw) for p in _from_schema(error)]
    region = raw.get("region")
    if isinstance(region, str) and region not in valid_regions():
        near = intent.region(region, valid_regions())
        message = f"{_shown(region)} is not an AWS region (botocore's endpoint data)"
        found.append(
            _fixed(("region",), Edit(("region",), near), message)
            if near
            else _told(("region",), message, "set region to one such as ap-northeast-2")
        )
        region = None
    in_region = ec2.zones(region) if isinstance(region, str) else None
    for i, vpc in _items(raw.get("vpcs")):
        net = _block(found, ("vpcs", i, "cidr"), vpc.get("cidr"))
        seen: list[tuple[tuple, ipaddress.IPv4Network]] = []
        for j, subnet in _items(vpc.get("subnets")):
            where = ("vpcs", i, "subnets", j)
            _zone(found, (*where, "az"), subnet.get("az"), in_region, region)
            cidr = _block(found, (*where, "cidr"), subnet.get("cidr"))
            if cidr is None or net is None:
                continue
            if not cidr.subnet_of(net):
                found.append(
                    _told(
                        (*where, "cidr"),
                        f"{cidr} is outside the VPC's {net}",
                        f"set it to a block inside {net}, one no other subnet of it uses",
                    )
                )
            clash = next((other for other, block in seen if block.overlaps(cidr)), None)
            if clash is not None:
                found.append(
                    _told(
                        (*where, "cidr"),
                        f"{cidr} overlaps {key_of(clash)}",
                        f"set it to a block inside {net} that {key_of(clash)} does not use",
                    )
                )
            seen.append(((*where, "cidr"), cidr))
    cluster = raw.get("cluster")
    node = cluster.get("gpuNode") if isinstance(cluster, dict) else None
    if isinstance(node, dict):
        where = ("cluster", "gpuNode")
        zone = _zone(found, (*where, "zone"), node.get("zone"), in_region, region)
        if zone is not None:
            kind = node.get("instanceType")
            _instance_type(found, (*where, "instanceType"), kind, region, zone, ec2)
    return sorted(found, key=lambda p: p.key)


def _items(value: object) -> Iterator[tuple[int, dict]]:
    """The mappings of a list, by index (the schema has named whatever else is there)."""
    if isinstance(value, list):
        yield from ((i, item) for i, item in enumerate(value) if isinstance(item, dict))


def _block(found: list, path: tuple, cidr: object) -> ipaddress.IPv4Network | None:
    """The IPv4 block `cidr` names, if it is one AWS takes; else a problem in `found`."""
    if not isinstance(cidr, str):
        return None
    try:
        net = ipaddress.IPv4Network(cidr)
    except ValueError:
        try:
            meant = ipaddress.IPv4Network(cidr, strict=False)
        except ValueError:
            found.append(
                _told(
                    path,
                    f"{_shown(cidr)} is not an IPv4 CIDR block",
                    "set it to one such as 10.0.16.0/20",
                )
            )
            return None
        edit = Edit(path, str(meant))
        found.append(_fixed(path, edit, f"{cidr} has host bits set; the block it is in is {meant}"))
        net = meant
    if net.prefixlen in VPC_PREFIXES:
        return net
    if net.prefixlen < VPC_PREFIXES.start:
        size = next(net.subnets(new_prefix=VPC_PREFIXES.start))
        why = f" (the first /{VPC_PREFIXES.start} of it)"
    else:
        size = net.supernet(new_prefix=VPC_PREFIXES.stop - 1)
        why = f" (the /{VPC_PREFIXES.stop - 1} around it)"
    message = f"{net} is a /{net.prefixlen}; AWS VPC and subnet blocks are /16 to /28"
    found.append(_fixed(path, Edit(path, str(size)), message, why))
    return None


def _zone(found: list, path: tuple, zone: object, zones: frozenset | None, region) -> str | None:
    """The zone `zone` names (as its fix writes it); a problem in `found` when it is not one."""
    if not isinstance(zone, str) or zones is None:
        return None
    if zone in zones:
        return zone
    listed = ", ".join(sorted(zones)) or "none known"
    message = f"{_shown(zone)} is not a zone of {region} ({listed})"
    # Only the same zone written otherwise (`a`, `AP-NORTHEAST-2 A`): a wrong letter is another
    # zone, and which one was meant cannot be known.
    meant = written_otherwise(zone, zones) or written_otherwise(f"{region}{zone}", zones)
    found.append(
        _fixed(path, Edit(path, meant), message)
        if meant
        else _told(path, message, f"set it to one of {listed}")
    )
    return meant


def _instance_type(found: list, path: tuple, kind: object, region, zone, ec2: Ec2Data) -> None:
    """The GPU node's type: one the zone offers, amd64 (the GPU pool's NodePool, in
    core.k8s_objects, requires it) with NVIDIA GPUs (the GPU check runs nvidia-smi)."""
    if not isinstance(kind, str):
        return
    types = ec2.offered(region, zone)
    gpus = sorted((t for t in types if ec2.gpu_node(t)), key=size_rank)
    some = f"e.g. {', '.join(gpus[:3])}" if gpus else f"though {zone} offers none"
    if kind in types:
        if not ec2.gpu_node(kind):
            message = f"{kind} is not amd64 with NVIDIA GPUs, the only types the GPU pool launches"
            found.append(_told(path, message, f"set it to one that is ({some})"))
        return
    message = f"EC2 does not offer {_shown(kind)} in {zone} (moto's copy of EC2's offerings)"
    near = closest(kind, types)
    found.append(
        _fixed(path, Edit(path, near), message)
        if near
        else _told(path, message, f"set it to an amd64 NVIDIA GPU type {zone} offers ({some})")
    )


# What each JSON type is called in a problem.
_KINDS = {
    "object": "a map",
    "array": "a list",
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "empty",
}


def _kind(value: object) -> str:
    for name, types in (
        ("boolean", bool),
        ("integer", int),
        ("number", float),
        ("string", str),
        ("array", list),
        ("object", dict),
        ("null", type(None)),
    ):
        if isinstance(value, types):
            return _KINDS[name]
    return type(value).__name__


def _from_schema(error: jsonschema.ValidationError) -> list[FileProblem]:
    path = tuple(error.absolute_path)
    schema, value = error.schema, error.instance
    known = list(schema.get("properties", {}))
    if error.validator == "required":
        missing = [name for name in error.validator_value if name not in value]
        return [_missing((*path, name), schema["properties"][name]) for name in missing]
    if error.validator == "additionalProperties":
        return [_unknown((*path, name), known) for name in value if name not in known]
    if "propertyNames" in error.absolute_schema_path:
        return [_bad_name((*path, value), error)]
    if error.validator == "enum":
        near = closest(str(value), error.validator_value)
        message = f"{_shown(value)} is not one of {', '.join(error.validator_value)}"
        if near:
            return [_fixed(path, Edit(path, near), message)]
        return [_told(path, message, f"set it to one of {', '.join(error.validator_value)}")]
    if error.validator == "type":
        return [_wrong_type(path, value, error.validator_value, schema)]
    if error.validator in ("minimum", "maximum", "minLength"):
        bound = {"minimum": "at least", "maximum": "at most"}.get(error.validator)
        needs = f"a number {bound} {error.validator_value}" if bound else "text that is not empty"
        return [_told(path, f"{_shown(value)} is not {needs}", f"set it to {needs}")]
    return [_told(path, error.message, f"see {SCHEMA.name} for what {key_of(path)} takes")]


def _example(schema: Mapping) -> str:
    examples = schema.get("examples")
    return f", e.g. {json.dumps(examples[0])}" if examples else ""


def _missing(path: tuple, schema: Mapping) -> FileProblem:
    what = schema.get("description", "").rstrip(".")
    return _told(
        path,
        "is missing" + (f": {what[0].lower()}{what[1:]}" if what else ""),
        f"add {path[-1]}{_example(schema)}",
    )


def _unknown(path: tuple, known: list[str]) -> FileProblem:
    near = closest(str(path[-1]), known)
    message = f"is not a key here (it takes {', '.join(known)})"
    if near:
        return _fixed(path, Edit(path, rename=near), message)
    return _fixed(path, Edit(path, remove=True), message, ", or give it one of those names")


def _bad_name(path: tuple, error: jsonschema.ValidationError) -> FileProblem:
    if error.validator == "not":  # a subnet's tags: Name is the subnet's `name`
        return _fixed(
            path,
            Edit(path, remove=True),
            "is set by the subnet's name key",
            "; put the name in name",
        )
    names = error.validator_value
    near = closest(str(path[-1]), names)
    message = f"is not one of {', '.join(names)}"
    if near:
        return _fixed(path, Edit(path, rename=near), message)
    return _fixed(path, Edit(path, remove=True), message, ", or give it one of those names")


def _wrong_type(path: tuple, value: object, expected, schema: Mapping) -> FileProblem:
    if isinstance(expected, list):  # ["array", "null"]: an empty key is also taken
        expected = next(kind for kind in expected if kind != "null")
    message = f"is {_kind(value)}, needs {_KINDS[expected]}"
    meant: Any = None
    if expected == "array" and isinstance(value, dict):
        meant = [value]  # one item written without its list
    elif expected == "string" and isinstance(value, int | float) and not isinstance(value, bool):
        meant = str(value)
    elif expected in ("integer", "number") and isinstance(value, str):
        try:
            meant = int(value) if expected == "integer" else float(value)
        except ValueError:
            meant = None
    if meant is not None:
        return _fixed(path, Edit(path, meant), message)
    return _told(path, message, f"set it to {_KINDS[expected]}{_example(schema)}")
