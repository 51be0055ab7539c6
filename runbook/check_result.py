"""The result of a check cell: what holds, what is still wrong — the shape every check cell prints.

A check is a plain function over a :class:`~runbook.snapshot.Snapshot` that returns an
:class:`ExerciseCheck`; it never raises for an unfinished exercise. The check functions are in
:mod:`runbook.exercises`; this bottom module holds only the result type, so that every layer can
build one (a notebook's preconditions, :mod:`runbook.mesh.course`, are one too).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CheckLine:
    """One condition of an exercise: whether it holds, and what it means either way."""

    ok: bool
    text: str


@dataclass
class ExerciseCheck:
    """The outcome of an exercise check.

    Attributes:
        title: what the exercise asked.
        lines: every condition checked, in order.
        attempted: False in a headless run, where nobody was there to do the exercise; the check
            then neither passes nor fails (see :func:`not_attempted`).
    """

    title: str
    lines: list[CheckLine] = field(default_factory=list)
    attempted: bool = True

    @property
    def passed(self) -> bool:
        """Every condition holds (and at least one was checked)."""
        return self.attempted and bool(self.lines) and all(line.ok for line in self.lines)

    @property
    def still_wrong(self) -> list[str]:
        """The conditions that do not hold yet (what the trainee still has to do)."""
        return [line.text for line in self.lines if not line.ok]

    def add(self, ok: bool, text: str) -> bool:
        """Record one condition; returns ``ok`` so a check can stop at a failed prerequisite."""
        self.lines.append(CheckLine(ok, text))
        return ok

    def summary(self) -> str:
        """Plain text: the verdict, then one ✓/✗ line per condition."""
        if not self.attempted:
            return f"{self.title}: not attempted (headless run) — do it by hand, then run the check"
        head = f"{self.title}: " + ("PASSED" if self.passed else "not done yet")
        return "\n".join([head, *(f"  {'✓' if ln.ok else '✗'} {ln.text}" for ln in self.lines)])


@dataclass
class Preconditions(ExerciseCheck):
    """What a notebook relies on before it starts (``runbook.mesh.course``): the same lines as a
    check, read as "ready to start" rather than "exercise passed"."""

    @property
    def met(self) -> bool:
        """Every condition holds."""
        return all(line.ok for line in self.lines)

    def todo(self) -> str:
        """One line: ready, or the first condition that does not hold with what to do."""
        wrong = self.still_wrong
        if not wrong:
            return f"{self.title}: everything it relies on holds"
        more = f" (+{len(wrong) - 1} more below)" if len(wrong) > 1 else ""
        return f"{self.title}: {wrong[0]}{more}"

    def summary(self) -> str:
        return "\n".join([self.todo(), *(f"  {'✓' if ln.ok else '✗'} {ln.text}" for ln in self.lines)])


def not_attempted(title: str) -> ExerciseCheck:
    """The verdict of a headless run: nobody was there to do the exercise."""
    return ExerciseCheck(title, attempted=False)
