"""Faults the sandbox injects on purpose, and the log of every request it answered.

A :class:`Fault` matches requests by verb, resource, namespace, name and/or path prefix, and then
acts: answer with an error status (optionally with ``Retry-After``), add latency, drop the
connection without an answer, or cut a watch stream short. ``times`` limits how often it fires and
``probability`` makes it fire at random. The same table is driven from Python
(``sandbox.faults.add(Fault(...))``) and from the admin API (``POST /sandbox/v1/faults``).
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import Any

ACTIONS = ("error", "latency", "drop", "truncate-watch")


@dataclass
class Fault:
    """One entry of the fault table.

    Attributes:
        action: ``error`` | ``latency`` | ``drop`` | ``truncate-watch``.
        verb: Kubernetes verb to match (``get``, ``list``, ``watch``, ``create``, ``update``,
            ``patch``, ``delete``, ``deletecollection``), empty matches any.
        resource: plural (``pods``) or kind key (``deployments.apps``), empty matches any.
        namespace, name: exact match when set.
        path: URL path prefix when set (``/api/v1/namespaces/default/pods``).
        status: HTTP status for ``error`` (default 500); the body is a Status with a matching
            reason.
        message: the Status message for ``error``.
        retry_after: seconds for the ``Retry-After`` header (and ``details.retryAfterSeconds``).
        latency: seconds added before answering (``latency``; also delays ``error``).
        after_events: for ``truncate-watch``: events sent before the stream is cut.
        times: how many more times it fires (None: unlimited).
        probability: chance that a matching request is affected (1.0: always).
        id: set by the table.
    """

    action: str = "error"
    verb: str = ""
    resource: str = ""
    namespace: str | None = None
    name: str | None = None
    path: str = ""
    status: int = 500
    message: str = "injected fault"
    retry_after: int | None = None
    latency: float = 0.0
    after_events: int = 0
    times: int | None = None
    probability: float = 1.0
    id: int = 0
    fired: int = field(default=0)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"fault action must be one of {', '.join(ACTIONS)}, not {self.action!r}")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")

    def matches(self, verb: str, resource: str, kind_key: str, namespace: str | None,
                name: str | None, path: str) -> bool:
        """Whether this fault applies to a request with these attributes."""
        return (
            (not self.verb or self.verb == verb)
            and (not self.resource or self.resource in (resource, kind_key))
            and (self.namespace is None or self.namespace == namespace)
            and (self.name is None or self.name == name)
            and (not self.path or path.startswith(self.path))
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        """Build from the admin API's JSON (camelCase ``retryAfter``/``afterEvents`` accepted)."""
        aliases = {"retryAfter": "retry_after", "afterEvents": "after_events"}
        known = {f.name for f in fields(cls)} - {"id", "fired"}
        kwargs = {aliases.get(k, k): v for k, v in data.items()}
        unknown = set(kwargs) - known
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """The fault as the admin API shows it."""
        return asdict(self)


class FaultTable:
    """The faults in force; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._next = 1

    def add(self, fault: Fault) -> Fault:
        """Put a fault in force; returns it with its ``id``."""
        with self._lock:
            fault.id = self._next
            self._next += 1
            self._faults.append(fault)
        return fault

    def remove(self, fault_id: int) -> bool:
        """Take a fault out of force; False when no fault has that id."""
        with self._lock:
            before = len(self._faults)
            self._faults = [f for f in self._faults if f.id != fault_id]
            return len(self._faults) != before

    def clear(self) -> None:
        """Take every fault out of force."""
        with self._lock:
            self._faults.clear()

    def __iter__(self) -> Iterator[Fault]:
        with self._lock:
            return iter(list(self._faults))

    def __len__(self) -> int:
        return len(self._faults)

    def pick(self, verb: str, resource: str, kind_key: str, namespace: str | None,
             name: str | None, path: str) -> list[Fault]:
        """The faults that fire for this request (each counted; exhausted ones removed)."""
        fired: list[Fault] = []
        with self._lock:
            for fault in list(self._faults):
                if not fault.matches(verb, resource, kind_key, namespace, name, path):
                    continue
                if fault.probability < 1.0 and random.random() >= fault.probability:
                    continue
                fault.fired += 1
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                fired.append(fault)
        return fired


@dataclass(frozen=True)
class RequestRecord:
    """One answered (or dropped) request.

    Attributes:
        method, path, query: as received (query without the leading ``?``).
        status: HTTP status sent (0 when the connection was dropped on purpose).
        duration_ms: from the first byte read to the answer (for a watch: to its end).
        user: the authenticated user (``""`` when authentication failed).
        verb: the Kubernetes verb (``list``, ``watch`` …) when the path named a resource.
        when: sandbox-clock timestamp.
    """

    method: str
    path: str
    query: str
    status: int
    duration_ms: float
    user: str
    verb: str = ""
    when: str = ""


class RequestLog:
    """The newest requests (bounded), oldest first; thread-safe."""

    def __init__(self, size: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._records: deque[RequestRecord] = deque(maxlen=size)

    def add(self, record: RequestRecord) -> None:
        """Append one record (the oldest falls out when full)."""
        with self._lock:
            self._records.append(record)

    def records(self) -> list[RequestRecord]:
        """The records, oldest first."""
        with self._lock:
            return list(self._records)

    def __iter__(self) -> Iterator[RequestRecord]:
        return iter(self.records())

    def __len__(self) -> int:
        return len(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def find(self, method: str | None = None, path: str | None = None) -> list[RequestRecord]:
        """Records with this method and/or whose path starts with ``path``."""
        return [r for r in self.records()
                if (method is None or r.method == method) and (path is None or r.path.startswith(path))]
