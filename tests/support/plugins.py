"""A third-party resource handler for registry tests: slow to create, counted."""

from __future__ import annotations

import threading
import time
from typing import ClassVar

from occo.resources.base import HandlerEnv
from occo.resources.dummy import DummyHandler


class SlowToCreateHandler(DummyHandler):
    """The dummy cloud, with a constructor slow enough for threads to meet in it."""

    created: ClassVar[int] = 0
    _count_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, env: HandlerEnv) -> None:
        with SlowToCreateHandler._count_lock:
            SlowToCreateHandler.created += 1
        time.sleep(0.05)   # the window in which an unlocked registry creates twice
        super().__init__(env)
