"""moto in this process, made quicker: one botocore data loader for all the sessions it makes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

_LOADERS: dict[str | None, Any] = {}


@contextlib.contextmanager
def shared_botocore_models() -> Iterator[None]:
    """One botocore data loader for every session made meanwhile (moto makes many): each new
    session would otherwise parse the EC2 model and the endpoints again (about 0.1 s a time)."""
    import botocore.loaders
    import botocore.session

    def create_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
        if search_path_string not in _LOADERS:
            _LOADERS[search_path_string] = botocore.loaders.create_loader(search_path_string)
        return _LOADERS[search_path_string]

    original = botocore.session.create_loader
    botocore.session.create_loader = create_loader
    try:
        yield
    finally:
        botocore.session.create_loader = original
