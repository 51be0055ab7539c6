"""Work done with the cyclic garbage collector paused.

What this project builds from a cluster (parsed JSON, models, tables, findings) forms no reference
cycles: reference counting frees all of it. The cyclic collector still runs after every 700 new
objects and scans the young ones, and where a step keeps what it builds, its passes find nothing
and cost more than the step: the tables of a large snapshot (1.4 s → well under 1 s on the scale
benchmark), or the ~100 passes over the official client's imports in a ``runbook diagnose``.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import ParamSpec, TypeVar

_P = ParamSpec("_P")
_R = TypeVar("_R")


def paused_gc(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``func`` with the cyclic garbage collector paused (and restored after)."""

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return func(*args, **kwargs)
        finally:
            if was_enabled:
                gc.enable()

    return wrapper
