"""Waiting in a test: every wait has a deadline and, past it, fails naming what it waited for."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(predicate: Callable[[], object], timeout: float, what: str, poll: float = 0.05) -> None:
    """Return once `predicate()` is true; AssertionError naming `what` if it is not within `timeout` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(poll)
