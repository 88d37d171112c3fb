"""Objects that hold a lock pickle without it and get a fresh one when unpickled."""

from __future__ import annotations

import threading
from typing import Any


class PicklesWithoutLock:
    """Mixin for classes that keep a ``threading.Lock`` as ``self._lock``.

    Subclasses that leave more behind extend ``__getstate__`` through ``super()``.
    """

    _lock: threading.Lock

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
