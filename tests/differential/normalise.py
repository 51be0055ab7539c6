"""What differs between two runs of one engine by design, masked so that only real differences
remain: ages, uids, IPs, timestamps, resourceVersions, generated names, node ports, container and
image ids, pod-template hashes, CA bundles, continue tokens, durations, server addresses, klog
prefixes, retry counts, the status of workloads read while their controllers work, and the padding
kubectl aligns columns with (a masked value changes a column's width)."""

from __future__ import annotations

import json
import re
from typing import Any

#: the apiserver's generateName / pod-template-hash alphabet (``rand.SafeEncodeString``)
_SAFE = "bcdfghjklmnpqrstvwxz2456789"
_TEXT_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ ", re.M), "<klog> "),
    (re.compile(r"https://127\.0\.0\.1:\d+"), "https://<server>"),
    (re.compile(r"(?<=[\w.-])\.[0-9a-f]{16,}\b"), ".<nanos>"),
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uid>"),
    (re.compile(r"(containerd|docker)://[0-9a-f]{64}"), r"\1://<id>"),
    (re.compile(r"sha256:[0-9a-f]{64}"), "sha256:<digest>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)"), "<time>"),
    (re.compile(r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}"),
     "<time>"),
    (re.compile(r"\b(?!127\.0\.0\.1\b)(\d{1,3}\.){3}\d{1,3}\b"), "<ip>"),
    # an Event of a ReplicaSet is named after it: <deployment>-<hash>.<nanos>
    (re.compile(rf"(?<=[a-z0-9])-[{_SAFE}]{{6,10}}(?=\.<nanos>)"), "-<hash>"),
    (re.compile(rf"\b([a-z0-9]+(?:-[a-z0-9]+)*?)-[{_SAFE}]{{6,10}}-[{_SAFE}]{{5}}\b"),
     r"\1-<hash>-<sfx>"),
    (re.compile(rf"\b([a-z0-9]+(?:-[a-z0-9]+)*?)-[{_SAFE}]{{6,10}}\b(?![-.])"), r"\1-<hash>"),
    (re.compile(rf"(?<=[a-z0-9])-[{_SAFE}]{{5}}\b(?![-.])"), "-<sfx>"),
    # a ReplicaSet's generateName: its hash, then the dash the suffix goes after
    (re.compile(rf"(?<=[a-z0-9])-[{_SAFE}]{{6,10}}-(?=[\"'\s]|$)", re.M), "-<hash>-"),
    (re.compile(r"\b3[0-2]\d{3}(?=/TCP|/UDP)"), "<nodeport>"),
    # a hash of the template as the Go types print it (no engine but Go's can reproduce it)
    (re.compile(r"(pod-template-hash[\"']?(?:=|:\s*)[\"']?)[0-9a-z]{6,10}\b"), r"\1<hash>"),
    # a certificate made per run
    (re.compile(r"(caBundle[\"']?:\s*[\"']?)[A-Za-z0-9+/=]{40,}"), r"\1<ca>"),
    (re.compile(r"(resourceVersion[\"']?:\s*)\"?\d+\"?"), r'\1"<rv>"'),
    (re.compile(r"\b\d+(\.\d+)?(ms|µs|ns)\b"), "<duration>"),
    (re.compile(r"(?<![\w.:/-])(\d+[smhdy])(\d+[smh])?(?![\w.:/-])"), "<age>"),
    (re.compile(r"<invalid>"), "<age>"),
    # how often a retrying controller has failed depends on when one looks
    (re.compile(r"\(x\d+ over <age>\)"), "(x<n> over <age>)"),
    # how many new replicas `rollout status` first sees updated depends on whether the controller
    # got to the new ReplicaSet before kubectl's first look; the lines that follow do not
    (re.compile(r"(Waiting for deployment \S+ rollout to finish: )\d+( out of \d+ new replicas "
                r"have been updated)"), r"\1<n>\2"),
    # which changes one debounced istiod push groups depends on when they arrive (a push follows
    # 100 ms without changes): how many pushes, and which object of a kind and namespace each
    # names first, vary; the kind and namespace do not
    (re.compile(r"Push debounce stable\[\d+\] \d+ for config ([\w.-]+/[\w.-]+/)[\w.-]+"
                r"(?: and \d+ more configs)?:"),
     r"Push debounce stable[<n>] <n> for config \1<name>:"),
)
#: lines whose consecutive repeats depend on timing (see ``mask_text``)
_REPEATED = ("<time>\tinfo\tads\tPush debounce stable[<n>]", "Waiting for deployment ")
#: kinds whose status is a controller's progress: compared in the controller cases, after a wait
_PROGRESS_KINDS = frozenset({"Deployment", "ReplicaSet", "Pod"})
#: kinds whose status a controller writes whenever it gets to it (the real resource-quota
#: controller; the emulator has none): the status is left out of the comparison altogether
_LATE_STATUS_KINDS = frozenset({"ResourceQuota"})
#: JSON fields whose values are per-run by design
_MASKED_KEYS = frozenset({
    "uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "time", "lastTimestamp",
    "firstTimestamp", "lastTransitionTime", "lastUpdateTime", "lastHeartbeatTime", "startTime",
    "startedAt", "finishedAt", "eventTime", "continue", "podIP", "hostIP", "clusterIP",
    "nodePort", "containerID", "imageID", "renewTime", "acquireTime", "selfLink", "caBundle",
    "pod-template-hash"})


