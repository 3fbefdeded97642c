"""The one way tests wait: poll observable state until it holds, with a deadline.

Never ``time.sleep`` to let something happen; wait for the thing itself::

    wait_until(lambda: proc.poll() is not None, what="the service to exit")
    row = wait_until(lambda: store.instances.get(iid) if ... else None, timeout=30)

Deadlines are generous (they only matter when something is broken) and are
scaled by ``OCCO_TEST_TIMEOUT_SCALE`` on slow machines.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")

SCALE = float(os.environ.get("OCCO_TEST_TIMEOUT_SCALE", "1"))


def wait_until(predicate: Callable[[], T], timeout: float = 30.0, *, what: str = "condition",
               interval: float = 0.02) -> T:
    """Return the first truthy value of ``predicate()``; fail the test at the deadline.

    The predicate is tried once more after the deadline, so a slow machine that
    overshoots the last interval is not reported as a failure.
    """
    deadline = time.monotonic() + timeout * SCALE
    delay = interval
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            value = predicate()
            if value:
                return value
            pytest.fail(f"{what} not met within {timeout * SCALE:g} s", pytrace=False)
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)
