"""Push confirmation: istiod logs → table → "which revision pushed it, which did not"."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from runbook.errors import InputError
from runbook.formats.istiod_log import log_line, log_line_json, push_debounce_message
from runbook.mesh.pushes import (
    PUSH_COLUMNS,
    control_plane_scopes,
    push_status,
    pushes_frame,
    watching_revisions,
)

from .world import seed_snapshot, seed_world, snapshot_of

T0 = datetime(2023, 10, 27, 6, 0, 55, 741297, tzinfo=UTC)


def _istiod_pods() -> dict[str, dict]:
    pods = [o for o in seed_world() if o["kind"] == "Pod"
            and o["metadata"]["labels"].get("app") == "istiod"]
    return {p["metadata"]["labels"]["istio.io/rev"]: p for p in pods}


def _key(pod: dict) -> str:
    return f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"


def _push(when: datetime, push_id: int, configs: list[str] | None, reasons: list[str] = (),  # type: ignore[assignment]
          full: bool = True) -> str:
    return log_line(when, "info", "ads",
                    push_debounce_message(push_id, 1, configs, list(reasons), 0.100213717, 0.100213544, full))


def _report_logs() -> tuple[dict[str, str], list[dict]]:
    """The report's two `kubectl logs … | grep` outputs, plus unrelated noise."""
    pods = _istiod_pods()
    canary, prod = pods["1-19-3"], pods["1-18-5"]
    canary_log = "\n".join([
        "2023-10-27T06:00:50.000000Z\tinfo\tads\tADS: new connection for node:sidecar~10.0.0.1",
        _push(T0, 32, ["Gateway/l7-traffic-alpha/bookinfo-gateway"]),
        _push(T0 + timedelta(seconds=0.78), 33, ["VirtualService/l7-traffic-alpha/bookinfo"]),
        _push(T0 + timedelta(seconds=5), 34, None, ["endpoint", "service", "proxy"]),
    ])
    prod_log = "\n".join([
        log_line_json(T0 + timedelta(hours=1, minutes=54, seconds=33), "info", "ads",
                      push_debounce_message(38, 1, ["Gateway/l7-traffic-beta/nginx-sample-gateway"], [],
                                            0.100246865, 0.100246675, True)),
        _push(T0 + timedelta(hours=1, minutes=54, seconds=34), 39,
              ["VirtualService/l7-traffic-beta/nginx-sample"]),
    ])
    return {_key(canary): canary_log, _key(prod): prod_log}, [canary, prod]


def test_frame_has_one_row_per_config_with_pod_namespace_and_revision() -> None:
    logs, pods = _report_logs()
    frame = pushes_frame(logs, pods)
    assert list(frame.columns) == list(PUSH_COLUMNS)
    assert len(frame) == 5
    assert frame["time"].is_monotonic_increasing
    first = frame.iloc[0]
    assert (first["namespace"], first["revision"], first["push_id"], first["kind"],
            first["config_namespace"], first["config_name"]) == \
        ("istio-canary", "1-19-3", 32, "Gateway", "l7-traffic-alpha", "bookinfo-gateway")
    assert first["istiod_pod"].startswith("istiod-1-19-3-")
    assert first["ms_since_change"] == pytest.approx(100.213717)
    assert first["ms_since_push"] == pytest.approx(100.213544)
    assert bool(first["full"]) is True and first["forced"] is None
    reason = frame[frame["kind"].isna()].iloc[0]
    assert reason["reasons"] == "endpoint and 2 more reasons" and reason["config_name"] is None
    beta = frame[frame["config_namespace"] == "l7-traffic-beta"]
    assert set(beta["revision"]) == {"1-18-5"} and set(beta["namespace"]) == {"istio-prod"}
    assert list(beta["push_id"]) == [38, 39]        # the JSON-mode line parsed like the text ones


def test_more_configs_rows_say_so_and_keys_can_be_tuples_or_bare_names() -> None:
    pods = _istiod_pods()
    prod = pods["1-18-5"]
    text = _push(T0, 40, ["VirtualService/l7-traffic-beta/a", "Gateway/l7-traffic-beta/b",
                          "DestinationRule/l7-traffic-beta/c"])
    by_tuple = pushes_frame({(prod["metadata"]["namespace"], prod["metadata"]["name"]): text}, [prod])
    by_name = pushes_frame({prod["metadata"]["name"]: text}, [prod])
    assert by_tuple.equals(by_name)
    row = by_tuple.iloc[0]
    assert (row["config_name"], row["more_configs"], row["reasons"]) == ("a", 2, "and 2 more configs")
    with pytest.raises(InputError, match="namespace/name"):
        pushes_frame({"istiod-unknown-pod": text}, [prod])


def test_revision_from_env_when_the_pod_has_no_revision_label() -> None:
    pod = copy.deepcopy(_istiod_pods()["1-18-5"])
    del pod["metadata"]["labels"]["istio.io/rev"]
    frame = pushes_frame({_key(pod): _push(T0, 1, ["Gateway/x/y"])}, [pod])
    assert frame.iloc[0]["revision"] == "1-18-5"     # REVISION env of the discovery container
    assert pushes_frame({"ns/pod": _push(T0, 1, ["Gateway/x/y"])}).iloc[0]["revision"] is None


def test_empty_logs_give_an_empty_frame_with_the_columns() -> None:
    frame = pushes_frame({"istio-prod/istiod-x": "no pushes here\n"})
    assert frame.empty and list(frame.columns) == list(PUSH_COLUMNS)


