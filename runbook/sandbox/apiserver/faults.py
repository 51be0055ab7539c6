"""Faults the sandbox injects on purpose, and the log of every request it answered.

A :class:`Fault` matches requests by verb, resource, namespace, name and/or path prefix, and then
acts: answer with an error status (optionally with ``Retry-After``), add latency, drop the
connection without an answer (before the request is processed, or after it was — the write is
committed and the answer lost), or cut a watch stream short. ``times`` limits how often it fires
and ``probability`` makes it fire at random. The same table is driven from Python
(``sandbox.faults.add(Fault(...))`` or ``sandbox.faults.add(parse_fault_spec("list:pods:503"))``),
from the admin API (``POST /sandbox/v1/faults``) and from the command line
(``runbook sandbox --faults SPEC…``); :func:`parse_fault_spec` documents the spec syntax.
"""

from __future__ import annotations

import math
import random
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from runbook.errors import InputError

ACTIONS = ("error", "latency", "drop", "drop-response", "truncate-watch")
#: the Kubernetes verbs a fault can match (empty: any)
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")


#: longest latency a fault may add (a client waits for it, and the sandbox holds the request)
MAX_LATENCY_SECONDS = 300.0


def number_in_range(name: str, value: Any, low: float, high: float, *,
                    integer: bool = False) -> float:
    """``value`` as a float when it is a finite number in [low, high] (an int if ``integer``).

    Raises:
        ValueError: anything else (a bool is no number here), naming the field and the range.
    """
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or (integer and not isinstance(value, int)) or not math.isfinite(value)
            or not low <= value <= high):
        shown = repr(value)[:40]
        raise ValueError(f"{name} must be {'an integer' if integer else 'a number'} from "
                         f"{_plain(low)} to {_plain(high)}, not {shown}")
    return float(value)


def _plain(number: float) -> str:
    """``31,622,400`` rather than ``3.16224e+07`` in a message."""
    return f"{int(number):,}" if float(number).is_integer() else f"{number:g}"


