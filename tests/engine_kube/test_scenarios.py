"""The other scenarios on the real engine: ``healthy`` injects through the tag at once, ``scale``
(small) gives failing and healthy namespaces made by the real controllers, ``reset`` reloads."""

from __future__ import annotations

import json
from pathlib import Path

from runbook.sandbox.realkube.engine import KubeEngine
from tests.engine_kube.conftest import wait_for
from tests.sandbox_world.helpers import BOOKINFO, kubectl_for


def _pods(kc, namespace: str) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    return list(json.loads(kc("get", "pods", "-n", namespace, "-o", "json").stdout)["items"])


def test_healthy_injects_through_the_tag_and_reset_reloads_it(engine_binary: Path,
                                                              kubectl: str,
                                                              tmp_path: Path) -> None:
    with KubeEngine(scenario="healthy", state_dir=tmp_path / "state") as engine:
        kc = kubectl_for(kubectl, engine, tmp_path)  # type: ignore[arg-type]
        kc("apply", "-f", str(BOOKINFO), "-n", "l7-traffic-alpha")
        pods = wait_for(lambda: [p for p in _pods(kc, "l7-traffic-alpha")
                                 if p["status"].get("phase") == "Running"]
                        if len(_pods(kc, "l7-traffic-alpha")) == 6 else None,
                        timeout=90, what="six injected bookinfo pods")
        revisions = {json.loads(p["metadata"]["annotations"]["sidecar.istio.io/status"])["revision"]
                     for p in pods}
        assert revisions == {"1-18-5"}  # the tag calls istio-prod/istiod, which runs 1.18.5

        engine.reset()
        assert kc("get", "deploy", "-n", "l7-traffic-alpha").stderr.strip() == \
            "No resources found in l7-traffic-alpha namespace."
        names = kc("get", "ns", "-o", "name").stdout.split()
        assert "namespace/l7-traffic-alpha" in names and "namespace/istio-prod" in names


def test_a_small_scale_world_fails_and_runs_by_the_real_controllers(engine_binary: Path,
                                                                    kubectl: str,
                                                                    tmp_path: Path) -> None:
    with KubeEngine(scenario="scale:namespaces=5,replicasets=10",
                    state_dir=tmp_path / "state") as engine:
        kc = kubectl_for(kubectl, engine, tmp_path)  # type: ignore[arg-type]
        namespaces = [n.removeprefix("namespace/") for n in
                      kc("get", "ns", "-o", "name").stdout.split() if "scale-" in n]
        assert len(namespaces) == 5
        deployments = json.loads(kc("get", "deploy", "-A", "-o", "json").stdout)["items"]
        scaled = [d for d in deployments if d["metadata"]["namespace"].startswith("scale-")]
        assert len(scaled) == 10
        failing = [d for d in scaled if any(c["type"] == "ReplicaFailure"
                                            for c in d["status"].get("conditions") or ())]
        available = [d for d in scaled if d["status"].get("availableReplicas")]
        assert failing and available and len(failing) + len(available) == 10
