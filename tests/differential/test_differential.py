"""CI for the differential harness: it runs on every change, on both engines when the real one
can start, and fails on a difference that is not explained in baseline.yaml."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest

from tests.differential.cases import all_cases
from tests.differential.harness import Observation, compare, run_engine
from tests.differential.normalise import mask_text
from tests.differential.report import Run, load_baseline, settled, stale_docs, unexplained
from tests.differential.run import run_harness
from tests.differential.sources import FIELD_REPORT_DIR, taught_commands


@pytest.fixture(scope="session")
def harness_run(kubectl: str) -> Iterator[Run]:
    """One run of every case (emulated twice; the real engine when it starts)."""
    yield run_harness()


def test_every_taught_command_is_found_and_classified() -> None:
    commands = taught_commands()
    sources = {c.source for c in commands}
    assert {f"notebooks/0{i}" for i in range(7)} <= {s[:12] for s in sources}
    assert {"README.md", "docs/sandbox.md"} <= sources
    for command in commands:
        assert command.kind in ("runnable", "fragment", "template", "interactive"), command
        if command.kind == "runnable":
            assert command.shell.startswith("kubectl ") and "…" not in command.shell
        else:
            assert command.reason, command
    # the notebooks' commands are compared, not skipped
    runnable = [c for c in commands if c.source.startswith("notebooks/") and c.kind == "runnable"]
    assert len(runnable) >= 60


def test_masking_keeps_what_matters_and_hides_what_differs_by_design() -> None:
    shown = mask_text("NAME                              READY   AGE\n"
                      "details-v1-5c9c954967-x2kfb       1/1     4m3s\n"
                      "E1207 09:13:22.168598  5071 run.go:72] err\n"
                      "IP: 10.244.0.7  uid: 3583a36b-5a51-4fe1-9e22-121ad645b1e4\n")
    assert shown == ("NAME  READY  AGE\ndetails-v1-<hash>-<sfx>  1/1  <age>\n<klog> run.go:72] err\n"
                     "IP: <ip>  uid: <uid>\n")
    assert mask_text("Error from server (NotFound): pods \"web\" not found") == \
        "Error from server (NotFound): pods \"web\" not found"


def test_debounced_pushes_are_compared_by_what_they_push_not_how_they_grouped() -> None:
    line = ("2023-10-27T06:00:55.741297Z\tinfo\tads\tPush debounce stable[{n}] {m} for config "
            "{config}: 100.2ms since last change, 100.1ms since last push, full=true\n")
    one_push = line.format(n=1, m=8, config="ServiceEntry/alpha/details.alpha.svc and 3 more configs")
    two_pushes = (line.format(n=1, m=6, config="ServiceEntry/alpha/details.alpha.svc and 2 more "
                              "configs")
                  + line.format(n=2, m=2, config="ServiceEntry/alpha/productpage.alpha.svc"))
    assert mask_text(one_push) == mask_text(two_pushes)
    assert "ServiceEntry/alpha/<name>" in mask_text(one_push)
    # a push of another kind or namespace still shows
    gateway = line.format(n=3, m=1, config="Gateway/alpha/bookinfo-gateway")
    assert mask_text(one_push) != mask_text(one_push + gateway)
    assert mask_text(one_push) != mask_text(one_push.replace("/alpha/", "/beta/"))


def test_rollout_status_is_compared_by_its_lines_not_how_often_it_printed_them() -> None:
    waiting = 'Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...\n'
    done = 'deployment "web" successfully rolled out\n'
    assert mask_text(waiting * 3 + done) == mask_text(waiting * 2 + done) == waiting + done
    assert mask_text(waiting + done) != mask_text(done)


def test_rollout_status_progress_counts_are_masked_but_its_phases_are_not() -> None:
    updated = ('Waiting for deployment "web" rollout to finish: {n} out of 2 new replicas have been '
               'updated...\n')
    pending = 'Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...\n'
    assert mask_text(updated.format(n=0) + updated.format(n=1)) == mask_text(updated.format(n=1))
    assert mask_text(updated.format(n=1)) != mask_text(pending)
    assert "out of 2 new" in mask_text(updated.format(n=0))


def test_a_difference_is_reported_unless_the_baseline_explains_it() -> None:
    case = next(c for c in all_cases() if c.id == "errors/404-object")
    left: dict[str, list[Observation]] = {case.id: [{"status": 404, "body": {"reason": "NotFound"}}]}
    right = copy.deepcopy(left)
    right[case.id][0]["body"] = {"reason": "Gone"}
    found = compare(left, right, [case])
    assert [(d.case, d.step) for d in found] == [("errors/404-object", 0)]
    assert unexplained(found, {"measured": []}) == found
    assert unexplained(found, {"measured": [{"case": case.id, "step": 0, "reason": "r"}]}) == []


def test_the_committed_page_is_compared_without_what_moves_from_run_to_run() -> None:
    page = ("## Match rate per area\n| all | 3/4 |\n\n## Issue #13's differences\n| a | b |\n"
            "Measured against the real engine: 5 steps differ, 1 of them not explained.\n\n"
            "* reason — 4 steps\n* **new** `x` step 1 (`GET /x`)\n\n### API surface\n")
    other = page.replace("3/4", "4/4").replace("5 steps", "4 steps").replace(
        "* **new** `x` step 1 (`GET /x`)\n", "")
    assert settled(page) == settled(other)
    assert settled(page) != settled(page.replace("* reason", "* another reason"))
    assert "| a | b |" in settled(page)  # tables after the rates are kept


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the first of these runs the harness: ~7 min on both engines here
def test_the_emulated_engine_is_deterministic_once_masked(harness_run: Run) -> None:
    differences = harness_run.self_differences()
    assert not differences, [f"{d.case} step {d.step}: {d.what}" for d in differences]


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the first of these runs the harness: ~7 min on both engines here
def test_the_emulated_engine_gives_the_recorded_real_answers(harness_run: Run) -> None:
    assert harness_run.recorded_failures() == []


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the first of these runs the harness: ~7 min on both engines here
def test_no_unexplained_difference_from_the_real_engine(harness_run: Run) -> None:
    if harness_run.kube is None:
        pytest.skip(f"real engine not available: {harness_run.kube_unavailable}")
    new = unexplained(harness_run.kube_differences(), load_baseline())
    if new:
        # the real controllers write at their own pace: a difference counts once a fresh run of
        # its cases on both engines shows it again
        cases = [c for c in all_cases() if c.id in {d.case for d in new}]
        again = unexplained(compare(run_engine("emulated", cases), run_engine("kube", cases), cases),
                            load_baseline())
        confirmed = {(d.case, d.step) for d in again}
        new = [d for d in new if (d.case, d.step) in confirmed]
    assert not new, [f"{d.case} step {d.step}: {d.what}" for d in new]


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the first of these runs the harness: ~7 min on both engines here
def test_the_generated_documents_are_current(harness_run: Run) -> None:
    if not FIELD_REPORT_DIR.is_dir():
        pytest.skip(f"the field report is not at {FIELD_REPORT_DIR}: its commands are part of "
                    "the documents")
    stale = stale_docs(harness_run)
    assert not stale, f"{stale}: run `python -m tests.differential --write` and commit the result"
