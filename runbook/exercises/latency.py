"""Notebook 05's exercise check: a fault delay in a VirtualService, seen in the latency it causes.

The exercise: make the gateway delay a share of the ``/productpage`` requests (200 ms for 50 % by
default) by editing the VirtualService, probe again, and compare with the run before. The check
reads both what the cluster holds (the rule that a ``GET /productpage`` for the host meets, read
with :mod:`runbook.routing` — the same reading as the sandbox's gateways) and what the probe
measured, so it passes on the sandbox and on a real cluster alike, and it says what is missing.

Why these figures: a delay applied to a share *p* of the requests splits the distribution in two.
The share of requests slower than the baseline's p50 plus most of the delay estimates *p*; the
p90 (inside the delayed part when *p* ≥ 20 %) moves by about the delay; the fast part stays where
it was. The p50 itself sits on the edge between the two parts when *p* is 50 % and may land on
either side, so it is shown, not judged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from runbook import kinds as k
from runbook.check_result import ExerciseCheck
from runbook.probe import stats
from runbook.probe.http import ProbeRun
from runbook.routing import FaultInjection, RequestView, first_matching_rule, host_matches, vs_hosts
from runbook.snapshot import Snapshot

#: the fewest complete responses a run needs for the share of delayed requests to mean something
MIN_RESPONSES = 50


def _served(run: ProbeRun) -> pd.DataFrame:
    """Complete answers the app gave (a 503 from the gateway says nothing about the delay)."""
    ok = stats.ok_samples(run.samples)
    return ok[ok["status"] < 400]


def fault_rule(snapshot: Snapshot, namespace: str, host: str, path: str
               ) -> tuple[Mapping[str, Any] | None, str, Mapping[str, Any] | None]:
    """The VirtualService of ``namespace`` serving ``host`` at a gateway, and the ``http`` rule a
    ``GET path`` meets: ``(virtual service, "ns/name http[i]", rule)`` (Nones when missing)."""
    for vs in snapshot.items(k.VIRTUAL_SERVICES):
        meta = vs.get("metadata") or {}
        if meta.get("namespace") != namespace:
            continue
        spec = vs.get("spec") or {}
        if not spec.get("gateways") or not any(host_matches(h, host) for h in vs_hosts(spec, namespace)):
            continue
        rules = [r for r in spec.get("http") or () if isinstance(r, Mapping)]
        index = first_matching_rule(rules, RequestView("GET", path, host, {}, {}, "http"))
        where = f"VirtualService {namespace}/{meta.get('name')}"
        if index is None:
            return vs, where, None
        return vs, f"{where} http[{index}]", rules[index]
    return None, "", None


def check_fault_delay_exercise(snapshot: Snapshot, before: ProbeRun, after: ProbeRun, *,
                               namespace: str = "l7-traffic-alpha", host: str = "bookinfo-gateway.test",
                               path: str = "/productpage", delay_ms: float = 200.0,
                               percent: float = 50.0) -> ExerciseCheck:
    """Notebook 05's exercise: a fault delay of ``delay_ms`` on ``percent`` % of ``path``, measured.

    Conditions, in the order a trainee meets them:

    1. a VirtualService in ``namespace`` serves ``host`` at a gateway, and a rule takes
       ``GET path``;
    2. that rule has ``fault.delay`` with ``fixedDelay`` ≈ ``delay_ms`` (±10 %) and a
       ``percentage.value`` ≈ ``percent`` (±5 points; without a percentage Istio delays nothing);
    3. both runs have at least :data:`MIN_RESPONSES` answers below status 400 (a gateway's 503
       says nothing about the delay);
    4. the share of ``after`` requests slower than ``before``'s p50 + 0.8 × delay is ``percent``
       within sampling tolerance (max(10 points, 3 standard errors));
    5. ``after``'s p90 moved by at least 0.8 × delay (when ``percent`` ≥ 20) and its p10 stayed
       within half a delay of ``before``'s p50 (when ``percent`` ≤ 80).

    Args:
        snapshot: a read with the Istio config (``read_mesh(cluster, with_config=True)``).
        before: the probe run before the change (the baseline).
        after: the probe run after it.
    """
    check = ExerciseCheck(f"Exercise: delay {delay_ms:g} ms on {percent:g} % of {path} "
                          f"(Host {host}), measured")
    vs, where, rule = fault_rule(snapshot, namespace, host, path)
    if not check.add(vs is not None and rule is not None,
                     f"{where or 'no VirtualService'} takes GET {path} for {host}" if rule is not None else
                     (f"{where} has no rule for GET {path}" if vs is not None else
                      f"no VirtualService in {namespace} serves {host} at a gateway (kubectl get vs -n "
                      f"{namespace})")):
        return check
    assert rule is not None and vs is not None
    fault = FaultInjection.from_spec(rule.get("fault"))
    wanted = (f"kubectl -n {namespace} patch virtualservice {(vs.get('metadata') or {}).get('name')} "
              f"--type=json -p '[{{\"op\":\"add\",\"path\":\"/spec/http/{where.rsplit('[', 1)[-1][:-1]}"
              f"/fault\",\"value\":{{\"delay\":{{\"fixedDelay\":\"{delay_ms:g}ms\",\"percentage\":"
              f"{{\"value\":{percent:g}}}}}}}}}]'")
    if fault is None or fault.delay_s is None:
        check.add(False, f"{where} has no fault.delay — e.g. {wanted}")
        return check
    got_ms = fault.delay_s * 1000
    check.add(abs(got_ms - delay_ms) <= 0.1 * delay_ms,
              f"{where}: fault.delay.fixedDelay is {got_ms:g} ms (wanted {delay_ms:g} ms)")
    if not check.add(abs(fault.delay_percent - percent) <= 5,
                     f"{where}: the delay applies to {fault.delay_percent:g} % of requests (wanted "
                     f"{percent:g} %)" + ("" if fault.delay_percent else
                                          " — without percentage.value Istio delays no request")):
        return check
    runs_ok = True
    for label, run in (("before", before), ("after", after)):
        n = len(_served(run))
        codes = ", ".join(f"{code}×{count}" for code, count in run.summary()["status_codes"].items())
        runs_ok &= check.add(n >= MIN_RESPONSES, f"the '{label}' run has {n} answers below status 400 "
                                                 f"(needs {MIN_RESPONSES}; status codes: {codes or 'none'})"
                             + ("" if n >= MIN_RESPONSES else " — is the app serving? (notebook 03)"))
    if not runs_ok:
        return check
    base = stats.latency_stats(_served(before)["latency_ms"], (10, 50, 90))
    now_values = np.asarray(_served(after)["latency_ms"], dtype="float64")
    now = stats.latency_stats(now_values, (10, 50, 90))
    threshold = base["p50_ms"] + 0.8 * delay_ms
    share = float((now_values >= threshold).mean() * 100)
    p = percent / 100
    tolerance = max(10.0, 300 * math.sqrt(p * (1 - p) / len(now_values)))
    check.add(abs(share - percent) <= tolerance,
              f"{share:.0f} % of the requests took longer than {threshold:.0f} ms (the baseline p50 "
              f"{base['p50_ms']:.1f} ms + 0.8 × the delay): {percent:g} % ± {tolerance:.0f} expected")
    if percent >= 20:
        moved = now["p90_ms"] - base["p90_ms"]
        check.add(moved >= 0.8 * delay_ms, f"p90 moved by {moved:.0f} ms ({base['p90_ms']:.1f} → "
                                           f"{now['p90_ms']:.1f} ms; the delay is {delay_ms:g} ms)")
    if percent <= 80:
        check.add(now["p10_ms"] <= base["p50_ms"] + delay_ms / 2,
                  f"the undelayed requests stayed fast: p10 {now['p10_ms']:.1f} ms (baseline p50 "
                  f"{base['p50_ms']:.1f} ms; p50 now {now['p50_ms']:.1f} ms, on the edge of the two parts)")
    return check


__all__ = ["MIN_RESPONSES", "check_fault_delay_exercise", "fault_rule"]
