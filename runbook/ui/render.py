"""Records of what was done, as plain text *and* HTML, for notebooks and exported reports.

Widgets lose their state when a notebook runs headlessly or is exported (papermill#400): a report
can then only show what the cells *printed*. So every action of the fix panel — preview, dry run,
apply, undo, recreate, wait — produces a :class:`Record`, shown in the cell's output (and the
panel's log), carrying both representations:

* ``text/plain`` — for terminals, ``runbook run`` logs and text exports;
* ``text/html`` — the diff coloured line by line, the commands in a code block, tables.

Each record names the kube context, shows the equivalent ``kubectl``/``istioctl`` commands (for
learning, and for runbooks kept without this tool) and, for changes, the audit lines that were
appended. Nothing here fetches or decides: it renders plans, results and audit records made by
:mod:`runbook.fix` and :mod:`runbook.mesh`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from runbook.audit import AuditRecord
from runbook.check_result import ExerciseCheck, Preconditions
from runbook.errors import PartialApply, RunbookError
from runbook.fix.choices import TargetChoice
from runbook.fix.flow import FixAttempt
from runbook.fix.plan import FixPlan, PlanResult
from runbook.markup import escape_html as _e
from runbook.markup import styled
from runbook.mesh.findings import Finding
from runbook.mesh.rollout import Rollout

_BOX = ("border:1px solid #d0d7de;border-radius:6px;padding:6px 10px;margin:4px 0;"
        "color:#1f2328;background:#ffffff;font-family:sans-serif;font-size:13px")
_PRE = ("background:#f6f8fa;color:#1f2328;padding:6px;border-radius:4px;white-space:pre-wrap;"
        "font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;"
        "margin:4px 0")
#: (text mark, html colour) per outcome
_MARKS = {True: ("✓", "#1a7f37"), False: ("✗", "#cf222e"), None: ("•", "#57606a")}
_DIFF_COLOURS = {"+": "background:#dafbe1;color:#116329", "-": "background:#ffebe9;color:#82071e",
                 "@": "background:#ddf4ff;color:#0550ae"}


@dataclass
class Record:
    """One action's record, in two representations of the same content.

    ``display(record)`` in Jupyter emits both (``text/plain`` and ``text/html``) in one output;
    ``print(record)`` prints the text.

    Attributes:
        title: one line: what was done and how it ended.
        text: the plain-text record.
        html: the HTML record.
        ok: True (done), False (refused or failed), None (informative).
    """

    title: str
    text: str
    html: str
    ok: bool | None = None

    def __str__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        return self.html

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text)

    def output(self) -> dict[str, Any]:
        """The record as a notebook ``display_data`` output (for an ``Output`` widget)."""
        return {"output_type": "display_data", "metadata": {},
                "data": {"text/plain": self.text, "text/html": self.html}}


class ShownAsRecord:
    """For objects that show themselves as their :meth:`record`: Jupyter, IPython and ``print``."""

    def record(self) -> Record:
        raise NotImplementedError

    def _repr_html_(self) -> str:
        return self.record().html

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.record().text)

    def __str__(self) -> str:
        return self.record().text


def _head(title: str, ok: bool | None) -> tuple[str, str]:
    mark, colour = _MARKS[ok]
    return f"{mark} {title}", f'<div style="font-weight:600;color:{colour}">{mark} {_e(title)}</div>'


def _box(inner: str) -> str:
    return f'<div class="mesh-runbook-record" style="{_BOX}">{inner}</div>'


def _pre(text: str) -> str:
    return f'<pre style="{_PRE}">{_e(text)}</pre>'


def _list(items: Iterable[str]) -> str:
    lis = "".join(f"<li>{_e(i)}</li>" for i in items)
    return f'<ul style="margin:2px 0 2px 18px;padding:0">{lis}</ul>' if lis else ""


def diff_html(diff: str) -> str:
    """A unified diff as HTML: added lines green, removed red, hunk headers blue (escaped)."""
    if not diff:
        return _pre("(no change: the cluster already matches)")
    lines = []
    for line in diff.splitlines():
        style = "" if line.startswith(("+++", "---")) else _DIFF_COLOURS.get(line[:1], "")
        lines.append(f'<span style="display:block;{style}">{_e(line) or "&nbsp;"}</span>')
    return f'<pre class="mesh-runbook-diff" style="{_PRE}">{"".join(lines)}</pre>'


def commands_text(commands: Sequence[str], heading: str = "Equivalent commands") -> str:
    """``heading:`` then one ``$ command`` per line (multi-line commands indented); "" for none."""
    return f"{heading}:\n" + "\n".join(f"  $ {c}" if "\n" not in c else "  $ " + c.replace(
        "\n", "\n    ") for c in commands) if commands else ""


def commands_html(commands: Sequence[str], heading: str = "Equivalent commands") -> str:
    """The commands as an HTML code block under a bold heading (escaped); "" for none."""
    if not commands:
        return ""
    body = "\n".join(f"$ {c}" for c in commands)
    return f'<div style="margin-top:4px"><b>{_e(heading)}</b>{_pre(body)}</div>'


def _make(title: str, ok: bool | None, text_parts: Sequence[str], html_parts: Sequence[str]
          ) -> Record:
    head_text, head_html = _head(title, ok)
    text = "\n".join([head_text, *(p for p in text_parts if p)])
    return Record(title, text, _box(head_html + "".join(p for p in html_parts if p)), ok)


# ------------------------------------------------------------------------------------- records


def render_note(title: str, lines: Sequence[str] = (), *, ok: bool | None = None,
                commands: Sequence[str] = ()) -> Record:
    """A short informative record (nothing to fix, what to do next …)."""
    return _make(title, ok, [*(f"  {ln}" for ln in lines), commands_text(commands)],
                 [_list(lines), commands_html(commands)])


def render_finding(finding: Finding, choice: TargetChoice | None = None,
                   selected: str | None = None) -> Record:
    """The finding a fix comes from: code, subject, message, evidence, the proposal, the choice."""
    fix = finding.fix
    title = f"{finding.severity} {finding.code} {finding.subject}"
    lines = [finding.message]
    if fix is not None:
        lines.append(f"proposed fix: {fix.summary}")
    if choice is not None:
        lines.append(f"{choice.title}: {choice.label_of(selected or choice.selected)}")
        lines.append(choice.help)
    text = [f"  {ln}" for ln in lines] + [f"  evidence: {e}" for e in finding.evidence]
    cmds = [fix.command] if fix is not None else []
    parts = [f"<div>{_e(finding.message)}</div>"]
    if fix is not None:
        parts.append(f"<div><b>Proposed fix:</b> {_e(fix.summary)}</div>")
    if choice is not None:
        parts.append(f"<div><b>{_e(choice.title)}:</b> {_e(choice.label_of(selected or choice.selected))}"
                     f'<div style="color:#57606a">{_e(choice.help)}</div></div>')
    if finding.evidence:
        parts.append("<details><summary>evidence</summary>" + _list(finding.evidence) + "</details>")
    sev_ok = {"error": False, "warning": None, "info": None}.get(finding.severity)
    return _make(title, sev_ok, [*text, commands_text(cmds, "The diagnosis' command")],
                 [*parts, commands_html(cmds, "The diagnosis' command")])


def render_plan(plan: FixPlan) -> Record:
    """The preview: context, why, the steps, the unified diff and the equivalent commands."""
    confirm = (f"touches cluster-scoped objects: type the context name {plan.context!r} to "
               f"confirm before applying" if plan.cluster_scoped else
               "namespaced objects only: no confirmation needed")
    steps = [f"{i}. {s.verb} {s.label}: {s.description}"
             + ("" if s.undoable else " (cannot be undone)") for i, s in enumerate(plan.steps, 1)]
    undo = ("undo restores every object exactly" if plan.undoable else
            "some steps cannot be undone (see above)")
    facts = [f"context: {plan.context} ({plan.server})", confirm,
             *([f"why: {plan.rationale}"] if plan.rationale else []), undo]
    diff = plan.diff()
    sections = command_sections(plan, "apply")
    text = [*(f"  {f}" for f in facts), *(f"  {s}" for s in steps), "",
            diff or "(no change: the cluster already matches)", "",
            *(commands_text(c, h) for h, c in sections)]
    parts = [_list(facts), "<b>Steps</b>" + _list(steps), "<b>Diff</b>" + diff_html(diff),
             *(commands_html(c, h) for h, c in sections)]
    return _make(f"Preview: {plan.title}", None, text, parts)


def command_sections(plan: FixPlan, action: str) -> list[tuple[str, list[str]]]:
    """The commands that do by hand what ``action`` (apply, dry-run, undo) of ``plan`` does.

    For an apply, the usual tool's command (``istioctl tag set``, ``kubectl rollout restart``)
    comes first and the exact per-object ``kubectl`` commands after it, as an alternative — not
    as further steps to run. The last section is always the per-object ``kubectl`` commands.

    Returns:
        (heading, commands) pairs, in display order.
    """
    steps = [s.kubectl() for s in plan.steps]
    if action == "dry-run":
        return [("Equivalent commands (server-side dry run)", plan.kubectl(dry_run=True))]
    if action == "undo":
        return [("To revert by hand", plan.undo_kubectl())]
    if plan.extra_commands:
        return [("Equivalent command", list(plan.extra_commands)),
                ("or exactly what is sent, object by object", steps)]
    return [("Equivalent commands", steps)]


def render_result(result: PlanResult, plan: FixPlan | None = None,
                  audit_path: object | None = None) -> Record:
    """A dry run, apply or undo: every step's outcome, the commands, the audit lines."""
    word = {"dry-run": "Dry run (server-side, nothing stored)", "apply": "Applied",
            "undo": "Undone"}.get(result.action, result.action)
    ok = result.ok
    title = f"{word}: {result.plan}" if ok else f"{result.action} of {result.plan}: NOT completed"
    steps = [f"{s.object}: {s.status}" + (f" — {s.detail}" if s.detail else "") for s in result.steps]
    sections = command_sections(plan, result.action) if plan is not None else []
    audit = audit_lines(result.audit, audit_path)
    text = [f"  context: {result.context}", *(f"  {s}" for s in steps),
            *(commands_text(c, h) for h, c in sections), audit.text if result.audit else ""]
    parts = [f"<div>context: <code>{_e(result.context)}</code></div>", _list(steps),
             *(commands_html(c, h) for h, c in sections), audit.html if result.audit else ""]
    return _make(title, ok, text, parts)


