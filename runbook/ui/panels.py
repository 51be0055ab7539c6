"""The fix panel: the diagnosis' fixes as widgets — preview, dry run, confirm, apply, undo.

``FixPanel(cluster, findings, inventory)`` is an ``ipywidgets.VBox``::

    Finding   [error MR101 Namespace l7-traffic-alpha — point … at istio-canary/istiod-1-18-5 ▾]
              (message, proposed fix, the diagnosis' command)
    Target    [istio-canary — istio-canary/istiod-1-18-5:443 (revision 1-19-3, 1 ready endpoint) ▾]
              (what the choices mean)
    [Preview] [Dry run] Confirm [type sandbox] [Apply] [Undo]
    [Recreate workloads in l7-traffic-alpha] [Wait for rollout]
    Output log: one record per action

The rules the buttons follow are the fix safety model (runbook.fix.plan): Apply stays disabled until the
plan was previewed and, when it touches cluster-scoped objects, until the kube context's name is
typed into the confirmation box; Undo is enabled once something was applied; a change of finding
or target discards the preview. Only a person fills the confirmation box: code never writes into
it (a headless call's ``confirm=`` is kept in :attr:`FixPanel.confirmed_in_code`), and it is
emptied after each cluster-scoped apply or undo, so every such change needs the name typed again.

The panel opens on the proposed fix — the error that explains the symptom (MR101 in the field
report) — whatever headless calls ran since; any other fix is the trainee's choice. After an apply
the panel offers **Recreate workloads** (preview, dry run and apply of a ``rollout restart`` in
one click; a cluster-scoped recreate would wait for the typed context) and **Wait for rollout**,
whose verdict also says whether the ready pods come from ReplicaSets created after the fix or
from old ones the controller retried with back-off (which fails it). The log shows the newest
record first, next to the buttons.

The panel only holds widget state: plans, dry runs, applies, undos, choices and checks are
:mod:`runbook.fix`; waiting is :func:`runbook.mesh.rollout.wait_for_rollout`; records are
:mod:`runbook.ui.render`. Every action appends a :class:`~runbook.ui.render.Record` (plain text and
HTML) to :attr:`FixPanel.records` and shows it: button clicks in the log below the buttons, the
headless methods (:meth:`apply_proposed`, :meth:`run`, :meth:`recreate`,
:meth:`wait_for_rollout`) in the cell's output, so that an exported report shows what was done
without widget state (papermill#400). Refusals and
failures are one line in the log, never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import ipywidgets as widgets
from IPython.display import display

from runbook.audit import AuditLog
from runbook.errors import ConcurrentChange, PartialApply, RunbookError
from runbook.fix.actions import plan_fix
from runbook.fix.choices import TargetChoice, choose, target_choice
from runbook.fix.flow import (
    FixAttempt,
    fixable,
    proposed_fix,
    recreate_reason,
    recreate_suggestion,
    run_fix,
)
from runbook.fix.plan import FixPlan
from runbook.kube import Cluster
from runbook.markup import escape_html
from runbook.mesh.diagnose import Inventory
from runbook.mesh.findings import Finding, FixSuggestion
from runbook.mesh.rollout import Rollout, replicaset_uids, wait_for_rollout
from runbook.paths import is_headless
from runbook.ui.render import (
    Record,
    render_attempt,
    render_error,
    render_finding,
    render_note,
    render_plan,
    render_result,
    render_rollout,
)

#: longest dropdown label (long summaries make the dropdown wider than the notebook)
_LABEL_MAX = 150


def _label(finding: Finding | None, suggestion: FixSuggestion) -> str:
    head = f"{finding.severity} {finding.code} {finding.subject} — " if finding else "(added) "
    text = head + suggestion.summary
    return text if len(text) <= _LABEL_MAX else text[:_LABEL_MAX - 1] + "…"


def _reaches(suggestion: FixSuggestion) -> str | None:
    """The revision whose istiod will inject after ``suggestion`` (when the suggestion says)."""
    if suggestion.action in ("retarget-webhook", "set-tag-revision"):
        rev = suggestion.params.get("revision")
        return str(rev) if rev else None
    return None


class FixPanel(widgets.VBox):
    """Widgets over the fixable findings of a diagnosis (see the module docstring).

    Args:
        cluster: the cluster the findings come from (plans are bound to its context).
        findings: the diagnosis (``diagnose_cluster(cluster)[1]``); those with a fix are offered.
        inventory: the same diagnosis' inventory, for the target choices (optional).
        audit: where audit records go (default: ``MESH_RUNBOOK_AUDIT`` or the home's file).
        namespace: the namespace whose workloads to recreate and watch (default: the applied
            finding's first namespace).
        rollout_timeout: seconds the "Wait for rollout" button waits at most.

    Attributes:
        plan: the plan previewed now (None before a preview).
        applied_plans: plans applied from this panel, newest last (what Undo reverts).
        records: every record the panel produced, in order.
        log_output: the Output widget the records are appended to (``Widget.log`` is the
            widget's logger, hence the name).
    """

    def __init__(self, cluster: Cluster, findings: Iterable[Finding],
                 inventory: Inventory | None = None, audit: AuditLog | None = None, *,
                 namespace: str | None = None, rollout_timeout: float = 120.0) -> None:
        self.cluster = cluster
        self.inventory = inventory
        self.audit = audit if audit is not None else AuditLog()
        self.namespace = namespace
        self.rollout_timeout = rollout_timeout
        self.findings: list[Finding] = list(findings)
        self.plan: FixPlan | None = None
        self.applied_plans: list[FixPlan] = []
        self.records: list[Record] = []
        self._log_only: list[Record] = []  # records of clicks, not yet printed in a cell
        self._entries: list[tuple[Finding | None, FixSuggestion]] = []
        self._choice: TargetChoice | None = None
        self._expected_revision: str | None = None
        self._fix_applied = False  # a fix other than recreating was applied from this panel
        self._last_namespace: str | None = None
        # the namespace's ReplicaSets when the last fix was applied: a later wait tells the pods
        # of a recreate from the ones those ReplicaSets retried with back-off
        self._replicasets_before: frozenset[str] | None = None
        #: (plan title, context) of every change a headless call confirmed with ``confirm=``
        self.confirmed_in_code: list[tuple[str, str]] = []

        self.header = widgets.HTML()
        self.finding = widgets.Dropdown(description="Finding", layout=widgets.Layout(width="98%"))
        self.finding_info = widgets.HTML()
        self.target = widgets.Dropdown(description="Target", layout=widgets.Layout(width="98%"))
        self.target_help = widgets.HTML()
        self.preview_button = widgets.Button(description="Preview", icon="eye",
                                             tooltip="plan from a fresh read: diff and commands")
        self.dry_run_button = widgets.Button(description="Dry run", icon="flask",
                                             tooltip="server-side dry run: validated, not stored")
        self.confirm = widgets.Text(description="Confirm", placeholder=f"type {cluster.context}",
                                    layout=widgets.Layout(width="260px"))
        self.confirm_help = widgets.HTML()
        self.apply_button = widgets.Button(description="Apply", icon="check", button_style="danger")
        self.undo_button = widgets.Button(description="Undo", icon="undo", button_style="warning")
        self.recreate_button = widgets.Button(description="Recreate workloads", icon="refresh",
                                              layout=widgets.Layout(width="auto"))
        self.wait_button = widgets.Button(description="Wait for rollout", icon="hourglass",
                                          layout=widgets.Layout(width="auto"))
        self.progress_output = widgets.Output()
        self.log_output = widgets.Output(layout=widgets.Layout(border="1px solid #d0d7de",
                                                               max_height="480px", overflow="auto"))
        self.log_output.add_class("mesh-runbook-log")  # what a page (and a browser test) looks for

        self.finding.observe(self._on_select, names="value")
        self.target.observe(self._on_target, names="value")
        self.confirm.observe(lambda _change: self._refresh(), names="value")
        self.preview_button.on_click(self._clicked("preview", self.preview))
        self.dry_run_button.on_click(self._clicked("dry run", self.dry_run))
        self.apply_button.on_click(self._clicked("apply", self.apply))
        self.undo_button.on_click(self._clicked("undo", self.undo))
        self.recreate_button.on_click(self._clicked("recreate", self.recreate_clicked))
        self.wait_button.on_click(self._clicked("wait", self._wait_clicked))

        super().__init__([
            self.header, self.finding, self.finding_info, self.target, self.target_help,
            widgets.HBox([self.preview_button, self.dry_run_button, self.confirm,
                          self.apply_button, self.undo_button]),
            self.confirm_help,
            widgets.HBox([self.recreate_button, self.wait_button]),
            self.progress_output,
            self.log_output,
        ])
        self.update(self.findings, inventory)

    # ------------------------------------------------------------------ state

    def update(self, findings: Iterable[Finding], inventory: Inventory | None = None) -> None:
        """Offer the fixes of a new diagnosis (keeps what was applied, so Undo still works)."""
        self.findings = list(findings)
        if inventory is not None:
            self.inventory = inventory
        self._entries = [(f, f.fix) for f in fixable(self.findings) if f.fix is not None]
        self.header.value = (
            f"<b>Fix panel</b> — {escape_html(self.cluster.describe())}: {len(self._entries)} fixable "
            f"finding{'s' if len(self._entries) != 1 else ''} of {len(self.findings)}")
        self._set_options()

    def _proposed_index(self) -> int | None:
        """The entry of the fix that explains the symptom (:func:`proposed_fix`), else the first."""
        proposed = proposed_fix(self.findings, self.namespace)
        index = next((i for i, (f, _s) in enumerate(self._entries)
                      if proposed is not None and f is proposed), None)
        return index if index is not None else (0 if self._entries else None)

    def _set_options(self, select: int | None = None) -> None:
        options = [(_label(f, s), i) for i, (f, s) in enumerate(self._entries)]
        self.finding.unobserve(self._on_select, names="value")
        self.finding.options = options
        self.finding.value = select if select is not None else self._proposed_index()
        self.finding.observe(self._on_select, names="value")
        self._on_select()

    @property
    def selected(self) -> tuple[Finding | None, FixSuggestion] | None:
        """The chosen (finding, suggestion), before the target choice is applied."""
        index = self.finding.value
        return self._entries[index] if index is not None else None

    def suggestion(self) -> FixSuggestion | None:
        """The selected suggestion with the chosen target."""
        sel = self.selected
        if sel is None:
            return None
        return choose(sel[1], self.target.value if self._choice is not None else None)

    def _on_select(self, _change: Any = None) -> None:
        self.plan = None
        sel = self.selected
        self._choice = target_choice(sel[1], self.inventory) if sel else None
        self.target.unobserve(self._on_target, names="value")
        if self._choice is not None:
            self.target.options = [(o.label, o.value) for o in self._choice.options]
            self.target.value = self._choice.selected
            self.target.layout.display = None
            self.target_help.value = (f'<div style="color:#57606a"><b>{escape_html(self._choice.title)}'
                                      f'</b>: {escape_html(self._choice.help)}</div>')
        else:
            self.target.options = []
            self.target.layout.display = "none"
            self.target_help.value = ""
        self.target.observe(self._on_target, names="value")
        if sel is not None and sel[0] is not None:
            self.finding_info.value = render_finding(sel[0], self._choice).html
        elif sel is not None:
            self.finding_info.value = render_note(sel[1].summary, commands=[sel[1].command]).html
        else:
            self.finding_info.value = "<i>no finding proposes a fix</i>"
        self._refresh()

    def _on_target(self, _change: Any = None) -> None:
        self.plan = None  # a preview is only good for the target it was made for
        self._refresh()

    def _confirmed(self, plan: FixPlan | None) -> bool:
        return plan is not None and (not plan.cluster_scoped
                                     or self.confirm.value.strip() == plan.context)

    def _refresh(self) -> None:
        plan = self.plan
        undo_plan = self.applied_plans[-1] if self.applied_plans else None
        has_change = plan is not None and bool(plan.diff())
        self.preview_button.disabled = self.selected is None
        self.dry_run_button.disabled = not has_change
        self.apply_button.disabled = not (has_change and plan is not None and not plan.applied
                                          and self._confirmed(plan))
        self.undo_button.disabled = not (undo_plan is not None and undo_plan.undoable
                                         and self._confirmed(undo_plan))
        self.undo_button.tooltip = (f"revert: {undo_plan.title}" if undo_plan is not None
                                    else "nothing applied yet")
        need = [p for p in (plan, undo_plan) if p is not None and p.cluster_scoped]
        self.confirm.layout.display = None if need else "none"
        self.confirm_help.value = self._confirm_help() if need else ""
        ns = self._target_namespace()
        self.recreate_button.description = f"Recreate workloads in {ns}" if ns else "Recreate workloads"
        self.recreate_button.disabled = not (self.applied_plans and ns)
        self.wait_button.disabled = not (self.applied_plans and ns)

    def _confirm_help(self) -> str:
        where = (f"context <b>{escape_html(self.cluster.context)}</b> "
                 f"({escape_html(self.cluster.server)})")
        if self.confirm.value.strip() == self.cluster.context:
            text = (f"Confirmed: Apply/Undo change cluster-scoped objects in {where}; the box is "
                    "emptied after each such change.")
        else:
            text = (f"This changes cluster-scoped objects in {where}: type the context name to "
                    "enable Apply/Undo.")
        if self.confirmed_in_code:
            title, context = self.confirmed_in_code[-1]
            text += (f" (A cell confirmed {escape_html(title)} with confirm={escape_html(repr(context))}; "
                     "that does not confirm anything here.)")
        return f'<div style="color:#9a6700">{text}</div>'

    def _target_namespace(self) -> str | None:
        return self.namespace or self._last_namespace

    # ------------------------------------------------------------------ records

    def state_record(self) -> Record:
        """The panel as it is now, as a static record: what a report or a reopened notebook
        shows where the live widget cannot be (its saved state would be the *final* one)."""
        sel = self.selected
        lines = [f"Finding: {_label(*sel)}" if sel is not None else "Finding: none proposes a fix"]
        if self._choice is not None:
            lines.append(f"{self._choice.title}: {self._choice.label_of(self.target.value)}")
        lines.append(f"Preview: {self.plan.title}" if self.plan is not None else
                     "Preview: none yet (press Preview)")
        lines.append("Apply: " + ("enabled" if not self.apply_button.disabled else "disabled")
                     + "; Undo: " + ("enabled" if not self.undo_button.disabled else "disabled"))
        lines.append(f"{len(self.records)} action record(s) so far (each printed where it happened)")
        return render_note(f"Fix panel at this point (a static record) — {self.cluster.describe()}: "
                           f"{len(self._entries)} fixable finding(s) of {len(self.findings)}", lines)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        # A headless run (papermill) keeps no live widget: its report and executed notebook get
        # the panel as it was at this cell, not the widget's final state (papermill#400).
        if is_headless():
            record = self.state_record()
            return {"text/plain": record.text, "text/html": record.html}
        bundle: dict[str, Any] | None = super()._repr_mimebundle_(**kwargs)
        return bundle

    def _ipython_display_(self) -> None:
        """The live panel, then its state as a static record for when it cannot be live.

        A notebook saved and reopened later has no widget models: JupyterLab shows "Error
        displaying widget: model not found" in place of the panel. The record below it says what
        the panel showed at this cell; a style hides it while the panel beside it is rendered
        live (``:has(.widget-vbox)``), and where styles are stripped (an untrusted notebook) it
        simply shows.
        """
        bundle = self._repr_mimebundle_()
        display(bundle, raw=True)
        if is_headless():
            return
        record = self.state_record()
        hide = ("<style>.jp-OutputArea-child:has(.widget-vbox) + .jp-OutputArea-child "
                ".mesh-runbook-static{display:none}</style>")
        display({"text/plain": record.text,
                 "text/html": f'{hide}<div class="mesh-runbook-static">{record.html}</div>'},
                raw=True)

    def emit(self, record: Record, *, to_cell: bool = False) -> Record:
        """Keep ``record`` and show it: in the running cell's output (``to_cell``: the headless
        methods) or in the log widget (button clicks, which run outside any cell).

        Never both: an exported report renders the log widget's saved contents too, and would
        show every headless record twice.
        """
        self.records.append(record)
        if to_cell:
            display(record)
        else:
            # newest first: the result of a click is next to the buttons, not below older ones
            self.log_output.outputs = (record.output(), *self.log_output.outputs)
            self._log_only.append(record)
        return record

    def print_log(self) -> list[Record]:
        """Display the records of the actions taken by clicking (so far only in the log widget)
        as this cell's output, so that a saved or exported notebook keeps them even without
        widget state. Each record is printed once; returns the ones printed."""
        shown, self._log_only = self._log_only, []
        if not shown:
            display(render_note("No action was taken by clicking in the fix panel since the last "
                                "print_log() (every other action is printed in its cell)."))
        else:
            display(render_note(f"{len(shown)} action record{'s' if len(shown) != 1 else ''} "
                                "from clicks in the fix panel:"))
            for record in shown:
                display(record)
        return shown

    def _clicked(self, action: str, fn: Callable[[], object]) -> Callable[[Any], None]:
        def handler(_button: Any) -> None:
            try:
                fn()
            except ConcurrentChange as exc:
                self.plan = None  # its observed state is stale: preview again
                self.emit(render_error(action, exc))
            except RunbookError as exc:
                self.emit(render_error(action, exc))
            except Exception as exc:  # a widget callback must never show a traceback
                self.emit(render_error(action, exc))
            self._refresh()
        return handler

    # ------------------------------------------------------------------ actions (buttons)

    def preview(self) -> FixPlan:
        """Plan the selected fix from a fresh read and show its preview (Preview button)."""
        suggestion = self.suggestion()
        if suggestion is None:
            raise RunbookError("no fix selected")
        self.plan = plan_fix(self.cluster, suggestion)
        self.emit(render_plan(self.plan))
        self._refresh()
        return self.plan

    def dry_run(self) -> None:
        """Send the previewed plan with ``dryRun=All`` (Dry run button)."""
        plan = self._need_plan()
        result = plan.dry_run(self.cluster, audit=self.audit)
        self.emit(render_result(result, plan, self.audit.path))

    def apply(self) -> None:
        """Apply the previewed plan, guarded by resourceVersion and confirmation (Apply button)."""
        plan = self._need_plan()
        try:
            result = plan.apply(self.cluster, confirm=self.confirm.value.strip() or None,
                                audit=self.audit)
        except PartialApply:
            self._applied(plan, *self._selected_pair())  # partly: Undo reverts the completed steps
            raise
        self.emit(render_result(result, plan, self.audit.path))
        self._applied(plan, *self._selected_pair())
        self._spent_confirmation(plan)

    def undo(self) -> None:
        """Revert the last applied plan to the exact prior state (Undo button)."""
        if not self.applied_plans:
            raise RunbookError("nothing to undo", hint="apply a fix first")
        plan = self.applied_plans[-1]
        result = plan.undo(self.cluster, confirm=self.confirm.value.strip() or None,
                           audit=self.audit)
        self.emit(render_result(result, plan, self.audit.path))
        if result.ok:
            self.applied_plans.pop()
            if plan is self.plan:
                self.plan = None
            self._spent_confirmation(plan)

    def _spent_confirmation(self, plan: FixPlan) -> None:
        """A typed context confirms one cluster-scoped change: the next one needs it typed again."""
        if plan.cluster_scoped:
            self.confirm.value = ""

    def recreate_clicked(self, method: str = "rollout-restart") -> None:
        """Recreate the workloads (Recreate button): preview, dry run and apply in one click.

        The button says what it does: a ``rollout restart`` changes namespaced Deployments only,
        so it needs no typed context. A plan that touched cluster-scoped objects would stop after
        the preview, for the context to be typed and Apply pressed.
        """
        self.select_recreate(method)
        plan = self._need_plan()
        if not plan.diff() or (plan.cluster_scoped and not self._confirmed(plan)):
            return
        result = plan.dry_run(self.cluster, audit=self.audit)
        self.emit(render_result(result, plan, self.audit.path))
        if result.ok:
            self.apply()

    def select_recreate(self, method: str = "rollout-restart") -> None:
        """Select "recreate the workloads" of the namespace and preview it."""
        ns = self._target_namespace()
        if not ns:
            raise RunbookError("no namespace to recreate", hint="pass namespace= to the panel")
        wanted = recreate_suggestion(ns, method)
        index = next((i for i, (f, s) in enumerate(self._entries) if f is None
                      and s.action == "recreate-workloads" and s.params.get("namespace") == ns), None)
        if index is None:
            self._entries.append((None, wanted))
            index = len(self._entries) - 1
        self._set_options(select=index)
        if self._choice is not None:
            self.target.value = method
        self.preview()

    def _wait_clicked(self) -> None:
        # The progress bar goes into its own Output: while an Output captures, the frontend owns
        # its contents and a record appended meanwhile from the kernel would be lost.
        self.progress_output.outputs = ()
        with self.progress_output:
            rollout, limit = self._wait(None, None)
        self.emit(render_rollout(rollout, limit, self._expected_revision))

    def _need_plan(self) -> FixPlan:
        if self.plan is None:
            raise RunbookError("preview the fix first", hint="press Preview")
        return self.plan

    def _selected_pair(self) -> tuple[Finding | None, FixSuggestion | None]:
        sel = self.selected
        return (sel[0], self.suggestion()) if sel is not None else (None, None)

    def _applied(self, plan: FixPlan, finding: Finding | None,
                 suggestion: FixSuggestion | None) -> None:
        """Keep ``plan`` for Undo; after a fix (not a recreate), remember what to recreate."""
        self.applied_plans.append(plan)
        if suggestion is None:
            return
        ns = finding.namespaces[0] if finding is not None and finding.namespaces else \
            suggestion.params.get("namespace")
        if ns:
            self._last_namespace = str(ns)
        if suggestion.action != "recreate-workloads":
            self._fix_applied = True
            self._expected_revision = _reaches(suggestion)
            target = self._target_namespace()
            if target:
                self._replicasets_before = replicaset_uids(self.cluster, target)

    # ------------------------------------------------------------------ headless

    def apply_proposed(self, *, confirm: str | None = None, apply: bool = True) -> FixAttempt:
        """The proposed fix without clicks: preview, dry run and (``apply``) apply.

        The proposal is the first error finding with a fix for the panel's namespace (see
        :func:`runbook.fix.flow.proposed_fix`). With ``apply=False`` (a headless run with
        ``apply_fixes = False``) only the preview and the dry run happen. Every record is also
        displayed in the cell's output.

        Args:
            confirm: the kube context's name, needed for cluster-scoped changes.
            apply: apply after a successful dry run.
        """
        finding = proposed_fix(self.findings, self.namespace)
        if finding is None:
            where = f" in {self.namespace}" if self.namespace else ""
            attempt = FixAttempt(None, note=f"nothing to fix: no error finding proposes a fix"
                                            f"{where} — nothing blocks pod creation (already "
                                            "fixed?)")
            self.emit(render_note(attempt.summary(), ok=True), to_cell=True)
            return attempt
        return self.run(finding, apply=apply, confirm=confirm)

    def run(self, fix: Finding | FixSuggestion | None, *, apply: bool = False,
            confirm: str | None = None, choice: str | None = None) -> FixAttempt:
        """Preview, dry-run and (``apply``) apply one fix; display the records in the cell.
        Never raises for a refusal: see ``attempt.error``.

        The panel's widgets are the trainee's: this neither selects the fix in the dropdown nor
        fills the confirmation box. A change applied here can be undone from the panel (Undo,
        with the context typed when it is cluster-scoped); ``confirm`` is kept in
        :attr:`confirmed_in_code`.
        """
        suggestion = fix.fix if isinstance(fix, Finding) else fix
        known = any(fix is not None and (f is fix or s is suggestion) for f, s in self._entries)
        if not known and suggestion is not None:
            self._entries.append((fix if isinstance(fix, Finding) else None, suggestion))
            self._set_options(select=self.finding.value)  # offered, not chosen
        attempt = run_fix(self.cluster, fix, apply=apply, confirm=confirm, audit=self.audit,
                          choice=choice)
        if attempt.plan is not None and attempt.plan.applied and not attempt.plan.undone:
            self._applied(attempt.plan, attempt.finding,
                          choose(suggestion, choice) if suggestion is not None else None)
            if confirm is not None and attempt.plan.cluster_scoped:
                self.confirmed_in_code.append((attempt.plan.title, confirm))
        for record in render_attempt(attempt, self.audit.path):
            self.emit(record, to_cell=True)
        self._refresh()
        return attempt

    def recreate(self, namespace: str | None = None, method: str = "rollout-restart", *,
                 apply: bool = True, only_if_needed: bool = False) -> FixAttempt:
        """Recreate the namespace's workloads without clicks (``rollout-restart`` preferred;
        ``delete-replicasets`` is the field report's way) — previewed, dry-run, applied.

        Args:
            only_if_needed: do nothing (and say why) unless a fix was applied from this panel or
                the diagnosis asks for recreating (:func:`runbook.fix.flow.recreate_reason`) —
                so that running a notebook again does not restart everything again.
        """
        ns = namespace or self._target_namespace()
        if not ns:
            raise RunbookError("no namespace to recreate", hint="pass namespace=")
        self._last_namespace = ns
        if only_if_needed:
            reason = recreate_reason(self.findings, ns, fix_applied=self._fix_applied)
            if reason is None:
                attempt = FixAttempt(None, note=f"no reason to recreate the workloads in {ns}: "
                                                "no fix was applied here and the diagnosis reports "
                                                "no pod missing or with a stale sidecar")
                self.emit(render_note(attempt.summary(), ok=True), to_cell=True)
                return attempt
            self.emit(render_note(f"Recreate the workloads in {ns}", [reason]), to_cell=True)
        return self.run(recreate_suggestion(ns, method), apply=apply, choice=method)

    def wait_for_rollout(self, namespace: str | None = None, *, timeout: float | None = None,
                         expected_revision: str | None = None, to_cell: bool = True) -> Rollout:
        """Wait for the namespace's Deployments and show the pods table (READY, revision).

        Args:
            timeout: seconds (default: the panel's ``rollout_timeout``); 0 looks once.
            expected_revision: the revision that should inject (default: the one the applied
                fix's target reaches, when the diagnosis said so).
        """
        rollout, limit = self._wait(namespace, timeout)
        self.emit(render_rollout(rollout, limit, expected_revision or self._expected_revision),
                  to_cell=to_cell)
        return rollout

    def _wait(self, namespace: str | None, timeout: float | None) -> tuple[Rollout, float]:
        ns = namespace or self._target_namespace()
        if not ns:
            raise RunbookError("no namespace to wait for", hint="pass namespace=")
        limit = self.rollout_timeout if timeout is None else timeout
        # a progress widget is noise in a headless run's report: it would show as a dead widget
        rollout = wait_for_rollout(self.cluster, ns, timeout=limit,
                                   progress=not is_headless() and limit > 0,
                                   replicasets_before=self._replicasets_before)
        return rollout, limit


__all__ = ["FixPanel"]
