"""A work queue for reconcile work, and the ``settle`` primitive.

Controllers (the namespace finalizer and serviceaccount controller here; the ReplicaSet, Deployment,
webhook and istiod emulations in their own modules) do not act inside store callbacks: they
:meth:`WorkQueue.add` a function, keyed so that a burst of changes to one object runs it once.
The sandbox's controller thread drains the queue soon after; :meth:`WorkQueue.run_pending` drains
it in the calling thread (tests without a server, ``settle``). One item runs at a time. Work runs
outside the server's event loop, so an item may even call the sandbox over HTTP.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

Work = Callable[[], object]


class WorkQueue:
    """Keyed, de-duplicated FIFO of callables; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._items: OrderedDict[Hashable, Work] = OrderedDict()
        self._seq = 0
        self.errors: list[BaseException] = []
        #: called after each add (from any thread); the server uses it to wake its loop
        self.on_add: Callable[[], None] | None = None

    def add(self, work: Work, key: Hashable | None = None) -> None:
        """Queue ``work``; when ``key`` is already queued, the newer function replaces it."""
        with self._lock:
            if key is None:
                self._seq += 1
                key = ("anonymous", self._seq)
            self._items[key] = work
        if self.on_add:
            self.on_add()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def idle(self) -> bool:
        """Nothing queued and nothing running."""
        return not self._items and not self._run_lock.locked()

    def run_pending(self, limit: int | None = None) -> int:
        """Run queued work (including work queued meanwhile) in this thread; returns the count.

        An exception in one item is kept in :attr:`errors` and does not stop the others: one
        broken reconcile must not wedge the sandbox.
        """
        ran = 0
        with self._run_lock:
            while limit is None or ran < limit:
                with self._lock:
                    if not self._items:
                        break
                    _, work = self._items.popitem(last=False)
                try:
                    work()
                except Exception as exc:
                    self.errors.append(exc)
                ran += 1
        return ran

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
