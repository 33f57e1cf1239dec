"""Entry point: `python -m toe <command>` (the same as the `toe` command)."""

from __future__ import annotations

from toe.cli import run

run()
