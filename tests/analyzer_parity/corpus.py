"""The parity corpus: our own inputs, istioctl's recorded answers, and ours compared with them.

A case is one YAML file under ``cases/<code-or-topic>/``: a whole world (namespaces, pods,
Services, Istio config), every object with its namespace written out, so that
``istioctl analyze --use-kube=false -A`` and runbook see the same objects in the same places.
``<case>.istioctl.json`` beside it is istioctl's answer to it, recorded by
``python -m tests.analyzer_parity --record --istioctl PATH``; ``recording.yaml`` says which
istioctl and when.

runbook's answer is computed as ``runbook analyze -f CASE`` and ``runbook diagnose`` would compute
it against a cluster that holds nothing but the case's objects: :func:`runbook_answers` builds that
cluster's read (every kind readable, only the case's objects present) and runs ``analyze`` over
the files and ``diagnose`` over the read. Only Istio codes runbook implements are compared;
istioctl codes runbook does not implement are counted apart.

A message is keyed by (code, resource) with resource in istioctl's ``Kind namespace/name`` form,
and counted as a multiset: istioctl reporting a resource once where runbook reports it twice is
one match and one extra.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CASES_DIR = HERE / "cases"
RECORDING = HERE / "recording.yaml"
BASELINE = HERE / "baseline.yaml"
DOC = ROOT / "docs" / "analyzer-parity.md"
RECORDED_SUFFIX = ".istioctl.json"


@dataclass(frozen=True, order=True)
class Answer:
    """One analyzer message: its code, the resource (``Kind namespace/name``) and its text."""

    code: str
    resource: str
    message: str = field(default="", compare=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.code, self.resource)


@dataclass(frozen=True)
class Case:
    """One input file of the corpus."""

    path: Path

    @property
    def id(self) -> str:
        """``<topic>/<name>``: the case directory and the file's stem."""
        return f"{self.path.parent.name}/{self.path.stem}"

    @property
    def recorded_path(self) -> Path:
        return self.path.with_name(self.path.stem + RECORDED_SUFFIX)

    def recorded(self) -> list[Answer] | None:
        """istioctl's recorded answer, None when the case was never recorded."""
        if not self.recorded_path.exists():
            return None
        rows = json.loads(self.recorded_path.read_text(encoding="utf-8"))
        return [Answer(r["code"], r["resource"], r.get("message", "")) for r in rows]


def all_cases() -> list[Case]:
    return [Case(p) for p in sorted(CASES_DIR.glob("*/*.yaml"))]


def resource_name(kind: str, namespace: str | None, name: str) -> str:
    """istioctl's name for a resource: ``Kind namespace/name``, ``Kind name`` when cluster-scoped."""
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def implemented_codes() -> frozenset[str]:
    """The Istio codes runbook emits: the analyzer's and the diagnosis'."""
    from runbook.mesh.analyze import CODES as ANALYZE_CODES
    from runbook.mesh.findings import CODES as DIAGNOSIS_CODES

    return frozenset(c for c in (*ANALYZE_CODES, *DIAGNOSIS_CODES) if c.startswith("IST"))


# ------------------------------------------------------------------------------ both answers


def istioctl_answers(output: str) -> list[Answer]:
    """istioctl ``analyze -o json`` output as answers (``origin`` is ``Kind [namespace/]name``)."""
    return sorted(Answer(str(m["code"]), str(m.get("origin", "")), str(m.get("message", "")))
                  for m in json.loads(output or "[]") or [])


def runbook_answers(case: Case) -> list[Answer]:
    """What ``runbook analyze -f`` and ``runbook diagnose`` say about the case's world."""
    from runbook.kube.reader import CONFIG_KINDS, DIAGNOSIS_KINDS
    from runbook.manifests import load_manifests
    from runbook.mesh.analyze import analyze
    from runbook.mesh.diagnose import diagnose
    from runbook.snapshot import Snapshot

    manifests = load_manifests([str(case.path)])
    # a cluster holding nothing but the case: every kind readable, its CRDs unknown (so ours
    # judge schemas), and the case's objects in it for the diagnosis
    kinds = [kind for kind in (*DIAGNOSIS_KINDS, *CONFIG_KINDS) if kind.kind != "CustomResourceDefinition"]
    empty = Snapshot.from_objects([], kinds)
    loaded = Snapshot.from_objects([m.obj for m in manifests], kinds)
    found = [*analyze(manifests, empty).findings, *diagnose(loaded)]
    return sorted(Answer(f.code, resource_name(f.subject.kind, f.subject.namespace, f.subject.name),
                         f.message)
                  for f in found if f.code.startswith("IST"))


# ------------------------------------------------------------------------------ comparison


@dataclass(frozen=True, order=True)
class Difference:
    """A message one side gives and the other does not: ``missing`` (istioctl only) or ``extra``."""

    case: str
    side: str
    code: str
    resource: str

    def as_baseline_key(self) -> tuple[str, str, str, str]:
        return (self.case, self.side, self.code, self.resource)


@dataclass
class CaseResult:
    case: Case
    istioctl: list[Answer]
    runbook: list[Answer]
    codes: frozenset[str]
    matched: list[tuple[str, str]] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    #: istioctl messages whose code runbook does not implement
    not_implemented: list[Answer] = field(default_factory=list)