def audit_lines(records: Sequence[AuditRecord], path: object | None = None) -> Record:
    """The audit records of an action, one line each (and where the file is)."""
    where = f" (appended to {path})" if path is not None else ""
    lines = [r.summary() for r in records]
    title = f"Audit: {len(records)} record{'s' if len(records) != 1 else ''}{where}"
    text = f"{title}\n" + "\n".join(f"  {ln}" for ln in lines)
    return Record(title, text, f"<div><b>{_e(title)}</b>{_pre(chr(10).join(lines))}</div>", None)


def render_error(action: str, error: BaseException, plan: FixPlan | None = None) -> Record:
    """One clear line for a refusal or failure (never a traceback); completed steps for a
    partial apply."""
    line = error.one_line() if isinstance(error, RunbookError) else (
        f"{type(error).__name__}: {error} (unexpected — please report it)")
    title = f"{action} refused: {line}" if isinstance(error, RunbookError) else f"{action} failed: {line}"
    extra: list[str] = []
    if isinstance(error, PartialApply):
        extra = [f"{s.step}: {s.status}" + (f" — {s.detail}" if s.detail else "") for s in error.steps]
    if plan is not None and getattr(plan, "context", None):
        extra.append(f"context: {plan.context}")
    return _make(title, False, [f"  {x}" for x in extra], [_list(extra)])


