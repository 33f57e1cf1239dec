"""Entry point: `python -m toe <command>`."""

from __future__ import annotations

from toe.cli import main

raise SystemExit(main())