def test_watching_revisions_on_the_seed_world() -> None:
    snap = seed_snapshot()
    assert watching_revisions(snap, "l7-traffic-alpha") == {"1-18-5": False, "1-19-3": True}
    assert watching_revisions(snap, "l7-traffic-beta") == {"1-18-5": True, "1-19-3": False}
    assert watching_revisions(snap, "no-such-namespace") == {"1-18-5": False, "1-19-3": False}
    scopes = control_plane_scopes(snap)
    assert (scopes["1-18-5"].namespace, scopes["1-18-5"].configmap) == ("istio-prod", "istio-1-18-5")


def test_a_revision_without_discovery_selectors_watches_everything() -> None:
    objects = seed_world()
    for o in objects:
        if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "istio-1-18-5":
            o["data"]["mesh"] = "trustDomain: cluster.local\n"
        if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "istio-1-19-3":
            o["data"]["mesh"] = "discoverySelectors: [{matchExpressions: [{key: a, operator: Bad}]}]\n"
    snap = snapshot_of(objects)
    assert watching_revisions(snap, "l7-traffic-alpha")["1-18-5"] is True
    scope = control_plane_scopes(snap)["1-19-3"]
    assert scope.error and "invalid discovery selector" in scope.error


def test_report_pushes_are_confirmed_by_the_revisions_that_watch() -> None:
    logs, pods = _report_logs()
    frame = pushes_frame(logs, pods)
    snap = seed_snapshot()
    alpha = push_status(frame, "Gateway", "l7-traffic-alpha", "bookinfo-gateway",
                        watching_revisions(snap, "l7-traffic-alpha"))
    assert alpha.confirmed and list(alpha.logged) == ["1-19-3"] and alpha.not_watching == ["1-18-5"]
    assert alpha.logged["1-19-3"] == T0
    assert "pushed by 1-19-3" in alpha.summary and "not watched by 1-18-5" in alpha.summary
    beta = push_status(frame, "VirtualService", "l7-traffic-beta", "nginx-sample",
                       watching_revisions(snap, "l7-traffic-beta"))
    assert beta.confirmed and list(beta.logged) == ["1-18-5"]


def test_missing_possible_and_unexpected_pushes() -> None:
    logs, pods = _report_logs()
    frame = pushes_frame(logs, pods)
    watchers = {"1-18-5": True, "1-19-3": True}
    dr = push_status(frame, "DestinationRule", "l7-traffic-beta", "nginx-sample-ds", watchers)
    assert not dr.confirmed and dr.missing == ["1-18-5", "1-19-3"] and dr.possibly == []
    assert "not (yet) logged by 1-18-5, 1-19-3" in dr.summary
    # a multi-config push could include it unnamed
    pods_ = _istiod_pods()
    more = dict(logs)
    more[_key(pods_["1-18-5"])] += "\n" + _push(T0 + timedelta(hours=2), 40,
                                                ["VirtualService/l7-traffic-beta/other", "x/y/z"])
    again = push_status(pushes_frame(more, pods), "DestinationRule", "l7-traffic-beta",
                        "nginx-sample-ds", watchers)
    assert again.possibly == ["1-18-5"]
    # logged by a revision that (we think) does not watch
    odd = push_status(frame, "Gateway", "l7-traffic-alpha", "bookinfo-gateway",
                      {"1-18-5": True, "1-19-3": False})
    assert odd.unexpected == ["1-19-3"] and odd.missing == ["1-18-5"]
    nobody = push_status(frame, "Gateway", "x", "y", {"1-18-5": False})
    assert not nobody.confirmed and "no istiod revision watches" in nobody.summary


def test_since_ignores_older_pushes() -> None:
    logs, pods = _report_logs()
    frame = pushes_frame(logs, pods)
    later = push_status(frame, "Gateway", "l7-traffic-alpha", "bookinfo-gateway",
                        {"1-19-3": True}, since=T0 + timedelta(seconds=1))
    # a change at T0+1s would be carried by the next full push (the reason-form one at T0+5s)
    assert not later.logged and "push [34]" in later.included["1-19-3"]
    assert later.confirmed
    after_all = push_status(frame, "Gateway", "l7-traffic-alpha", "bookinfo-gateway",
                            {"1-19-3": True}, since=T0 + timedelta(seconds=6))
    assert after_all.missing == ["1-19-3"] and not after_all.logged and not after_all.included


def test_an_unnamed_config_in_a_merged_push_is_carried() -> None:
    pods = _istiod_pods()
    canary = pods["1-19-3"]
    log = _push(T0, 3, ["Gateway/l7-traffic-alpha/bookinfo-gateway",
                        "VirtualService/l7-traffic-alpha/bookinfo"])
    frame = pushes_frame({_key(canary): log}, [canary])
    named = push_status(frame, "Gateway", "l7-traffic-alpha", "bookinfo-gateway",
                        {"1-19-3": True}, since=T0 - timedelta(seconds=1))
    assert "1-19-3" in named.logged
    unnamed = push_status(frame, "VirtualService", "l7-traffic-alpha", "bookinfo",
                          {"1-19-3": True}, since=T0 - timedelta(seconds=1))
    assert unnamed.confirmed and not unnamed.logged
    assert "Gateway/l7-traffic-alpha/bookinfo-gateway and 1 more configs" in unnamed.included["1-19-3"]
    assert "carried unnamed by 1-19-3" in unnamed.summary
