"""The audit trail is written ahead: a kill at any point leaves a record, and no run deletes one.

A ``started`` record is appended and fsynced to the user's trail before each write to the
cluster and completed after it. The main test kills a real ``runbook run`` (its kernel and the
runner) with SIGKILL while the fix's write is on the wire — the sandbox holds the request
for a few seconds — and checks what the user's trail, the run's copy and the next run say.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest

from runbook import kinds as k
from runbook.audit import STARTED, AuditLog, AuditRecord
from runbook.fix import reconcile
from runbook.fix.actions import retarget_webhook
from runbook.kube import connect
from runbook.kube.objects import comparable
from runbook.paths import runbook_home
from runbook.sandbox import Sandbox
from runbook.sandbox.apiserver.faults import parse_fault_spec
from tests.waiting import wait_until

from .conftest import Ledger

ROOT = Path(__file__).resolve().parents[2]
TAG = "istio-revision-tag-prod-canary"
WEBHOOK = f"MutatingWebhookConfiguration/{TAG}"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _run(args: list[str], out: Path, kubeconfig: str, **kw: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "runbook", "run", *args, "--kubeconfig", kubeconfig,
         "--context", "sandbox", "--out", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)  # type: ignore[call-overload]


@pytest.mark.slow
@pytest.mark.notebook
def test_a_run_killed_mid_fix_leaves_started_outcome_unknown_and_the_next_run_shows_it(
        tmp_path: Path, ledger: Ledger) -> None:
    home_trail = AuditLog(runbook_home() / "audit.jsonl")
    out = tmp_path / "out"
    copy = out / "03-fix-webhook-and-recreate.audit.jsonl"
    with Sandbox(scenario="seed-incident", pod_start_seconds=0.05) as sb:
        # the retarget's write (after its dry run) reaches the server and is held there: the kill
        # lands mid-write
        sb.faults.add(parse_fault_spec("update:mutatingwebhookconfigurations:latency=4:skip=1,times=1"))
        runner = _run(["03", "-p", "apply_fixes", "true"], out, sb.kubeconfig_path)
        try:
            started = wait_until(lambda: [r for r in home_trail.unfinished() if r.object == WEBHOOK],
                                 "the fix's started record in the user's trail", timeout=180,
                                 interval=0.02)
            victims = [*psutil.Process(runner.pid).children(recursive=True), psutil.Process(runner.pid)]
            for proc in victims:  # the kernel (its own session) first: it is the one writing
                proc.kill()
            killed_at = time.monotonic()
            runner.wait(timeout=30)
        finally:
            if runner.poll() is None:
                runner.kill()
                runner.wait()
        assert runner.returncode == -9

        # the user's trail: the change announced, its outcome unknown; the run's copy too
        [record] = started
        assert record.result == STARTED and record.action == "apply" and record.context == "sandbox"
        assert record.before is not None and record.after is not None and record.run
        assert [r.id for r in AuditLog(copy).unfinished()] == [record.id]
        assert _mode(home_trail.path) == 0o600 and _mode(copy) == 0o600
        assert "started, outcome unknown" in record.summary()

        # the next run into the same folder keeps the copy and shows the unknown change
        again = _run(["03"], out, sb.kubeconfig_path)
        output = again.communicate(timeout=300)[0].decode(errors="replace")
        assert again.returncode == 0, output
        assert record.id in {r.id for r in AuditLog(copy).entries()}  # never deleted
        report = (out / "03-fix-webhook-and-recreate.html").read_text()
        assert "Changes started whose outcome is unknown" in report
        assert "started, outcome unknown" in report and TAG in report
        header = nbformat.read(out / "03-fix-webhook-and-recreate.ipynb", as_version=4).cells[0]
        assert "outcome is unknown" in header.source

        # reconciling against the live object settles it, whichever way the held write went
        # (the server may still commit it after the client died, or drop it with the connection)
        time.sleep(max(0.0, 4.5 - (time.monotonic() - killed_at)))
        cluster = connect(sb.kubeconfig_path, "sandbox")
        try:
            landed = {w["clientConfig"]["service"]["namespace"]
                      for w in cluster.get(k.MUTATING_WEBHOOKS, TAG)["webhooks"]} == {"istio-canary"}
            settled = reconcile(cluster, record)
        finally:
            cluster.close()
    assert settled.result == ("applied" if landed else "failed") and settled.id == record.id
    assert home_trail.unfinished() == []
    ledger.record("security", check="a run killed (SIGKILL) mid-fix keeps its audit record",
                  how="`runbook run 03 -p apply_fixes true`, kernel and runner SIGKILLed while the "
                      "webhook write is held by the server; then a re-run into the same --out",
                  result="user's trail and run copy (0600) hold 'started, outcome unknown'; the "
                         "re-run keeps the copy and its report lists the unknown change; "
                         "reconcile() settles it against the live object")


def test_every_write_of_a_fix_is_announced_before_it_is_sent(live_sandbox: Sandbox, tmp_path: Path,
                                                            ledger: Ledger) -> None:
    cluster = connect(live_sandbox.kubeconfig_path, "sandbox")
    audit = AuditLog(tmp_path / "audit.jsonl")
    plan = retarget_webhook(cluster, TAG, "istio-canary")
    seen_at_send: list[list[AuditRecord]] = []
    # the server's view: when the write arrives, the trail on disk already announces it
    unsubscribe = live_sandbox.store.subscribe(lambda change: seen_at_send.append(audit.unfinished()))
    try:
        plan.apply(cluster, confirm="sandbox", audit=audit)
        plan.undo(cluster, confirm="sandbox", audit=audit)
    finally:
        unsubscribe()
        cluster.close()
    announced = [rs for rs in seen_at_send if rs]
    assert [[r.action for r in rs] for rs in announced] == [["apply"], ["undo"]]
    entries = audit.entries()
    assert [r.result for r in entries] == [STARTED, "applied", STARTED, "applied"]
    assert entries[0].id == entries[1].id != entries[2].id == entries[3].id
    assert audit.unfinished() == [] and [r.result for r in audit.read()] == ["applied", "applied"]
    ledger.record("security", check="every write of a fix is announced in the audit trail first",
                  how="the sandbox's store, on each commit of an apply and an undo, reads the "
                      "audit file",
                  result="a fsynced 'started' record was on disk before each commit; each "
                         "completed under the same id")


def test_audit_files_are_private_even_when_they_existed_before(tmp_path: Path, ledger: Ledger) -> None:
    path = tmp_path / "new-home" / "audit.jsonl"
    record = AuditRecord(action="apply", plan="p", step="s", context="c", server="https://x",
                         user=None, object="Namespace/a", result="applied")
    AuditLog(path).append(record)
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
    old = tmp_path / "old.jsonl"
    old.write_text("")
    os.chmod(old, 0o644)  # as an earlier version left it
    AuditLog(old).append(record)
    assert _mode(old) == 0o600
    ledger.record("security", check="audit files are readable by their owner only",
                  how="a new trail (and its new folder), and a trail left world-readable before",
                  result="0600 files, 0700 folder")


def test_reconcile_tells_applied_from_never_landed_from_changed_since(
        live_sandbox: Sandbox, tmp_path: Path, ledger: Ledger) -> None:
    cluster = connect(live_sandbox.kubeconfig_path, "sandbox")
    audit = AuditLog(tmp_path / "audit.jsonl")
    try:
        plan = retarget_webhook(cluster, TAG, "istio-canary")
        step = plan.steps[0]

        def announced() -> AuditRecord:
            return audit.begin(AuditRecord(
                action="apply", plan=plan.title, step=step.description, context=cluster.context,
                server=cluster.server, user=cluster.user, object=step.label, result=STARTED,
                before=comparable(step.before), after=comparable(step.after)))

        # announced, never sent (the process died before the request): the object is as before
        never = announced()
        assert reconcile(cluster, never, audit).result == "failed"
        # sent and landed, outcome lost
        plan.apply(cluster, confirm="sandbox", audit=AuditLog(tmp_path / "other.jsonl"))
        landed = announced()
        assert reconcile(cluster, landed, audit).result == "applied"
        # somebody else changed it since: neither before nor after, a person must look
        live = cluster.get(k.MUTATING_WEBHOOKS, TAG)
        live["webhooks"][0]["clientConfig"]["service"]["namespace"] = "istio-prod"
        cluster.replace(k.MUTATING_WEBHOOKS, live)
        changed = announced()
        settled = reconcile(cluster, changed, audit)
        assert settled.result == "unknown" and "check it by hand" in settled.detail
        assert audit.unfinished() == []
        with pytest.raises(ValueError, match="only a started record"):
            reconcile(cluster, settled, audit)
    finally:
        cluster.close()
    ledger.record("security", check="a change of unknown outcome is settled against the live object",
                  how="started records for a write never sent, one that landed, and one whose "
                      "object somebody changed since",
                  result="failed / applied / unknown (check by hand), each appended as the "
                         "change's outcome")
