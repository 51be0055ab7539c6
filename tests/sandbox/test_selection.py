"""Label and field selection of the sandbox's lists: what a value at a field path is, and the
selection a list applies to every object of a kind."""

from __future__ import annotations

from collections import UserDict
from typing import Any

import pytest

from runbook import kinds as k
from runbook.sandbox.registry.reads import Selection
from runbook.selectors import field_value, parse_field_selector, parse_label_selector, value_at

EVENT: dict[str, Any] = {
    "metadata": {"name": "rs-1.17", "namespace": "shop", "labels": {"team": "a"}},
    "involvedObject": {"kind": "ReplicaSet", "name": "rs-1", "namespace": "shop"},
    "source": {"component": "replicaset-controller"},
    "count": 3,
    "reason": "FailedCreate",
}


@pytest.mark.parametrize(("obj", "path", "value"), [
    (EVENT, "involvedObject.kind", "ReplicaSet"),
    (EVENT, "count", "3"),                                    # not a string: its text
    (EVENT, "involvedObject.uid", ""),                        # missing: empty
    (EVENT, "reason.kind", ""),                               # through a string: empty
    ({"spec": {"hostNetwork": True}}, "spec.hostNetwork", "true"),
    ({"spec": {"hostNetwork": False}}, "spec.hostNetwork", "false"),
    ({"spec": None}, "spec.nodeName", ""),
    ({"status": UserDict({"phase": "Running"})}, "status.phase", "Running"),  # any Mapping
])
def test_a_field_path_gives_the_text_the_api_server_compares(obj: dict[str, Any], path: str,
                                                              value: str) -> None:
    assert field_value(obj, path) == value
    assert value_at(obj, tuple(path.split("."))) == value


def _selection(kind: k.ResourceKind, labels: str | None, fields: str | None) -> Selection:
    return Selection(parse_label_selector(labels), parse_field_selector(fields), kind.key)


@pytest.mark.parametrize(("labels", "fields", "matches"), [
    (None, "involvedObject.kind=ReplicaSet", True),
    (None, "involvedObject.kind=Pod", False),
    (None, "involvedObject.kind!=Pod", True),
    (None, "involvedObject.kind=ReplicaSet,reason!=FailedCreate", False),
    (None, "source=replicaset-controller", True),     # the selectable field's own path
    ("team=a", "involvedObject.kind=ReplicaSet", True),
    ("team=b", "involvedObject.kind=ReplicaSet", False),
    ("team=b", None, False),
    (None, None, True),
])
def test_a_selection_applies_labels_and_every_field(labels: str | None, fields: str | None,
                                                    matches: bool) -> None:
    selection = _selection(k.EVENTS, labels, fields)
    assert selection.matches(EVENT) is matches
    assert selection.empty is (labels is None and fields is None)
