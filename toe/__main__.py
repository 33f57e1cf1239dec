"""Entry point: `python -m toe <command>`.

A command is one short process that builds a large, long-lived heap (the Pulumi SDK's classes,
botocore's and moto's models) and frees it all at exit. With CPython's default thresholds the
cyclic collector traced that heap again and again: a third of `synth`'s wall time, and another
second at exit (bench/synth_bench.py). So collect less often, with the thresholds mypy uses for the
same reason (mypy/build.py: "Run gc less frequently, as otherwise we can spend a large fraction of
cpu in gc"), and freeze the heap once the command is done, so the interpreter's last collection
skips it (https://docs.python.org/3/library/gc.html#gc.freeze). Memory use stays the same (about
300 MB for `synth`).
"""

from __future__ import annotations

import gc

gc.set_threshold(200_000, 30, 30)

from toe.cli import main  # noqa: E402  (after the thresholds: imports build most of the heap)

code = main()
gc.freeze()
raise SystemExit(code)
