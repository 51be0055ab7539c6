"""The sandbox's clock: every timestamp the sandbox writes and every timer it runs use it.

Two modes:

* ``real`` — wall time plus an offset; :meth:`Clock.advance` moves the offset forward (so a
  trainee can "wait five minutes" instantly) and timers fire when their due time comes.
* ``manual`` — frozen until :meth:`Clock.advance` is called; tests drive it and never sleep.

Timers (:meth:`Clock.call_at`, :meth:`Clock.call_later`) fire in due-time order. While a timer's
callback runs, :meth:`Clock.now` returns the timer's due time, so a controller that schedules a
retry "10 s from now" inside a callback gets exactly due + 10 s, as it would in real time.

Who fires timers: :meth:`Clock.run_due` runs every timer that is due. ``advance`` runs them as it
passes their due times; in real mode the sandbox's controller thread calls ``run_due`` when the
next one comes due (woken through the ``on_schedule`` hook). Thread-safe: callers may schedule
from any thread; callbacks run in the thread that calls ``run_due``/``advance``, one at a time.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from runbook.timestamps import format_timestamp

#: what a manual clock shows when a test does not say otherwise (the field report's day)
DEFAULT_START = datetime(2023, 10, 27, 6, 0, 0, tzinfo=UTC)


@dataclass(order=True)
class Timer:
    """A scheduled callback; :meth:`cancel` stops it from firing."""

    due: float
    seq: int
    callback: Callable[[], object] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class Clock:
    """Sandbox time, in ``real`` or ``manual`` mode (see the module docstring).

    Args:
        mode: ``"real"`` or ``"manual"``.
        start: the manual clock's initial time (default :data:`DEFAULT_START`); ignored in real
            mode.
    """

    def __init__(self, mode: str = "real", start: datetime | None = None) -> None:
        if mode not in ("real", "manual"):
            raise ValueError(f"clock mode must be 'real' or 'manual', not {mode!r}")
        self.mode = mode
        self._lock = threading.RLock()
        self._firing = threading.RLock()
        self._offset = 0.0
        self._manual = (start or DEFAULT_START).timestamp()
        self._override: list[float] = []  # due times of the timers currently running (a stack)
        self._timers: list[Timer] = []
        self._seq = itertools.count()
        #: (time, after, text) of the last timestamp: a scenario load stamps thousands of objects
        #: with one manual time, and formatting it was a tenth of that load
        self._last_stamp: tuple[float, float, str] = (float("nan"), 0.0, "")
        #: called (from any thread) whenever the earliest due time may have changed; the server
        #: uses it to wake its loop in real mode
        self.on_schedule: Callable[[], None] | None = None

    # ------------------------------------------------------------------ time

    def time(self) -> float:
        """Seconds since the epoch, as the sandbox sees them."""
        with self._lock:
            if self._override:
                return self._override[-1]
            if self.mode == "manual":
                return self._manual
            return time.time() + self._offset

    def now(self) -> datetime:
        """The current sandbox time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.time(), tz=UTC)

    def timestamp(self, after: float = 0.0) -> str:
        """``2023-10-27T06:00:00Z``: the RFC 3339 form (seconds) the API uses for timestamps;
        ``after`` seconds from now (a deadline such as a pod's ``deletionTimestamp``)."""
        now = self.time()
        last = self._last_stamp
        if last[0] == now and last[1] == after:
            return last[2]
        text = format_timestamp(datetime.fromtimestamp(now, tz=UTC) + timedelta(seconds=after))
        self._last_stamp = (now, after, text)  # one tuple: threads never see half of it
        return text

    def micro_timestamp(self) -> str:
        """``2023-10-27T06:00:00.000000Z``: ``metav1.MicroTime`` (events.k8s.io eventTime)."""
        return format_timestamp(self.now(), fraction=True)

    # ------------------------------------------------------------------ timers

    def call_at(self, when: float, callback: Callable[[], object]) -> Timer:
        """Run ``callback`` when sandbox time reaches ``when`` (epoch seconds)."""
        with self._lock:
            timer = Timer(when, next(self._seq), callback)
            heapq.heappush(self._timers, timer)
        if self.on_schedule:
            self.on_schedule()
        return timer

    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer:
        """Run ``callback`` ``delay`` seconds of sandbox time from now."""
        return self.call_at(self.time() + max(0.0, delay), callback)

    def next_due(self) -> float | None:
        """Due time of the earliest pending timer (None when there is none)."""
        with self._lock:
            self._drop_cancelled()
            return self._timers[0].due if self._timers else None

    def pending(self) -> int:
        """How many timers are waiting."""
        with self._lock:
            self._drop_cancelled()
            return sum(1 for t in self._timers if not t.cancelled)

    def run_due(self) -> int:
        """Run every timer whose due time has come, in due order; returns how many ran.

        Timers scheduled by a callback for a time that has also come run in the same call.
        """
        ran = 0
        with self._firing:  # one thread fires timers at a time: due order holds across threads
            while True:
                with self._lock:
                    self._drop_cancelled()
                    if not self._timers or self._timers[0].due > self.time():
                        return ran
                    timer = heapq.heappop(self._timers)
                    self._override.append(timer.due)
                try:
                    timer.callback()
                finally:
                    with self._lock:
                        self._override.pop()
                ran += 1

    def advance(self, seconds: float) -> None:
        """Move sandbox time forward, firing the timers passed on the way, in order.

        In manual mode this is the only way time moves; in real mode it adds to the offset.
        """
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        target = self.time() + seconds
        while True:
            with self._lock:
                self._drop_cancelled()
                nxt = self._timers[0].due if self._timers else None
                if nxt is None or nxt > target:
                    self._set(target)
                    break
                self._set(max(nxt, self.time()))
            self.run_due()
        self.run_due()

    def _set(self, when: float) -> None:
        if self.mode == "manual":
            self._manual = max(self._manual, when)
        else:
            self._offset = max(self._offset, when - time.time())

    def _drop_cancelled(self) -> None:
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)