@dataclass
class Fault:
    """One entry of the fault table.

    Attributes:
        action: ``error`` | ``latency`` | ``drop`` (the connection is closed before the request is
            processed: nothing happens) | ``drop-response`` (the request is processed — a write
            is committed — and the connection is closed instead of answering: the client cannot
            know whether its write happened) | ``truncate-watch``.
        verb: Kubernetes verb to match (``get``, ``list``, ``watch``, ``create``, ``update``,
            ``patch``, ``delete``, ``deletecollection``), empty matches any.
        resource: plural (``pods``) or kind key (``deployments.apps``), empty matches any.
        namespace, name: exact match when set.
        path: URL path prefix when set (``/api/v1/namespaces/default/pods``).
        status: HTTP status for ``error`` (default 500); the body is what kube-apiserver sends
            for that status (see ``exchange.fault_error``: a 409 is the registry's Conflict naming
            the object, a 429 the max-in-flight filter's plain-text answer).
        message: the Status message for ``error`` (empty: kube-apiserver's own wording).
        retry_after: seconds for the ``Retry-After`` header (and ``details.retryAfterSeconds``).
        latency: seconds added before answering (``latency``; also delays ``error``).
        after_events: for ``truncate-watch``: events sent before the stream is cut.
        skip: matching requests let through before it starts firing (``skip=1``: the first
            matching request is served, e.g. a dry run before the real write).
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
    message: str = ""
    retry_after: int | None = None
    latency: float = 0.0
    after_events: int = 0
    skip: int = 0
    times: int | None = None
    probability: float = 1.0
    id: int = 0
    fired: int = field(default=0)

    def __post_init__(self) -> None:
        # the admin API builds faults from JSON: every field is checked, so that a bad value is a
        # 400 now rather than a 500 on every matching request later
        for name in ("action", "verb", "resource", "path", "message"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"{name} must be a string")
        for name in ("namespace", "name"):
            if not isinstance(getattr(self, name), (str, type(None))):
                raise ValueError(f"{name} must be a string or null")
        number_in_range("status", self.status, 100, 599, integer=True)
        number_in_range("latency", self.latency, 0, MAX_LATENCY_SECONDS)
        number_in_range("after_events", self.after_events, 0, 10**9, integer=True)
        number_in_range("skip", self.skip, 0, 10**9, integer=True)
        if self.retry_after is not None:
            number_in_range("retry_after", self.retry_after, 0, 86400, integer=True)
        if self.times is not None:
            number_in_range("times", self.times, 0, 10**9, integer=True)
        if self.action not in ACTIONS:
            raise ValueError(f"fault action must be one of {', '.join(ACTIONS)}, not {self.action!r}")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        if self.action == "error" and not 400 <= self.status <= 599:
            raise ValueError(f"an error fault needs an HTTP error status (400-599), not {self.status}")

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
                if fault.skip > 0:
                    fault.skip -= 1
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


#: the spec grammar, quoted by every parse error so that the fix is on the same line
SPEC_SYNTAX = ("VERB:RESOURCE:EFFECT[:KEY=VALUE,…], e.g. list:pods:503:times=3,retry-after=1 "
               "(EFFECT: an HTTP status 400-599, drop, drop-response, latency=SECONDS or "
               "truncate-watch[=EVENTS]; see docs/sandbox.md › Faults)")
#: option keys of a spec → Fault field (``ns`` is short for ``namespace``)
_SPEC_OPTIONS = {"times": "times", "skip": "skip", "retry-after": "retry_after", "latency": "latency",
                 "after-events": "after_events", "probability": "probability",
                 "namespace": "namespace", "ns": "namespace", "name": "name", "path": "path",
                 "message": "message"}


def parse_fault_spec(spec: str) -> Fault:
    """Build a :class:`Fault` from one command-line spec (``runbook sandbox --faults SPEC…``).

    Syntax: ``VERB:RESOURCE:EFFECT[:KEY=VALUE,…]``

    * ``VERB`` — ``get``, ``list``, ``watch``, ``create``, ``update``, ``patch``, ``delete``,
      ``deletecollection``, or ``*`` for any;
    * ``RESOURCE`` — a plural (``pods``), a kind key (``deployments.apps``) or ``*``;
    * ``EFFECT`` — an HTTP status ``400``-``599`` (an error answer, e.g. ``503``, ``429``,
      ``409``), ``drop`` (connection closed, request not processed), ``drop-response`` (request
      processed, answer lost), ``latency=SECONDS`` or ``truncate-watch[=EVENTS]``;
    * options — ``times=N`` (fire N times, then retire), ``skip=N`` (let the first N matching
      requests through), ``retry-after=S`` (``Retry-After`` header), ``latency=S`` (delay before
      the effect), ``after-events=N``,
      ``probability=P`` (0-1), ``namespace=NS`` (or ``ns=NS``), ``name=NAME``, ``path=PREFIX``,
      ``message=TEXT`` (no commas).

    Examples: ``list:pods:503:times=3,retry-after=1`` · ``update:mutatingwebhookconfigurations:409:
    times=5`` · ``get:*:latency=2`` · ``create:configmaps:drop-response:times=1`` ·
    ``watch:pods:truncate-watch=3`` · ``*:*:500:probability=0.05``.

    Raises:
        InputError: the spec does not follow the syntax (the message quotes it and the syntax).
    """
    def bad(why: str) -> InputError:
        return InputError(f"fault spec {spec!r}: {why}", hint=f"write {SPEC_SYNTAX}")

    parts = spec.strip().split(":", 3)
    if len(parts) < 3 or not parts[2]:
        raise bad("expected at least VERB:RESOURCE:EFFECT")
    verb, resource, effect = (p.strip() for p in parts[:3])
    verb = "" if verb in ("*", "") else verb.lower()
    if verb and verb not in VERBS:
        raise bad(f"unknown verb {verb!r} (use one of {', '.join(VERBS)} or *)")
    resource = "" if resource in ("*", "") else resource.lower()
    fields_: dict[str, Any] = {"verb": verb, "resource": resource}
    head, _, value = effect.partition("=")
    head = head.lower()
    if head.isdigit():
        if value:
            raise bad(f"a status takes no value ({effect!r})")
        fields_.update(action="error", status=_number(bad, "status", head, int))
    elif head in ("drop", "drop-response"):
        if value:
            raise bad(f"{head} takes no value ({effect!r})")
        fields_["action"] = head
    elif head == "latency":
        if not value:
            raise bad("latency needs seconds: latency=2.5")
        fields_.update(action="latency", latency=_number(bad, "latency", value, float))
    elif head == "truncate-watch":
        fields_.update(action="truncate-watch",
                       after_events=_number(bad, "truncate-watch", value or "0", int))
    else:
        raise bad(f"unknown effect {effect!r}")
    if len(parts) == 4:
        for option in filter(None, (o.strip() for o in parts[3].split(","))):
            key, sep, raw = option.partition("=")
            key = key.strip().lower()
            if not sep or key not in _SPEC_OPTIONS:
                raise bad(f"unknown option {option!r} (options: {', '.join(sorted(_SPEC_OPTIONS))})")
            name = _SPEC_OPTIONS[key]
            if name in ("times", "skip", "retry_after", "after_events"):
                fields_[name] = _number(bad, key, raw, int)
            elif name in ("latency", "probability"):
                fields_[name] = _number(bad, key, raw, float)
            else:
                fields_[name] = raw.strip()
    if fields_.get("times") is not None and fields_["times"] < 1:
        raise bad("times must be at least 1")
    try:
        return Fault(**fields_)
    except ValueError as exc:
        raise bad(str(exc)) from None


def _number(bad: Any, key: str, raw: str, kind: type[int] | type[float]) -> Any:
    try:
        value = kind(raw.strip())
    except ValueError:
        raise bad(f"{key} must be a {'whole ' if kind is int else ''}number, not {raw!r}") from None
    if not math.isfinite(value) or value < 0:
        raise bad(f"{key} must be a finite number, not negative")
    return value


def format_fault_spec(fault: Fault) -> str:
    """The spec that :func:`parse_fault_spec` turns back into ``fault`` (for listings)."""
    if fault.action == "error":
        effect = str(fault.status)
    elif fault.action == "latency":
        effect = f"latency={fault.latency:g}"
    elif fault.action == "truncate-watch":
        effect = f"truncate-watch={fault.after_events}"
    else:
        effect = fault.action
    options = []
    if fault.times is not None:
        options.append(f"times={fault.times}")
    if fault.skip:
        options.append(f"skip={fault.skip}")
    if fault.retry_after is not None:
        options.append(f"retry-after={fault.retry_after}")
    if fault.latency and fault.action != "latency":
        options.append(f"latency={fault.latency:g}")
    if fault.probability != 1.0:
        options.append(f"probability={fault.probability:g}")
    for key, value in (("namespace", fault.namespace), ("name", fault.name),
                       ("path", fault.path or None), ("message", fault.message or None)):
        if value is not None:
            options.append(f"{key}={value}")
    spec = f"{fault.verb or '*'}:{fault.resource or '*'}:{effect}"
    return spec + (":" + ",".join(options) if options else "")


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
