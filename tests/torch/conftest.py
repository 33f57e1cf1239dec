"""The distributed check's script, run for real with torch (`make test-torch`).

torch from PyPI is about 5 GB with its CUDA libraries, so it lives in an environment of its own
(`make test-torch` builds it in the cache and sets TOE_TORCH_BIN); `make test` leaves these out.
"""

from __future__ import annotations

import os

if not os.environ.get("TOE_TORCH_BIN"):
    collect_ignore_glob = ["test_*.py"]
