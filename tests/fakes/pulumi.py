"""A stand-in for the `pulumi` CLI that the Automation API drives in tests.

Behaviour comes from environment variables:
- FAKE_PULUMI_STATE: a directory holding the scenario (`scenario.json`), per-stack state
  (`<stack>.json`) and the invocation record (`calls.jsonl`, one JSON object per call).
- scenario.json maps a stack name to {"result": "succeeded"|"failed", "delay": seconds,
  "resources": n, "outputs": {...}, "secretOutputs": [...], "exists": bool}.

It reports version 3.205.0 so the Automation API reads engine events from a file
(`--event-log PATH`) and plays an event log into that file that ends with a summary event and
a cancel event; without them each operation waits 5 s for the log watcher (FACTS.md,
"Automation API and CI").
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

VERSION = "3.205.0"
STATE = Path(os.environ["FAKE_PULUMI_STATE"])


def _option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def _scenario(stack: str) -> dict:
    path = STATE / "scenario.json"
    scenarios = json.loads(path.read_text()) if path.exists() else {}
    return scenarios.get(stack, {})


def _stack_state(stack: str) -> dict:
    path = STATE / f"{stack}.json"
    if path.exists():
        return json.loads(path.read_text())
    exists = _scenario(stack).get("exists", True)
    return {"exists": exists, "history": [], "outputs": {}}


def _save(stack: str, state: dict) -> None:
    (STATE / f"{stack}.json").write_text(json.dumps(state))


def _record(args: list[str], stack: str | None, started: float) -> None:
    entry = {"args": args, "stack": stack, "start": started, "end": time.time(), "cwd": os.getcwd()}
    with (STATE / "calls.jsonl").open("a") as calls:
        calls.write(json.dumps(entry) + "\n")


class _EventLog:
    """Appends engine events, one JSON line each, to the `--event-log` file as they happen."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.sequence = 0

    def write(self, event: dict) -> None:
        if not self.path:
            return
        line = {"sequence": self.sequence, "timestamp": int(time.time()), **event}
        self.sequence += 1
        with open(self.path, "a", encoding="utf-8") as log:
            log.write(json.dumps(line) + "\n")


def _operation(kind: str, args: list[str], stack: str) -> int:
    state = _stack_state(stack)
    scenario = _scenario(stack)
    failed = scenario.get("result", "succeeded") == "failed"
    resources = int(scenario.get("resources", 3))
    pause = float(scenario.get("delay", 0)) / max(resources, 1)
    op = {"preview": "create", "up": "create", "destroy": "delete"}[kind]
    verb = {"preview": "Previewing update", "up": "Updating", "destroy": "Destroying"}[kind]
    log = _EventLog(_option(args, "--event-log"))
    print(f"{verb} ({stack})", flush=True)
    log.write({"preludeEvent": {"config": {}}})
    done = 0
    for index in range(resources):
        time.sleep(pause)
        urn = f"urn:pulumi:{stack}::training-on-eks::aws:ec2/tag:Tag::tag-{index}"
        metadata = {"op": op, "urn": urn, "type": "aws:ec2/tag:Tag", "provider": ""}
        log.write({"resourcePreEvent": {"metadata": metadata}})
        if failed and index == resources - 1:
            print(f"    aws:ec2:Tag tag-{index} **{op} failed** error: boom", flush=True)
            log.write({"resOpFailedEvent": {"metadata": metadata, "status": 1, "steps": 1}})
            break
        log.write({"resOutputsEvent": {"metadata": metadata}})
        print(f"    + aws:ec2:Tag tag-{index} {op}d", flush=True)
        done += 1
    changes = {op: done}
    summary = {"maybeCorrupt": False, "durationSeconds": 1, "resourceChanges": changes}
    log.write({"summaryEvent": {**summary, "PolicyPacks": {}}})
    log.write({"cancelEvent": {}})
    result = "failed" if failed else "succeeded"
    if kind != "preview":
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        state["history"].insert(
            0,
            {
                "kind": "update" if kind == "up" else "destroy",
                "startTime": now,
                "endTime": now,
                "message": "",
                "environment": {},
                "config": {},
                "result": result,
                "version": len(state["history"]) + 1,
                "resourceChanges": changes,
            },
        )
        if kind == "up" and not failed:
            state["outputs"] = scenario.get("outputs", {})
            state["secretOutputs"] = scenario.get("secretOutputs", [])
        if kind == "destroy" and not failed:
            state["outputs"] = {}
        _save(stack, state)
    print(f"Resources:\n    {done} {op}d")
    if failed:
        print(f"error: {kind} failed", file=sys.stderr)
        return 255
    return 0


def main(argv: list[str]) -> int:
    started = time.time()
    args = [a for a in argv if a != "--non-interactive"]
    stack = _option(args, "--stack")
    try:
        return _dispatch(args, stack)
    finally:
        _record(args, stack, started)


def _dispatch(args: list[str], stack: str | None) -> int:
    if args[:1] == ["version"]:
        print(f"v{VERSION}")
        return 0
    if args[:2] == ["stack", "init"]:
        name = args[2]
        state = _stack_state(name)
        state["exists"] = True
        _save(name, state)
        print(f"Created stack '{name}'")
        return 0
    assert stack, f"fake pulumi: no --stack in {args}"
    state = _stack_state(stack)
    if not state["exists"]:
        print(f"error: no stack named '{stack}' found", file=sys.stderr)
        return 255
    if args[:2] == ["stack", "select"]:
        return 0
    if args[:2] == ["stack", "history"]:
        print(json.dumps(state["history"][:1]))
        return 0
    if args[:2] == ["stack", "output"]:
        outputs = dict(state["outputs"])
        if "--show-secrets" not in args:
            for key in state.get("secretOutputs", []):
                outputs[key] = "[secret]"
        print(json.dumps(outputs))
        return 0
    if args[0] in ("preview", "up", "destroy"):
        return _operation(args[0], args, stack)
    print(f"fake pulumi: unsupported command {args}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
