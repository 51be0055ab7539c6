"""One status vocabulary for the tables, their colours and the findings."""

from __future__ import annotations

from typing import get_args

import pytest

from runbook import statuses as st
from runbook.mesh.findings import SEVERITIES as FINDING_SEVERITIES
from runbook.ui.tables import STATUS_SEVERITY, severity_of

VOCABULARY_OF_COLUMN = {
    "findings.severity": st.SEVERITIES,
    "namespace_injection.status": st.INJECTION_STATUSES,
    "webhook_targets.target_status": st.TARGET_STATUSES,
    "control_planes.status": st.CONTROL_PLANE_STATUSES,
    "replicaset_events.error_kind": st.ADMISSION_ERROR_KINDS,
    "events.type": st.EVENT_TYPES,
}


def test_every_word_of_every_vocabulary_has_its_severity() -> None:
    assert set(st.SEVERITY_BY_COLUMN) == set(VOCABULARY_OF_COLUMN)
    for column, words in VOCABULARY_OF_COLUMN.items():
        assert set(st.SEVERITY_BY_COLUMN[column]) == set(words), column
        assert set(st.SEVERITY_BY_COLUMN[column].values()) <= set(st.SEVERITIES), column


def test_a_word_two_columns_share_means_the_same_in_both() -> None:
    seen: dict[str, tuple[str, str]] = {}
    for column, severities in st.SEVERITY_BY_COLUMN.items():
        for word, severity in severities.items():
            first = seen.setdefault(word, (column, severity))
            assert first[1] == severity, f"{word!r}: {first} vs {column} {severity}"


def test_the_tables_and_the_findings_use_this_vocabulary() -> None:
    assert STATUS_SEVERITY is st.STATUS_SEVERITY
    assert get_args(st.Severity) == FINDING_SEVERITIES
    assert severity_of("target missing") == "error"
    assert severity_of("service_not_found") == "error"
    assert severity_of("no pods") == "error"


@pytest.mark.parametrize(("target", "injection"), [
    ("service_not_found", "target missing"),
    ("no_endpoints", "no endpoints"),
    ("no_service_port", "no endpoints"),
    ("headless", "no endpoints"),
    ("unsupported_type", "no endpoints"),
    ("ok", None),
    ("url", None),
    ("unknown", None),
])
def test_a_broken_target_says_what_the_namespace_gets(target: st.TargetStatus,
                                                     injection: st.InjectionStatus | None) -> None:
    assert st.injection_status(target) == injection
    assert injection is None or injection in st.INJECTION_STATUSES
