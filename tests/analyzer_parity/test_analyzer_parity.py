"""runbook analyze/diagnose against istioctl's recorded answers (no istioctl needed).

Each case's differences must be exactly the ones tests/analyzer_parity/baseline.yaml explains: a
case that matched and stops matching fails, and so does a listed difference that no longer occurs
(fixed: take it out of the baseline). docs/analyzer-parity.md must be what the corpus generates.
"""

from __future__ import annotations

import pytest

from tests.analyzer_parity.corpus import (
    DOC,
    Case,
    all_cases,
    compare,
    implemented_codes,
    istioctl_answers,
    load_baseline,
    load_recording,
    render_doc,
    run_corpus,
    runbook_answers,
)

CASES = all_cases()
KNOWN = load_baseline()


def test_every_case_is_recorded() -> None:
    unrecorded = [c.id for c in CASES if c.recorded() is None]
    assert not unrecorded, f"record them: python -m tests.analyzer_parity --record … ({unrecorded})"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case_differs_only_as_the_baseline_says(case: Case) -> None:
    recorded = case.recorded()
    assert recorded is not None
    result = compare(case, recorded, runbook_answers(case), implemented_codes())
    found = sorted(d.as_baseline_key() for d in result.differences)
    expected = sorted(k.key() for k in KNOWN if k.case == case.id)
    assert found == expected


def test_every_baseline_entry_names_a_case_and_a_reason() -> None:
    ids = {c.id for c in CASES}
    for known in KNOWN:
        assert known.case in ids, known
        assert known.side in ("missing", "extra"), known
        assert known.reason, known


def test_every_implemented_code_is_measured_by_a_positive_case() -> None:
    """Every Istio code runbook emits is printed by istioctl in at least one case."""
    printed = {a.code for c in CASES for a in c.recorded() or []}
    assert sorted(implemented_codes() - printed) == []


def test_every_implemented_code_has_a_negative_case() -> None:
    """A case named after a code where istioctl does not print that code (runbook must not either)."""
    missing = []
    for code in sorted(implemented_codes()):
        negatives = [c for c in CASES if c.path.parent.name == code
                     and code not in {a.code for a in c.recorded() or []}]
        if not negatives:
            missing.append(code)
    assert missing == []


def test_the_comparison_counts_messages_as_a_multiset() -> None:
    """istioctl printing a resource once where runbook prints it twice: one match, one extra."""
    case = CASES[0]
    theirs = istioctl_answers('[{"code": "IST0101", "origin": "VirtualService a/b", "message": "x"}]')
    ours = theirs * 2
    result = compare(case, theirs, ours, frozenset({"IST0101"}))
    assert result.matched == [("IST0101", "VirtualService a/b")]
    assert [(d.side, d.code) for d in result.differences] == [("extra", "IST0101")]


def test_codes_runbook_does_not_implement_are_counted_apart() -> None:
    theirs = istioctl_answers('[{"code": "IST0128", "origin": "DestinationRule a/b", "message": "x"}]')
    result = compare(CASES[0], theirs, [], frozenset({"IST0101"}))
    assert result.differences == [] and [a.code for a in result.not_implemented] == ["IST0128"]


def test_the_parity_page_is_current() -> None:
    expected = render_doc(run_corpus(CASES), KNOWN, load_recording())
    assert DOC.read_text(encoding="utf-8") == expected, "regenerate: python -m tests.analyzer_parity"
