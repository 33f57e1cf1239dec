"""The check images' check: does each reference exist where the nodes pull it from, and how
large is it; Docker Hub's anonymous pull limit. One check per stack, and one over the fleet."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from core import images as im
from core.problems import Problem, set_command
from toe.preflight.registry import FOUND, MISSING, TIMEOUT, UNCHECKED, Answer, OciRegistry
from toe.preflight.verdicts import FAIL, PASS, WARN, Check
from toe.preflight.verdicts import UNCHECKED as NOT_CHECKED

TITLE = "Check images"
NOT_ASKED = "registries not asked (no registry client: offline or simulated account)"


class Registries:
    """Asks each reference's registry once per run: ECR with the caller's credentials, any
    other through the OCI distribution API, anonymously as the nodes do."""

    def __init__(
        self,
        *,
        ecr: Callable[[str], Any] | None = None,
        endpoints: Mapping[str, str] | None = None,
        timeout: float = TIMEOUT,
    ) -> None:
        self.ecr = ecr
        self.oci = OciRegistry(endpoints, timeout)
        self._answers: dict[str, Answer] = {}

    @classmethod
    def from_session(cls, session, config) -> Registries:
        return cls(ecr=lambda region: session.client("ecr", region_name=region, config=config))

    def ask(self, reference: str) -> Answer:
        if reference not in self._answers:
            self._answers[reference] = self._ask(reference)
        return self._answers[reference]

    def _ask(self, reference: str) -> Answer:
        try:
            ref = im.parse_ref(reference)
        except ValueError as err:
            return Answer(reference, MISSING, "", why=str(err))
        if ref.ecr:
            if self.ecr is None:
                return Answer(reference, UNCHECKED, ref.registry, why="no ECR client")
            from toe.preflight.registry_ecr import ask_ecr

            return ask_ecr(self.ecr, ref)
        return self.oci.ask(ref)


def stack_images(cfg) -> list[tuple[str, str]]:
    """(config key, reference) of every image the stack's checks pull."""
    found = [("gpuCheckImage", cfg.checks.gpu_image), ("efaCheckImage", cfg.checks.efa_image)]
    if cfg.checks.distributed.enabled:
        found.append(("distributedCheckImage", cfg.checks.distributed.image))
    return found


def images_check(
    entries: Sequence[tuple[str, str, Sequence[str]]],
    registries: Registries | None,
    *,
    check_id: str = "images",
    stack: str | None = None,
) -> Check:
    """One check over (config key, reference, stacks) entries: every problem collected, said
    once. `stacks` is empty for one stack's own check."""
    lines, problems, unchecked, found = [], [], [], []
    answers: dict[str, dict] = {}
    for key, image, stacks in entries:
        whose = f" ({_some(stacks)})" if stacks else ""
        host = im.registry_host(image)
        if registries is None:
            lines.append(f"{key}{whose}: {image} (registry {host}; not asked)")
            continue
        answer = registries.ask(image)
        answers[f"{key} {image}"] = {"key": key, "stacks": list(stacks), **answer.to_json()}
        if answer.status == FOUND:
            sizes = im.sizes_text(answer.sizes) or "no layers listed"
            lines.append(f"{key}{whose}: {image} exists: {answer.digest}, {sizes} ({answer.via})")
            found.append((key, answer))
        elif answer.status == MISSING:
            problems.append(_missing(key, image, answer, stack, stacks))
            lines.append(f"{key}{whose}: {image}: {answer.why} ({answer.via or 'not asked'})")
        else:
            unchecked.append(f"{key}{whose}: {answer.why}")
            lines.append(f"{key}{whose}: {image}: could not check: {answer.why} ({answer.via})")
    hub = sorted(
        {key for key, image, _ in entries if im.registry_host(image) in im.DOCKER_HUB_HOSTS}
    )
    lines += [f"fix: {p.fix}" for p in problems]
    data: dict[str, Any] = {
        "images": {f"{key}": image for key, image, _ in entries},
        "registry": answers if registries is not None else "not asked",
        "problems": [{"key": p.key, "message": p.message, "fix": p.fix} for p in problems],
    }
    if hub:
        data["dockerHub"] = hub
    if problems:
        summary = "; ".join(f"{p.key}: {p.message}" for p in problems)
        return Check(check_id, TITLE, FAIL, summary, tuple(lines), data)
    if unchecked:
        summary = "could not check: " + "; ".join(unchecked)
        return Check(check_id, TITLE, NOT_CHECKED, summary, tuple(lines), data)
    parts = []
    if hub:
        parts.append(
            f"{', '.join(hub)} pulls from Docker Hub, which allows 10 anonymous pulls an hour "
            "per IPv4 address: attendees behind one NAT hit it and their Jobs wait out "
            "their deadline in ImagePullBackOff; use nvcr.io/nvidia/cuda (or ECR)"
        )
    if registries is None:
        parts.append(f"no check image pulls from Docker Hub; {NOT_ASKED}" if not hub else NOT_ASKED)
    else:
        sizes = ", ".join(f"{key} {_amd64(a)}" for key, a in found)
        parts.append(f"every check image exists: {sizes}")
    status = WARN if hub else PASS
    return Check(check_id, TITLE, status, "; ".join(parts), tuple(lines), data)


def _missing(key, image, answer: Answer, stack, stacks) -> Problem:
    nearest = [im.parse_ref(image).with_tag(t) for t in answer.nearest] if answer.nearest else []
    message = f"{image} does not exist or the nodes cannot pull it: {answer.why}"
    if nearest:
        message += f"; nearest tags: {', '.join(answer.nearest)}"
    elif answer.tags_note:
        message += f" ({answer.tags_note})"
    if nearest:
        fix = set_command(key, nearest[0], stack=stack)
    else:
        fix = f"pulumi config rm {key} (back to the default), or set an image that exists"
    if stacks:
        fix += f" (in {_some(stacks)})"
    return Problem(key, message, fix)


def _amd64(answer: Answer) -> str:
    size = answer.sizes.get("linux/amd64")
    if size is None and len(answer.sizes) == 1:
        size = next(iter(answer.sizes.values()))
    return im.megabytes(size)


def _some(names: Sequence[str], shown: int = 3) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more
