"""The only package that imports the official ``kubernetes`` client.

Connect (kubeconfig, context, sandbox), raw paginated lists, writes with preconditions, logs,
discovery, and the translation of every API failure into :mod:`runbook.errors`.
"""

from runbook.kube.cluster import ApiRequest, Cluster, RetryPolicy, connect, default_kubeconfig
from runbook.kube.discovery import discover_kinds
from runbook.kube.reader import (
    CONFIG_KINDS,
    DIAGNOSIS_KINDS,
    FINDINGS_SELECTORS,
    read_snapshot,
    trim_object,
)

__all__ = [
    "CONFIG_KINDS",
    "DIAGNOSIS_KINDS",
    "FINDINGS_SELECTORS",
    "ApiRequest",
    "Cluster",
    "RetryPolicy",
    "connect",
    "default_kubeconfig",
    "discover_kinds",
    "read_snapshot",
    "trim_object",
]