def render_attempt(attempt: FixAttempt, audit_path: object | None = None) -> list[Record]:
    """Every record of a headless fix attempt: preview, dry run, apply (or why it stopped)."""
    out: list[Record] = []
    if attempt.plan is not None:
        out.append(render_plan(attempt.plan))
    if attempt.dry_run is not None:
        out.append(render_result(attempt.dry_run, attempt.plan, audit_path))
    if attempt.applied is not None:
        out.append(render_result(attempt.applied, attempt.plan, audit_path))
    if attempt.error is not None:
        out.append(render_error("apply" if attempt.plan is not None else "plan", attempt.error,
                                attempt.plan))
    status = attempt.status
    ok = {"applied": True, "no-change": True, "nothing-to-do": True, "dry-run": None}.get(status, False)
    out.append(render_note(attempt.summary(), ok=ok))
    return out


def rollout_commands(namespace: str, deployments: Iterable[str], timeout: float) -> list[str]:
    """The kubectl commands that show by hand what :func:`render_rollout` shows
    (``kubectl rollout status`` takes one Deployment at a time)."""
    cmds = [f"kubectl rollout status deployment/{d} -n {namespace} --timeout={int(timeout)}s"
            for d in deployments]
    return [*cmds, f"kubectl get pods -n {namespace}",
            f"kubectl get pods -n {namespace} -o custom-columns="
            "'POD:.metadata.name,REVISION:.metadata.annotations.istio\\.io/rev'"]


