"""mesh-runbook: notebook runbooks for Kubernetes clusters running several Istio revisions.

The public API is what ``__all__`` lists; everything else is internal and may change.
"""

from __future__ import annotations

from runbook.errors import (
    ClusterError,
    ConcurrentChange,
    ConfigError,
    Conflict,
    FixError,
    Forbidden,
    InputError,
    Invalid,
    NotFound,
    RunbookError,
    Unreachable,
)

__version__ = "0.1.0"

__all__ = [
    "ClusterError",
    "ConcurrentChange",
    "ConfigError",
    "Conflict",
    "FixError",
    "Forbidden",
    "InputError",
    "Invalid",
    "NotFound",
    "RunbookError",
    "Unreachable",
    "__version__",
]