def compare(case: Case, istioctl: Sequence[Answer], ours: Sequence[Answer],
            codes: frozenset[str]) -> CaseResult:
    theirs = Counter(a.key for a in istioctl if a.code in codes)
    mine = Counter(a.key for a in ours if a.code in codes)
    result = CaseResult(case, list(istioctl), list(ours), codes,
                        not_implemented=[a for a in istioctl if a.code not in codes])
    result.matched = sorted((theirs & mine).elements())
    result.differences = sorted(
        [Difference(case.id, "missing", c, r) for c, r in (theirs - mine).elements()]
        + [Difference(case.id, "extra", c, r) for c, r in (mine - theirs).elements()])
    return result


def run_corpus(cases: Iterable[Case] | None = None) -> list[CaseResult]:
    """Every recorded case compared (cases never recorded are left out)."""
    codes = implemented_codes()
    out = []
    for case in cases if cases is not None else all_cases():
        recorded = case.recorded()
        if recorded is not None:
            out.append(compare(case, recorded, runbook_answers(case), codes))
    return out


@dataclass
class Score:
    matched: int = 0
    missing: int = 0
    extra: int = 0

    @property
    def precision(self) -> float | None:
        reported = self.matched + self.extra
        return self.matched / reported if reported else None

    @property
    def recall(self) -> float | None:
        expected = self.matched + self.missing
        return self.matched / expected if expected else None


def scores(results: Iterable[CaseResult]) -> tuple[dict[str, Score], Score]:
    """Per implemented code and overall: matched, missing (istioctl only) and extra (ours only)."""
    results = list(results)
    per_code: dict[str, Score] = {c: Score() for r in results[:1] for c in sorted(r.codes)}
    total = Score()
    for r in results:
        for code, _ in r.matched:
            per_code[code].matched += 1
            total.matched += 1
        for d in r.differences:
            score = per_code[d.code]
            if d.side == "missing":
                score.missing += 1
                total.missing += 1
            else:
                score.extra += 1
                total.extra += 1
    return per_code, total


# ------------------------------------------------------------------------------ baseline


@dataclass(frozen=True)
class Known:
    """A difference known and explained: ``baseline.yaml``."""

    case: str
    side: str
    code: str
    resource: str
    reason: str

    def key(self) -> tuple[str, str, str, str]:
        return (self.case, self.side, self.code, self.resource)


def load_baseline(path: Path = BASELINE) -> list[Known]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None
    return [Known(str(d["case"]), str(d["side"]), str(d["code"]), str(d["resource"]),
                  str(d["reason"]).strip())
            for d in (data or {}).get("known") or []]


def load_recording(path: Path = RECORDING) -> dict[str, Any]:
    return (yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None) or {}


# ------------------------------------------------------------------------------ the page


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def render_doc(results: Sequence[CaseResult], known: Sequence[Known], recording: dict[str, Any]) -> str:
    """docs/analyzer-parity.md: generated from the corpus, the recording and the baseline."""
    per_code, total = scores(results)
    instrument = recording.get("istioctl", "not recorded")
    not_implemented: Counter[str] = Counter(a.code for r in results for a in r.not_implemented)
    lines = [
        "# Analyzer parity: `runbook analyze` measured against `istioctl analyze`",
        "",
        "<!-- generated by `python -m tests.analyzer_parity`; do not edit by hand -->",
        "",
        f"Measured against the analyzers of `istioctl analyze` ({instrument}), "
        f"recorded {recording.get('recorded', 'never')}. istioctl offline (`--use-kube=false`) reads only "
        "Istio config from files — Pods, Namespaces, Services, ConfigMaps and webhooks come from a cluster "
        "only, so most of its analyzers skip — hence the instrument: the same combined analyzers with every "
        "kind read from the file (`tests/analyzer_parity/oracle`), cross-checked at recording against "
        f"istioctl itself: each of the {recording.get('istioctl_offline_messages', '?')} messages istioctl "
        "prints offline is one the instrument prints.",
        "",
        f"{len(results)} cases of our own (`tests/analyzer_parity/cases/`), each a whole cluster: "
        "runbook answers as `runbook analyze -f CASE.yaml` and `runbook diagnose` would against a "
        "cluster holding nothing else. A message is a code on a resource (`Kind namespace/name`), "
        "counted as often as it is printed; only the Istio codes runbook implements are compared "
        "(its `MR`/`KIA` codes are extras).",
        "",
        f"**Overall**: precision {_ratio(total.precision)}, recall {_ratio(total.recall)} "
        f"({total.matched} matched, {total.extra} only ours, {total.missing} only istioctl's).",
        "",
        "| code | matched | only ours | only istioctl | precision | recall |",
        "|---|---|---|---|---|---|",
    ]
    for code, s in per_code.items():
        lines.append(f"| {code} | {s.matched} | {s.extra} | {s.missing} | {_ratio(s.precision)} "
                     f"| {_ratio(s.recall)} |")
    lines += ["", "## istioctl codes runbook does not implement", ""]
    if not_implemented:
        lines += ["| code | messages in the corpus |", "|---|---|"]
        lines += [f"| {code} | {n} |" for code, n in sorted(not_implemented.items())]
    else:
        lines.append("None in the corpus.")
    lines += ["", "## Known differences", "",
              "Each listed in `tests/analyzer_parity/baseline.yaml` with its reason; the test fails on "
              "any other difference, and on a listed one that no longer occurs.", ""]
    if known:
        lines += ["| case | side | code | resource | reason |", "|---|---|---|---|---|"]
        for k in sorted(known, key=Known.key):
            side = "only istioctl" if k.side == "missing" else "only ours"
            reason = " ".join(k.reason.split()).replace("|", "\\|")
            lines.append(f"| {k.case} | {side} | {k.code} | `{k.resource}` | {reason} |")
    else:
        lines.append("None.")
    return "\n".join(lines) + "\n"
