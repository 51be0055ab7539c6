"""Discovery selectors and the istio.io/rev config filter, as istiod evaluates them."""

from __future__ import annotations

import pytest

from runbook.errors import InputError
from runbook.meshconfig import discovery_selectors, processes_config, watches_namespace

from .world import seed_objects


def _mesh(revision: str) -> str:
    cm = next(o for o in seed_objects()
              if o["kind"] == "ConfigMap" and o["metadata"]["name"] == f"istio-{revision}")
    return str(cm["data"]["mesh"])


def test_seed_revisions_watch_what_the_readme_says() -> None:
    prod = discovery_selectors(_mesh("1-18-5"))
    canary = discovery_selectors(_mesh("1-19-3"))
    alpha = {"istio.io/rev": "prod-canary"}
    beta = {"istio.io/rev": "1-18-5"}
    assert (watches_namespace(prod, alpha), watches_namespace(canary, alpha)) == (False, True)
    assert (watches_namespace(prod, beta), watches_namespace(canary, beta)) == (True, False)
    assert not watches_namespace(prod, {}) and not watches_namespace(canary, None)


@pytest.mark.parametrize("mesh", [None, "", "trustDomain: cluster.local\n", "discoverySelectors: []\n",
                                  {"rootNamespace": "istio-system"}])
def test_no_discovery_selectors_means_every_namespace(mesh: str | dict[str, str] | None) -> None:
    selectors = discovery_selectors(mesh)
    assert selectors == []
    assert watches_namespace(selectors, {}) and watches_namespace(selectors, {"any": "thing"})


def test_selectors_are_ored_and_empty_selector_matches_everything() -> None:
    selectors = discovery_selectors(
        "discoverySelectors:\n"
        "- matchLabels: {team: a}\n"
        "- matchExpressions: [{key: env, operator: NotIn, values: [prod]}, {key: tier, operator: Exists}]\n")
    assert watches_namespace(selectors, {"team": "a"})
    assert watches_namespace(selectors, {"tier": "x"})           # NotIn matches a missing key
    assert not watches_namespace(selectors, {"tier": "x", "env": "prod"})
    assert not watches_namespace(selectors, {"team": "b"})
    everything = discovery_selectors("discoverySelectors:\n- {}\n")
    assert watches_namespace(everything, {})
    nothing = discovery_selectors("discoverySelectors:\n- null\n")
    assert not watches_namespace(nothing, {"team": "a"})


@pytest.mark.parametrize(("mesh", "words"), [
    ("discoverySelectors: [{matchExpressions: [{key: a, operator: Like, values: [b]}]}]",
     "invalid discovery selector"),
    ("discoverySelectors: {matchLabels: {a: b}}", "must be a list"),
    ("discoverySelectors: [\n", "not valid YAML"),
    ("- just a list", "must be a mapping"),
])
def test_bad_mesh_config_is_an_input_error(mesh: str, words: str) -> None:
    with pytest.raises(InputError, match=words):
        discovery_selectors(mesh)


def test_unlabelled_config_is_processed_by_every_revision() -> None:
    for rev in ("1-18-5", "1-19-3", "default"):
        assert processes_config(rev, {}, rev == "default")
        assert processes_config(rev, None, False)
        assert processes_config(rev, {"app": "x"}, False)


def test_labelled_config_only_by_its_revision_and_tags_not_resolved() -> None:
    labelled = {"istio.io/rev": "1-18-5"}
    assert processes_config("1-18-5", labelled, False)
    assert not processes_config("1-19-3", labelled, False)
    assert not processes_config("default", labelled, True)
    # istio/istio#44047: a tag name on config is not the revision (Istio 1.18/1.19) …
    tagged = {"istio.io/rev": "prod-canary"}
    assert not processes_config("1-18-5", tagged, False)
    # … newer releases accept the revision's tags (LabelsInRevisionOrTags)
    assert processes_config("1-18-5", tagged, False, tags={"prod-canary"})


def test_default_revision_and_revisionless_istiod() -> None:
    assert processes_config("", {"istio.io/rev": "anything"}, False)
    assert processes_config(None, {"istio.io/rev": "anything"}, False)
    assert processes_config("", {"istio.io/rev": "default"}, True)
    assert not processes_config("", {"istio.io/rev": "1-18-5"}, True)
    assert processes_config("default", {"istio.io/rev": "default"}, True)
