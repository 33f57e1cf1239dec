"""The typed value reader: raw config text in, values or problems (with fixes) out."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

import core.config.intent as intent
from core import instance_types as it
from core.config.model import DURATION_RE, INTEGER_RE, Declaration
from core.problems import Problem, rm_command, set_command
from core.wellknown import PROJECT


@cache
def valid_regions() -> frozenset[str]:
    """Every region botocore knows, in every partition (its endpoints data; read once)."""
    import botocore.session

    session = botocore.session.get_session()
    return frozenset(
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("eks", partition_name=partition)
    )


def _today() -> date:
    return datetime.now(UTC).date()


# An instance-type catalog: every type name EC2 offers in the region (None when it cannot say).
Catalog = Callable[[], "Sequence[str] | None"]


@dataclass
class _Reader:
    """Reads raw values by the schema's types, collecting problems instead of raising."""

    values: Mapping[str, str]
    decls: Mapping[str, Declaration]
    stack: str
    lookup: it.InstanceLookup
    catalog: Catalog | None
    today: date
    problems: list[Problem] = field(default_factory=list)
    _lookups: dict[str, Any] = field(default_factory=dict)
    _lookup_errors: set[str] = field(default_factory=set)

    # -------------------------------------------------------------------- problems and fixes

    def problem(self, key: str, message: str, fix: str, *, unchecked: bool = False) -> None:
        self.problems.append(Problem(key, message, fix, unchecked))

    def set_fix(self, key: str, value: object) -> str:
        return set_command(key, value, stack=self.stack)

    def rm_fix(self, key: str) -> str:
        return rm_command(key, stack=self.stack)

    def wrong_shape(self, key: str, shape: str, value: object) -> None:
        """`value` is not `shape` (a map of ..., a list of ...): the fix removes it."""
        self.problem(key, f"must be {shape}, got {_short(repr(value))}", self.rm_fix(key))

    def default_fix(self, key: str, example: object) -> str:
        """Back to the schema's default when there is one, else the example value."""
        return self.rm_fix(key) if self.decls[key].has_default else self.set_fix(key, example)

    # -------------------------------------------------------------------- raw values

    def raw(self, key: str) -> str | None:
        value = self.values.get(f"{PROJECT}:{key}")
        return None if value is None else str(value)

    def present(self, key: str) -> str | None:
        """The raw text, the default's text, or None with a problem when required and unset."""
        decl = self.decls[key]
        raw = self.raw(key)
        if raw is not None and (raw != "" or decl.type == "string"):
            return raw
        if decl.has_default:
            default = decl.default
            if isinstance(default, bool):
                return str(default).lower()
            return json.dumps(default) if isinstance(default, list | dict) else str(default)
        return None

    def required(self, key: str, example: object) -> str | None:
        text = self.present(key)
        if text is None:
            self.problem(key, "is required and not set", self.set_fix(key, example))
        return text

    def string(self, key: str, example: str) -> str | None:
        text = self.required(key, example)
        if text is None:
            return None
        parsed = _json_or_none(text)
        if isinstance(parsed, list | dict):
            kind = "a list" if isinstance(parsed, list) else "a map"
            # The CLI refuses a list or map for a string-typed key (pulumi/pkg workspace
            # validateStackConfigValue); our tools receive it as JSON text.
            if isinstance(parsed, list) and len(parsed) == 1 and isinstance(parsed[0], str):
                self.problem(
                    key,
                    f"must be text, got {kind} ({_short(text)}); did you mean {parsed[0]!r}?",
                    self.set_fix(key, parsed[0]),
                )
            else:
                self.problem(
                    key, f"must be text, got {kind} ({text})", self.default_fix(key, example)
                )
            return None
        return text

    def boolean(self, key: str) -> bool | None:
        text = self.present(key)
        # The CLI takes only the text true/false for a boolean key (sdk go/common/workspace
        # ValidateConfigValue): `pulumi config set endpointPublicAccess False` stores "False",
        # and `pulumi preview` refuses it ("must be of type 'boolean'", tests/data/stackfiles).
        # YAML 1.2, which the CLI reads stack files with, has no yes/no/on/off booleans either.
        if text in ("true", "false"):
            return text == "true"
        meant = _meant_boolean(text)
        if meant is None:
            # No telling what was meant: false opens, launches and skips nothing (a public
            # endpoint, extra GPU nodes, skipped checks all need an explicit true).
            self.problem(
                key,
                f"must be true or false, got {_short(str(text))!r} (the fix sets false, which "
                "turns nothing on; set true if that is what you meant)",
                self.set_fix(key, False),
            )
        else:
            self.problem(
                key,
                f"must be true or false, got {_short(str(text))!r}; did you mean "
                f"{str(meant).lower()}?",
                self.set_fix(key, meant),
            )
        return None

    def integer(self, key: str, example: int, low: int, high: int, unit: str = "") -> int | None:
        text = self.required(key, example)
        if text is None:
            return None
        return self.whole(key, text, low, high, unit, unreadable=self.default_fix(key, example))

    def whole(
        self, key: str, value: object, low: int, high: int, unit: str = "", *, unreadable: str
    ) -> int | None:
        """`value` (text, or a number inside a list or object) as a whole number from `low` to
        `high`, or None with a problem whose fix keeps what was meant: `8 GPUs` is 8, `30m` in a
        key in seconds 1800, `1.5` asks for 1 or 2, a number out of range gets the nearest
        allowed one; `unreadable` is the fix when no number can be read."""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.problem(key, f"must be a whole number, got {_short(repr(value))}", unreadable)
            return None
        text = value if isinstance(value, str) else str(value)
        number = int(text) if INTEGER_RE.fullmatch(text) else None
        if isinstance(value, float) and value.is_integer():
            number = int(value)  # YAML's 2.0 in a node group
        if number is None:
            number = intent.whole_number(text, seconds=key.endswith("Seconds"))
            around = intent.whole_numbers_around(text) if number is None else None
            meant = [n for n in around or () if low <= n <= high]
            if len(meant) == 2:
                self.problem(
                    key,
                    f"must be a whole number, got {_short(text)!r}",
                    f"set the whole number meant: {self.set_fix(key, meant[0])} or "
                    f"{self.set_fix(key, meant[1])}",
                )
                return None
            if around:
                number = meant[0] if meant else around[0]  # out of range: the range fix below
            if number is None:
                self.problem(key, f"must be a whole number, got {_short(text)!r}", unreadable)
                return None
            if low <= number <= high:
                self.problem(
                    key,
                    f"must be a whole number, got {_short(text)!r}; did you mean {number}?",
                    self.set_fix(key, number),
                )
                return None
        if not low <= number <= high:
            # The nearest allowed value keeps what was meant (a short timeout stays short; the
            # default could be the opposite of it).
            nearest = low if number < low else high
            self.problem(
                key,
                f"must be between {low} and {high}{unit}, got {_short(text)} (the fix sets the "
                f"nearest allowed value, {nearest})",
                self.set_fix(key, nearest),
            )
            return None
        return number

    def strings(self, key: str, example: list[str]) -> list[str] | None:
        text = self.required(key, example)
        if text is None:
            return None
        value = _json_or_none(text)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        found = intent.words(text, value)
        if found:
            # `pulumi config set KEY g6` stores the text "g6", not a list: the list it meant.
            self.problem(
                key,
                f"must be a list of strings, got {_short(text)}; did you mean {found}?",
                self.set_fix(key, found),
            )
        else:
            self.problem(
                key,
                f"must be a list of strings, got {_short(text)}",
                self.default_fix(key, example),
            )
        return None

    def names(
        self,
        key: str,
        example: list[str],
        pattern: re.Pattern[str],
        what: str,
        *,
        needed: bool = False,
        offered: Callable[[], Iterable[str] | None] | None = None,
    ) -> list[str] | None:
        """A list of strings, each of which `pattern` matches whole (each one an `what`, e.g.
        an instance family); `needed`: an empty list is a problem too. Only the well-formed
        names are returned, so that later rules never read a malformed one.

        Such a list narrows what may launch, so a fix never removes it (the default is wider):
        it sets the names as meant (`G6` as g6; with `offered`, EC2's names in the region, the
        nearest offered one), or, when nothing can be read, says what to write."""
        items = self.strings(key, example)
        if needed and items == []:
            self.problem(key, f"must name at least one {what}", self.rm_fix(key))
        bad = [item for item in items or [] if not pattern.fullmatch(item)]
        if not bad:
            return items
        choices = offered() if offered else None
        fixed = {item: intent.name(item, pattern, choices) for item in bad}
        kept = list(dict.fromkeys(fixed.get(item, item) for item in items if fixed.get(item, item)))
        said = _short(", ".join(repr(item) for item in bad), 120)
        found = [
            fixed[item] + ("" if len(bad) == 1 else f" for {item!r}") for item in bad if fixed[item]
        ]
        dropped = [repr(item) for item in bad if not fixed[item]]
        verdict = f"is not an {what}" if len(bad) == 1 else f"are not {what} names"
        self.problem(
            key,
            f"{said} {verdict}"
            + (f"; did you mean {', '.join(found)}?" if found else "")
            + (f" (the fix drops {', '.join(dropped)})" if dropped and kept else ""),
            self.set_fix(key, kept)
            if kept
            else f"set {key} to the {what} names meant, e.g. "
            f"{self.set_fix(key, example)} (removing it would allow every one)",
        )
        return [item for item in items if pattern.fullmatch(item)]

    def duration(self, key: str, example: str) -> str | None:
        """A Karpenter duration (`5m`, `1h30m`, `Never`); `never` or `10 minutes` get the
        duration they mean as their fix."""
        value = self.string(key, example)
        if value is None or DURATION_RE.fullmatch(value):
            return value
        found = intent.duration(value)
        readings = [] if found else intent.unitless_duration(value)
        if len(readings) == 2:
            seconds, minutes = readings
            number = value.strip()
            self.problem(
                key,
                f"{number!r} has no unit (a duration carries one: {number}s is {seconds}, "
                f"{number}m is {minutes})",
                f"set the duration meant: {self.set_fix(key, seconds)} or "
                f"{self.set_fix(key, minutes)}",
            )
            return None
        found = found or (readings[0] if readings else None)
        default = self.decls[key].default
        self.problem(
            key,
            f"{_short(value)!r} is not a duration like 30s, 5m, 1h30m or Never"
            + (f"; did you mean {found}?" if found else f" (the fix sets the default, {default})"),
            self.set_fix(key, found) if found else self.rm_fix(key),
        )
        return None

    # -------------------------------------------------------------------- instance types

    def facts(self, key: str, instance_type: str) -> it.InstanceFacts | str | None:
        """Facts of a type; None when EC2 does not know it; "error" when the look-up failed."""
        if instance_type not in self._lookups:
            try:
                self._lookups[instance_type] = self.lookup(instance_type)
            except it.LookupFailed as err:
                self._lookups[instance_type] = "error"
                if str(err) not in self._lookup_errors:
                    self._lookup_errors.add(str(err))
                    self.problem(
                        key,
                        f"could not be checked: {err}",
                        "check that the credentials reach EC2 in this region and may call "
                        "ec2:DescribeInstanceTypes (aws sts get-caller-identity), then run again",
                        unchecked=True,
                    )
        return self._lookups[instance_type]

    def offered_families(self) -> list[str] | None:
        """The instance families EC2 offers in the region, or None when it cannot say."""
        names = self.catalog() if self.catalog else None
        return sorted({it.family(n) for n in names}) if names else None

    def suggest_type(self, typed: str, arch: str | None) -> str | None:
        """The nearest type EC2 offers here of the intended architecture, or None.

        A type EC2 has (botocore's model) is the one meant: itself when offered here (`C6I.2XLARGE
        `), else nothing, for p3.2xlarge's V100 is no t3.2xlarge. For other names the intent is
        the architecture of the typed family when EC2 has that family (`c6i` in `c6i.2xlage` is
        x86), else of the explicit amiType; without either, the close names must all agree on
        one architecture, or nothing is suggested.
        """
        names = self.catalog() if self.catalog else None
        typed = typed.strip().lower()  # `C6I.2XLARGE`: EC2's names are lower case
        if not names:
            return None
        if typed in it.known_instance_types():
            return typed if typed in names else None
        family = it.family(typed)
        if arch is None:
            sibling = next((n for n in names if it.family(n) == family), None)
            facts = self.facts("", sibling) if sibling else None
            arch = facts.kubernetes_arch if isinstance(facts, it.InstanceFacts) else None
        close = []
        for name in difflib.get_close_matches(typed, names, n=6, cutoff=0.75):
            facts = self.facts("", name)
            if isinstance(facts, it.InstanceFacts):
                close.append((name, facts.kubernetes_arch))
        if arch is None:
            archs = {a for _, a in close}
            return close[0][0] if len(archs) == 1 else None
        return next((name for name, a in close if a == arch), None)


_TRUE_WORDS = frozenset({"true", "yes", "y", "on", "1", "enable", "enabled"})


_FALSE_WORDS = frozenset({"false", "no", "n", "off", "0", "disable", "disabled", "none"})


def _meant_boolean(text: str | None) -> bool | None:
    """The boolean a person meant by `yes`, `off`, `0`, `["true"]` or `TRUE `, else None."""
    if text is None:
        return None
    parsed = _json_or_none(text)
    if isinstance(parsed, list) and len(parsed) == 1:
        return _meant_boolean(str(parsed[0]).lower() if isinstance(parsed[0], bool) else parsed[0])
    word = str(text).strip().strip("'\"").lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    return None


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None


def _short(text: str, width: int = 40) -> str:
    return text if len(text) <= width else f"{text[: width - 3]}..."
