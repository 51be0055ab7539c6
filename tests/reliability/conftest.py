"""The reliability suite's ledger: what each test injected, tried and observed, for RELIABILITY.md.

Tests assert first and record second: a row is written only when the test got that far, and the
outcome of every test (passed/failed) is kept next to the rows, so the report can never show a
row whose test failed as survived. ``python -m tests.reliability.report`` runs this suite with
``RUNBOOK_RELIABILITY_RECORDS`` pointing at a file and renders RELIABILITY.md from it; without
the variable the ledger goes to pytest's base temp directory (``reliability-records.json``).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from runbook.fix.plan import CONTROLLER_ANNOTATIONS
from runbook.kinds import ResourceKind
from runbook.kube import Cluster, RetryPolicy, connect
from runbook.kube.objects import comparable
from runbook.sandbox import Change, Sandbox

RECORDS_ENV = "RUNBOOK_RELIABILITY_RECORDS"
#: a retry policy with real backoff shapes but short waits, so that the suite stays fast
FAST_RETRY = RetryPolicy(attempts=4, base_seconds=0.02, cap_seconds=2.0)


class Ledger:
    """Rows of the report, by section (``faults``, ``bad_input``, ``soak``, ``security``)."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.outcomes: dict[str, str] = {}
        self._lock = threading.Lock()
        self.current_test = ""

    def record(self, section: str, **row: Any) -> None:
        """Add one row to ``section`` (the running test's node id is added as ``test``)."""
        with self._lock:
            self.rows.setdefault(section, []).append({"test": self.current_test, **row})

    def to_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "outcomes": self.outcomes}


_LEDGER = Ledger()


@pytest.fixture(scope="session")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    """The session's ledger; written to JSON when the session ends."""
    yield _LEDGER
    target = os.environ.get(RECORDS_ENV)
    path = Path(target) if target else tmp_path_factory.getbasetemp() / "reliability-records.json"
    path.write_text(json.dumps(_LEDGER.to_json(), indent=1, default=str))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _LEDGER.current_test = item.nodeid


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call" or (report.when == "setup" and not report.passed):
        _LEDGER.outcomes[item.nodeid] = report.outcome


# ---------------------------------------------------------------- checking a message


def assert_one_clear_line(message: str, *, secrets: tuple[str, ...] = ()) -> None:
    """A refusal as users must see it: one line, says what to do, no traceback, no credential."""
    assert message.strip(), "empty message"
    assert "\n" not in message.strip(), f"more than one line: {message!r}"
    assert "Traceback" not in message and 'File "' not in message, message
    assert " — " in message, f"no hint (what to do) in: {message}"
    for secret in secrets:
        assert secret not in message, f"a credential leaks into: {message}"


# ---------------------------------------------------------------- counting writes on the server


@dataclass
class WriteCounter:
    """Configuration changes the sandbox committed, per object (``kind/namespace/name``).

    Counted from the store's own commit stream, not from what the client believes, so a write whose
    answer was lost is still counted, and a repeated one counted twice. Status-only commits and the
    controllers' bookkeeping annotations (rollout revisions) are not configuration changes.
    """

    changes: dict[str, list[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, change: Change) -> None:
        if change.type == "MODIFIED" and _config(change.old) == _config(change.obj):
            return
        meta = change.obj.get("metadata") or {}
        key = f"{change.kind}/{meta.get('namespace') or ''}/{meta.get('name')}"
        with self._lock:
            self.changes.setdefault(key, []).append(change.type)

    def count(self, kind: ResourceKind, name: str, namespace: str | None = None,
              type_: str | None = None) -> int:
        """Commits to one object (of one change type when given)."""
        with self._lock:
            seen = self.changes.get(f"{kind.key}/{namespace or ''}/{name}", [])
            return sum(1 for t in seen if type_ is None or t == type_)

    def total(self) -> int:
        with self._lock:
            return sum(len(v) for v in self.changes.values())


def _config(obj: dict[str, Any] | None) -> Any:
    out = comparable(obj)
    meta = (out or {}).get("metadata") or {}
    annotations = meta.get("annotations") or {}
    for key in CONTROLLER_ANNOTATIONS:
        annotations.pop(key, None)
    if not annotations:
        # the controller's first revision annotation creates the map: no configuration change
        meta.pop("annotations", None)
    return out


@pytest.fixture
def writes(live_sandbox: Sandbox) -> Iterator[WriteCounter]:
    """Every configuration change the live sandbox commits during the test."""
    counter = WriteCounter()
    unsubscribe = live_sandbox.store.subscribe(counter)
    yield counter
    unsubscribe()


# ---------------------------------------------------------------- sandboxes


@pytest.fixture
def live_sandbox() -> Iterator[Sandbox]:
    """The field report's world on a real clock with fast pod starts (flows poll, time passes)."""
    with Sandbox(scenario="seed-incident", pod_start_seconds=0.05) as sb:
        yield sb


@pytest.fixture
def live(live_sandbox: Sandbox) -> Iterator[Cluster]:
    """A connection to :func:`live_sandbox` with short retry waits."""
    cluster = connect(live_sandbox.kubeconfig_path, "sandbox", retry=FAST_RETRY)
    yield cluster
    cluster.close()


def client_writes(cluster: Cluster, since: int = 0) -> int:
    """Write requests the client sent (attempts included) since request number ``since``."""
    return sum(r.attempts for r in cluster.requests[since:]
               if r.method in ("POST", "PUT", "PATCH", "DELETE"))


Recorder = Callable[..., None]
