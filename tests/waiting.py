"""Waiting in tests for what another thread or process does: a bounded poll on a condition.

Controllers, kubelets and server threads run on their own schedule and publish no event a test
could block on; a fixed sleep is either too short on a loaded machine (flaky) or wasted on an
idle one. So every such wait polls its condition until a deadline and then fails with what it
waited for and the last answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(check: Callable[[], T], what: str, timeout: float, interval: float = 0.05) -> T:
    """The first truthy answer of ``check``, polled every ``interval`` seconds.

    Raises:
        AssertionError: no truthy answer within ``timeout`` seconds (the message names ``what``
            and the last answer).
    """
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if answer:
            return answer
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not reached within {timeout:g} s (last: {answer!r})")
        time.sleep(interval)