def mask_text(text: str) -> str:
    """Mask a printed output: per-run values replaced, column padding collapsed."""
    for pattern, replacement in _TEXT_MASKS:
        text = pattern.sub(replacement, text)
    lines = [re.sub(r" {2,}", "  ", line.rstrip()) for line in text.splitlines()]
    # the lines of one debounced push after another read alike once masked, and `rollout status`
    # prints its line again for every status write it watches (how many, the controllers' pace
    # decides): one stands for all
    lines = [line for i, line in enumerate(lines)
             if not (i and line == lines[i - 1] and line.startswith(_REPEATED))]
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")


def mask_json(value: Any, progress_kind: bool = False) -> Any:
    """Mask a decoded JSON body: per-run fields by name, then every string as text.
    ``progress_kind``: the value is an item of a list of a progress kind (a real server's list
    items carry no kind)."""
    if isinstance(value, dict):
        kind = value.get("kind")
        progress = (progress_kind or kind in _PROGRESS_KINDS) and isinstance(value.get("status"),
                                                                             dict)
        listed = kind.removesuffix("List") if isinstance(kind, str) else ""
        items_progress = listed in _PROGRESS_KINDS
        if listed in _LATE_STATUS_KINDS and isinstance(value.get("items"), list):
            value = {**value, "items": [_without_late_status(i) for i in value["items"]
                                        if isinstance(i, dict)]}
        if kind in _LATE_STATUS_KINDS:
            value = _without_late_status(value)
        if progress:
            value = _without_status_managers(value)
        return {k: ("<masked>" if (k in _MASKED_KEYS and v not in (None, "", 0))
                    or (progress and k == "status")
                    else mask_json(v, items_progress and k == "items"))
                for k, v in value.items()}
    if isinstance(value, list):
        return [mask_json(v, progress_kind) for v in value]
    if isinstance(value, str):
        return mask_text(value)
    return value


def _without_late_status(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` without its status, nor the managedFields entry of the controller's status write
    (present or not depending on whether the controller got there before the answer)."""
    return _without_status_managers({k: v for k, v in obj.items() if k != "status"})


def _without_status_managers(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` without the managedFields entries of status writes: a progress kind's status is
    masked (its controller writes it at its own pace), and so is the entry that records who wrote
    it (present or not, with this or that field, depending on when the answer was read)."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("managedFields"), list):
        return obj
    kept = [m for m in meta["managedFields"]
            if not (isinstance(m, dict) and m.get("subresource") == "status")]
    return {**obj, "metadata": {**meta, "managedFields": kept}}


def mask_body(raw: bytes, content_type: str, stream: bool = False) -> Any:
    """A response body as compared: JSON masked by field (a watch ``stream``: the list of its
    events, one per line), anything else masked as text."""
    text = raw.decode("utf-8", "replace")
    if "json" not in content_type:
        return mask_text(text)
    try:
        if not stream:
            return mask_json(json.loads(text))
        events = [json.loads(line) for line in text.splitlines() if line.strip()]
    except ValueError:
        return mask_text(text)
    # a controller's status writes reach a watch at times that depend on the machine
    return [mask_json(e) for e in events if not (
        e.get("type") == "MODIFIED"
        and (e.get("object") or {}).get("kind") in _PROGRESS_KINDS | _LATE_STATUS_KINDS)]


__all__ = ["mask_body", "mask_json", "mask_text"]