def render_rollout(rollout: Rollout, timeout: float, expected_revision: str | None = None) -> Record:
    """The end of a wait: verdict, stuck Deployments with their latest event, the pods table."""
    lines = rollout.summary().splitlines()
    title = lines[0]
    # the summary's own "  - " bullets would double the list's bullets
    notes = [ln.strip().removeprefix("- ") for ln in lines[1:]]
    revs = sorted({str(r) for r in rollout.pods["revision"].dropna()}) if not rollout.pods.empty else []
    if expected_revision and rollout.ok:
        if revs == [expected_revision]:
            notes.append(f"every pod was injected by revision {expected_revision}: the revision "
                         "whose istiod the applied fix's target reaches")
        else:
            notes.append(f"the applied fix's target reaches revision {expected_revision}, but the "
                         f"pods carry sidecars of {', '.join(revs) or 'none'}")
    origin = rollout.origin()
    if origin is not None:
        notes.append(origin)
    ok = rollout.recreated and (not expected_revision or revs == [expected_revision])
    cmds = rollout_commands(rollout.namespace, rollout.deployments["deployment"], timeout)
    table_cols = ["pod", "deployment", "ready", "status", "restarts", "revision", "proxy_image"]
    pods = rollout.pods[table_cols] if not rollout.pods.empty else rollout.pods
    text = [*(f"  {n}" for n in notes),
            pods.to_string(index=False) if not pods.empty else "  (no pods)",
            commands_text(cmds)]
    parts = [_list(notes), _pods_html(pods), commands_html(cmds)]
    return _make(title, ok, text, parts)


def _pods_html(pods: pd.DataFrame) -> str:
    if pods.empty:
        return "<div>(no pods)</div>"

    def paint(row: pd.Series) -> list[str]:
        have, _, total = str(row["ready"]).partition("/")
        bad = have != total or row["status"] != "Running"
        return ["background-color:#f8d7da;color:#58151c" if bad else ""] * len(row)

    return str(styled(pods).apply(paint, axis=1).hide(axis="index").to_html())


def render_preconditions(pre: Preconditions) -> Record:
    """A notebook's preconditions: one line saying whether it can start or what to do first,
    then every condition."""
    lines = [f"{'✓' if ln.ok else '✗'} {ln.text}" for ln in pre.lines]
    return _make(pre.todo(), pre.met, [f"  {ln}" for ln in lines], [_list(lines)])


def render_check(check: ExerciseCheck, *, headless: bool = False) -> Record:
    """An exercise check; in a headless run it is reported as not attempted (nobody did it)."""
    if headless:
        return render_note(f"{check.title}: not attempted (headless run — the exercise is done "
                           "by hand in Jupyter)", ok=None)
    lines = [f"{'✓' if ln.ok else '✗'} {ln.text}" for ln in check.lines]
    title = f"{check.title}: " + ("PASSED" if check.passed else "not done yet")
    return _make(title, check.passed, [f"  {ln}" for ln in lines], [_list(lines)])


__all__ = [
    "Record",
    "ShownAsRecord",
    "audit_lines",
    "command_sections",
    "commands_html",
    "commands_text",
    "diff_html",
    "render_attempt",
    "render_check",
    "render_error",
    "render_finding",
    "render_note",
    "render_plan",
    "render_preconditions",
    "render_result",
    "render_rollout",
    "rollout_commands",
]
