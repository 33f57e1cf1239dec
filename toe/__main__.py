"""Entry point: `python -m toe <command>`."""

from __future__ import annotations

import gc

from toe.cli import main, tune_gc

tune_gc()  # before the command's imports, which build most of the heap
code = main()
# The process ends now: freeze the heap so the interpreter's last collection skips it (about
# 1 s for `synth`; https://docs.python.org/3/library/gc.html#gc.freeze).
gc.freeze()
raise SystemExit(code)
