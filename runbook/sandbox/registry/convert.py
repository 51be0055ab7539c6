"""Kinds served in two shapes from one store: ``events.k8s.io/v1`` Events are core/v1 Events.

kube-apiserver keeps both APIs' Events in one place (``/registry/events``) and converts between
the shapes (``k8s.io/kubernetes/pkg/apis/events/v1`` conversions): an Event written through
either API is read through both. The sandbox stores the core/v1 shape; these functions convert.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]

#: core/v1 field -> events.k8s.io/v1 field (fields not listed have the same name in both)
_CORE_TO_V1 = {
    "involvedObject": "regarding",
    "message": "note",
    "source": "deprecatedSource",
    "firstTimestamp": "deprecatedFirstTimestamp",
    "lastTimestamp": "deprecatedLastTimestamp",
    "count": "deprecatedCount",
    "reportingComponent": "reportingController",
}
_V1_TO_CORE = {v: k for k, v in _CORE_TO_V1.items()}
_SKIP = ("apiVersion", "kind")

#: events.k8s.io/v1 selectable field -> where its value lives in the stored core/v1 object
FIELD_PATHS = {
    "regarding.kind": "involvedObject.kind", "regarding.namespace": "involvedObject.namespace",
    "regarding.name": "involvedObject.name", "regarding.uid": "involvedObject.uid",
    "regarding.apiVersion": "involvedObject.apiVersion",
    "regarding.resourceVersion": "involvedObject.resourceVersion",
    "regarding.fieldPath": "involvedObject.fieldPath", "reportingController": "reportingComponent",
}


def core_to_events_v1(obj: Obj) -> Obj:
    """A stored core/v1 Event in the events.k8s.io/v1 shape."""
    out: Obj = {"apiVersion": "events.k8s.io/v1", "kind": "Event"}
    for key, value in obj.items():
        if key not in _SKIP:
            out[_CORE_TO_V1.get(key, key)] = value
    # eventTime has no omitempty: a core Event without one reads back as null (which the Python
    # client's typed EventsV1Event refuses - against a real server too)
    out.setdefault("eventTime", None)
    return out


def events_v1_to_core(obj: Obj) -> Obj:
    """An events.k8s.io/v1 Event in the core/v1 shape the store keeps."""
    out: Obj = {"apiVersion": "v1", "kind": "Event"}
    for key, value in obj.items():
        if key not in _SKIP:
            out[_V1_TO_CORE.get(key, key)] = value
    return out
