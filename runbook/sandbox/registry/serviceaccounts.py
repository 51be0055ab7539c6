"""ServiceAccount admission's token volume: what kube-apiserver's ``ServiceAccount`` plugin adds
to every pod it admits on create.

The plugin (``plugin/pkg/admission/serviceaccount``) mounts a projected volume named
``kube-api-access-<5 random characters>`` — a bound token, the ``kube-root-ca.crt`` CA and the
pod's namespace — at ``/var/run/secrets/kubernetes.io/serviceaccount`` in every container and init
container that has no mount there yet, unless the pod (first) or its ServiceAccount says
``automountServiceAccountToken: false``. It runs before the mutating webhooks, so an injected
sidecar is not given the mount by it. Mirror pods are left alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runbook.sandbox.storage.store import generate_suffix

Obj = dict[str, Any]

VOLUME_PREFIX = "kube-api-access-"
MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
#: ``WarnOnlyBoundTokenExpirationSeconds``: the token's lifetime the plugin asks for
TOKEN_EXPIRATION_SECONDS = 3607
#: ``corev1.ProjectedVolumeSourceDefaultMode`` (0644), set explicitly by the plugin
PROJECTED_DEFAULT_MODE = 420
_MIRROR_ANNOTATION = "kubernetes.io/config.mirror"


def token_volume(name: str) -> Obj:
    """The projected volume ``TokenVolumeSource`` describes, under ``name``."""
    return {"name": name, "projected": {
        "defaultMode": PROJECTED_DEFAULT_MODE,
        "sources": [
            {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_SECONDS,
                                     "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt",
                           "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
                "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
        ]}}


def should_automount(pod: Obj, service_account: Obj | None) -> bool:
    """The pod's ``automountServiceAccountToken`` wins, then the ServiceAccount's; else true."""
    own = (pod.get("spec") or {}).get("automountServiceAccountToken")
    if isinstance(own, bool):
        return own
    theirs = (service_account or {}).get("automountServiceAccountToken")
    return theirs if isinstance(theirs, bool) else True


def mount_token(pod: Obj, service_account: Obj | None,
                suffix: Callable[[], str] = generate_suffix) -> None:
    """Add the token volume and its mounts to ``pod`` in place (a pod being created)."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    spec = pod.get("spec")
    if (not isinstance(spec, dict) or _MIRROR_ANNOTATION in annotations
            or not should_automount(pod, service_account)):
        return
    volumes = spec.get("volumes")
    if volumes is not None and not isinstance(volumes, list):
        return  # validation reports the wrong type
    existing = next((v["name"] for v in volumes or () if isinstance(v, dict)
                     and str(v.get("name", "")).startswith(VOLUME_PREFIX)), None)
    name = existing or VOLUME_PREFIX + suffix()
    mounted = False
    for group in ("initContainers", "containers"):
        for container in spec.get(group) or ():
            if not isinstance(container, dict):
                continue
            mounts = container.get("volumeMounts")
            if mounts is not None and not isinstance(mounts, list):
                continue
            if any(isinstance(m, dict) and m.get("mountPath") == MOUNT_PATH for m in mounts or ()):
                continue  # a mount of its own at the path keeps the token out
            container["volumeMounts"] = [*(mounts or ()), {
                "name": name, "readOnly": True, "mountPath": MOUNT_PATH}]
            mounted = True
    if mounted and existing is None:
        spec["volumes"] = [*(volumes or ()), token_volume(name)]


__all__ = ["MOUNT_PATH", "VOLUME_PREFIX", "mount_token", "should_automount", "token_volume"]
