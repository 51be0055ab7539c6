"""The one exception hierarchy of mesh-runbook.

Every error a user can meet is a :class:`RunbookError` whose ``str()`` is one line that says what
went wrong and what to do. The command line prints that line and exits 2; notebooks show it
instead of a traceback. HTTP failures of the Kubernetes API are translated into this tree in
exactly one place (``runbook.kube.errors``)::

    RunbookError
    ├── InputError              bad user input: a file, a parameter, a URL, a port (nothing changed)
    │   ├── ManifestError       a manifest that cannot be read: file and document named
    │   ├── InputLimitExceeded  YAML/JSON too large, too deeply nested, or an alias bomb
    │   └── ProbeError          an HTTP probe could not start (bad URL, bad schedule)
    ├── ConfigError             kubeconfig missing or broken, unknown context
    ├── ClusterError            the API server answered with an error, or did not answer
    │   ├── Unreachable         connection refused, DNS, TLS, timeout, no answer within the deadline
    │   ├── NotAnApiServer      the server answered, but not as a Kubernetes API server
    │   ├── Unauthorized        401: credentials missing or expired
    │   ├── Forbidden           403: names the verb, resource and namespace that is missing
    │   ├── NotFound            404
    │   ├── Conflict            409: a stale resourceVersion or an object that already exists
    │   │   └── AlreadyExists
    │   ├── Invalid             422: the server rejected the object; ``causes`` lists fields
    │   ├── BadRequest          400
    │   └── ServerError         5xx, 429 (after retries)
    ├── FixError                a fix could not be (fully) applied
    │   ├── ConfirmationRequired   a cluster-scoped change needs the context name confirmed
    │   ├── ConcurrentChange       somebody changed the object since the plan was made
    │   └── PartialApply           a multi-step fix stopped midway: says which steps completed
    └── NotebookError           a notebook cell failed: notebook, cell and error named
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


class RunbookError(Exception):
    """Root of every error mesh-runbook raises on purpose."""

    #: exit status of the command line for this error
    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        # One line: messages from servers may contain newlines; they must not break a report row.
        self.message = " ".join(message.split())
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """The message and the hint (what to do) as one line."""
        return f"{self.message} — {self.hint}" if self.hint else self.message

    def _render_traceback_(self) -> list[str]:
        """What IPython shows for it in a notebook: the one line, not a traceback.

        IPython's ``showtraceback`` uses an exception's ``_render_traceback_()`` when it has one
        (the hook ipyparallel's remote errors use); the cell still fails and a headless run still
        stops there and names the error.
        """
        return [f"{type(self).__name__}: {self.one_line()}"]


class InputError(RunbookError):
    """Bad user input; nothing was sent to the cluster."""


class ManifestError(InputError):
    """A manifest file or document that cannot be used."""


class InputLimitExceeded(InputError, ValueError):
    """A YAML or JSON text over the limits of ``runbook.safeload``; nothing was built from it.

    Also a ``ValueError``: code that skips a value it cannot parse (an annotation holding bad
    JSON) skips one over the limits the same way.
    """


class ConfigError(RunbookError):
    """The kubeconfig or the chosen context cannot be used."""


class ClusterError(RunbookError):
    """The API server refused a request or could not be reached.

    Attributes:
        status: HTTP status code (0 when there was no answer).
        reason: the ``reason`` field of the server's Status (e.g. ``NotFound``).
        verb, resource, namespace, name: what was being done, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        status: int = 0,
        reason: str = "",
        verb: str = "",
        resource: str = "",
        namespace: str | None = None,
        name: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.reason = reason
        self.verb = verb
        self.resource = resource
        self.namespace = namespace
        self.name = name
        self.retry_after = retry_after
        super().__init__(message, hint=hint)


class Unreachable(ClusterError):
    """No answer: connection refused, DNS failure, TLS failure or timeout.

    Attributes:
        maybe_applied: True for a write that reached the server before the answer was lost (a
            timeout or a dropped connection after sending): the server may have applied it, so
            it must be checked, never blindly repeated.
    """

    maybe_applied = False


class NotAnApiServer(ClusterError):
    """The server answered, but not as a Kubernetes API server: 404 on ``/version``, an HTML page,
    JSON of another shape. Reported as such, never as an empty cluster."""


class Unauthorized(ClusterError):
    """401: the credentials are missing, wrong or expired."""


class Forbidden(ClusterError):
    """403: the user may not do this; the message names verb, resource and namespace."""


class NotFound(ClusterError):
    """404: the object, its namespace or the resource type does not exist."""


class Conflict(ClusterError):
    """409: the object changed since it was read (stale resourceVersion)."""


class AlreadyExists(Conflict):
    """409 AlreadyExists: an object of that name exists."""


@dataclass(frozen=True)
class Cause:
    """One field-level reason of a 422 Invalid answer."""

    field: str
    reason: str
    message: str


class Invalid(ClusterError):
    """422: the server rejected the object; ``causes`` says which fields."""

    def __init__(self, message: str, *, causes: Sequence[Cause] = (), **kwargs: Any) -> None:
        self.causes = list(causes)
        super().__init__(message, **kwargs)


class BadRequest(ClusterError):
    """400: the request body could not be understood."""


class ServerError(ClusterError):
    """5xx or 429 that persisted through the retries."""


class FixError(RunbookError):
    """A fix could not be applied (or not completely)."""


class ConfirmationRequired(FixError):
    """A cluster-scoped change needs the kube context name typed back as confirmation."""


class ConcurrentChange(FixError):
    """The object changed between preview and apply; nothing was changed."""


@dataclass
class StepOutcome:
    """What happened to one step of a multi-step fix."""

    step: str
    status: str  # "applied" | "failed" | "unknown" | "not-run" | "rolled-back"
    detail: str = ""


class PartialApply(FixError):
    """A multi-step fix stopped midway; ``steps`` says which steps completed.

    A step whose write got no answer (``unknown``: it may or may not have been applied) is named
    apart from the completed ones.
    """

    def __init__(self, message: str, *, steps: Sequence[StepOutcome], hint: str | None = None):
        self.steps = list(steps)
        done = [s.step for s in self.steps if s.status == "applied"]
        unknown = [s.step for s in self.steps if s.status == "unknown"]
        summary = f"{message} (completed: {', '.join(done) if done else 'none'}"
        summary += f"; outcome unknown: {', '.join(unknown)})" if unknown else ")"
        super().__init__(summary, hint=hint)


class ProbeError(InputError):
    """An HTTP probe could not be started: bad URL or parameters; nothing was sent."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        # every refusal says what to do: without a specific hint, where to look
        super().__init__(message, hint=hint or "fix the URL or the probe's parameters "
                                               "(runbook probe --help); nothing was sent")


class NotebookError(RunbookError):
    """A notebook cell failed during a headless run."""

    def __init__(
        self, message: str, *, notebook: str, cell: int | None = None, hint: str | None = None
    ) -> None:
        self.notebook = notebook
        self.cell = cell
        where = f"{notebook}" + (f", cell {cell}" if cell is not None else "")
        super().__init__(f"{where}: {message}", hint=hint)


@dataclass
class ErrorRecord:
    """A failure kept as data (a row of a table) rather than raised."""

    kind: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)


__all__ = [
    "AlreadyExists",
    "BadRequest",
    "Cause",
    "ClusterError",
    "ConcurrentChange",
    "ConfigError",
    "ConfirmationRequired",
    "Conflict",
    "ErrorRecord",
    "FixError",
    "Forbidden",
    "InputError",
    "InputLimitExceeded",
    "Invalid",
    "ManifestError",
    "NotAnApiServer",
    "NotFound",
    "NotebookError",
    "PartialApply",
    "ProbeError",
    "RunbookError",
    "ServerError",
    "StepOutcome",
    "Unauthorized",
    "Unreachable",
]
