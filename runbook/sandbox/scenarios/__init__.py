"""Scenarios: what the sandbox holds when it starts (and after ``reset``).

A scenario is a loader ``fn(cluster) -> None`` registered under a name::

    @register("healthy")
    def healthy(cluster: Registry) -> None:
        load_empty(cluster)
        create_from_manifests(cluster, SCENARIO_DIR / "healthy")

Built in here: ``empty`` — what a new cluster holds: the ``default``, ``kube-system``,
``kube-public`` and ``kube-node-lease`` namespaces (Active), the ``kubernetes`` Service in
``default``, one Ready Node ``sandbox-node`` with InternalIP 127.0.0.1, and (made by the
serviceaccount controller, as in a real cluster) a ``default`` ServiceAccount per namespace.
Every directory under ``runbook/sandbox/scenarios/`` is registered too, by its name, as ``empty``
plus its manifests, unless a loader of that name is registered in code. Anything else is taken as
a path: a directory or file of YAML manifests, loaded on top of ``empty``.

Manifests are applied in dependency order: CustomResourceDefinitions, then Namespaces, then the
rest in file order. A manifest that cannot be used (invalid YAML, unknown kind, refused by the
API) fails the load with a :class:`runbook.errors.ManifestError` naming file and document.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from runbook.errors import ManifestError
from runbook.kinds import CRDS, NAMESPACES, NODES, SERVICES
from runbook.manifests import Manifest, load_manifests
from runbook.sandbox.registry.cluster import Registry, system_writer
from runbook.sandbox.registry.status import ApiError

Loader = Callable[[Registry], None]
#: a scenario as manifests, for engines that load it through an API (``--engine kube``)
ManifestSource = Callable[[], list[Manifest]]
#: a loader that takes ``name:key=value,…`` options (``scale:namespaces=100``)
OptionLoader = Callable[[Registry, dict[str, str]], None]

SCENARIO_DIR = Path(__file__).parent
#: who wrote what a scenario holds, as managedFields record it on a real cluster: the API server
#: its own objects, the kubelet its Node, and ``kubectl apply -f`` (client-side, the field
#: report's way) every manifest — so ``kubectl apply --server-side`` conflicts as it would there
_APISERVER = system_writer("kube-apiserver")
_KUBELET = system_writer("kubelet")
_MANIFESTS = system_writer("kubectl-client-side-apply")
_REGISTRY: dict[str, Loader] = {}
_WITH_OPTIONS: dict[str, OptionLoader] = {}
_MANIFEST_SOURCES: dict[str, ManifestSource] = {"empty": list}
#: modules that register the built-in living worlds (imported on first use: they import us)
_BUILTIN_MODULES = ("runbook.sandbox.scenarios.incident", "runbook.sandbox.scenarios.scale")


def register(name: str) -> Callable[[Loader], Loader]:
    """Decorator: register a scenario loader under ``name``."""

    def wrap(fn: Loader) -> Loader:
        _REGISTRY[name] = fn
        return fn

    return wrap


def register_with_options(name: str) -> Callable[[OptionLoader], OptionLoader]:
    """Decorator: register a loader that takes options, used as ``name`` or ``name:k=v,k=v``."""

    def wrap(fn: OptionLoader) -> OptionLoader:
        _WITH_OPTIONS[name] = fn
        return fn

    return wrap


def register_manifests(name: str) -> Callable[[ManifestSource], ManifestSource]:
    """Decorator: the manifests of scenario ``name`` on top of ``empty`` (what
    :func:`scenario_manifests` gives for it)."""

    def wrap(fn: ManifestSource) -> ManifestSource:
        _MANIFEST_SOURCES[name] = fn
        return fn

    return wrap


def scenario_manifests(scenario: str) -> list[Manifest] | None:
    """A scenario as the manifests to apply on top of an empty cluster, in file order: a name
    registered with :func:`register_manifests`, a scenario directory, or a path. None for a
    scenario that only a loader builds (``scale``).

    Raises:
        ManifestError: an unknown name that is not a path either, or unreadable YAML.
    """
    _load_builtin()
    base = scenario.partition(":")[0]
    if scenario in _MANIFEST_SOURCES:
        return _MANIFEST_SOURCES[scenario]()
    if scenario in _REGISTRY or base in _WITH_OPTIONS:
        return None
    if (SCENARIO_DIR / scenario).is_dir() and "/" not in scenario:
        return load_manifests(SCENARIO_DIR / scenario)
    if Path(scenario).expanduser().exists():
        return load_manifests(Path(scenario).expanduser())
    raise ManifestError(f"unknown scenario {scenario!r}",
                        hint=f"use one of {', '.join(names())} or a path to YAML manifests")


def parse_options(text: str) -> dict[str, str]:
    """``k=v,k=v`` → ``{"k": "v", …}``.

    Raises:
        ManifestError: an option without ``=``.
    """
    options: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ManifestError(f"scenario option {part!r} is not key=value",
                                hint="write options as name:key=value,key=value")
        options[key.strip()] = value.strip()
    return options


def _load_builtin() -> None:
    import importlib

    for module in _BUILTIN_MODULES:
        importlib.import_module(module)


def names() -> list[str]:
    """Every scenario name that :func:`load_scenario` accepts (besides paths)."""
    _load_builtin()
    found = set(_REGISTRY) | set(_WITH_OPTIONS)
    if SCENARIO_DIR.is_dir():
        found |= {p.name for p in SCENARIO_DIR.iterdir() if p.is_dir() and not p.name.startswith("_")}
    return sorted(found)


def load_scenario(cluster: Registry, scenario: str, *, run_work: bool = True) -> None:
    """Fill an empty cluster with a named scenario or a path of manifests.

    Args:
        run_work: run the controllers' first pass (default ServiceAccounts …) before returning;
            never while holding the store lock.

    Raises:
        ManifestError: an unknown name that is not a path either, or a manifest that fails.
    """
    _load_builtin()
    base, colon, options = scenario.partition(":")
    if scenario in _REGISTRY:
        _REGISTRY[scenario](cluster)
    elif base in _WITH_OPTIONS and (colon or not Path(scenario).exists()):
        _WITH_OPTIONS[base](cluster, parse_options(options))
    elif (SCENARIO_DIR / scenario).is_dir() and "/" not in scenario:
        load_empty(cluster)
        create_from_manifests(cluster, SCENARIO_DIR / scenario)
    elif Path(scenario).expanduser().exists():
        load_empty(cluster)
        create_from_manifests(cluster, Path(scenario).expanduser())
    else:
        raise ManifestError(f"unknown scenario {scenario!r}",
                            hint=f"use one of {', '.join(names())} or a path to YAML manifests")
    if run_work:
        cluster.work.run_pending()  # controllers' first pass (default ServiceAccounts) before serving


@register("empty")
def load_empty(cluster: Registry) -> None:
    """What ``kind create cluster`` leaves behind, minus the control-plane pods."""
    for ns in ("default", "kube-node-lease", "kube-public", "kube-system"):
        cluster.create(NAMESPACES, None, {"apiVersion": "v1", "kind": "Namespace",
                                          "metadata": {"name": ns}}, _APISERVER, keep_status=True)
    now = cluster.clock.timestamp()
    conditions = [
        ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    ]
    node = {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "sandbox-node", "labels": {
            "kubernetes.io/hostname": "sandbox-node", "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64", "node-role.kubernetes.io/control-plane": ""}},
        "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]},
        "status": {
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                          {"type": "Hostname", "address": "sandbox-node"}],
            "conditions": [{"type": t, "status": s, "reason": r, "message": m,
                            "lastHeartbeatTime": now, "lastTransitionTime": now}
                           for t, s, r, m in conditions],
            "capacity": {"cpu": "2", "memory": "8Gi", "pods": "110"},
            "allocatable": {"cpu": "2", "memory": "8Gi", "pods": "110"},
            "nodeInfo": {"kubeletVersion": "v1.32.0", "kubeProxyVersion": "v1.32.0",
                         "containerRuntimeVersion": "containerd://1.7.0", "operatingSystem": "linux",
                         "architecture": "amd64", "osImage": "mesh-runbook sandbox",
                         "kernelVersion": "", "machineID": "", "systemUUID": "", "bootID": ""},
        },
    }
    cluster.create(NODES, None, node, _KUBELET, keep_status=True)
    cluster.create(SERVICES, "default", {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"clusterIP": "100.104.0.1", "ports": [
            {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]},
    }, _APISERVER)


def load_order(manifest: Manifest) -> int:
    """Where a manifest goes in a scenario load: CRDs, then Namespaces, then the rest."""
    kind = manifest.obj.get("kind")
    if kind == CRDS.kind:
        return 0
    return 1 if kind == NAMESPACES.kind else 2


def create_from_manifests(cluster: Registry, source: str | Path | list[Manifest]) -> int:
    """Create every object of a manifest file or directory (or of manifests already read, e.g.
    transformed by a scenario); returns how many.

    Objects keep their ``status`` (a scenario describes a cluster as it is, controllers'
    writes included). Namespaced objects without a namespace go to ``default``.

    Raises:
        ManifestError: invalid YAML, an unknown kind, or an object the API refuses.
    """
    loaded = source if isinstance(source, list) else load_manifests(source)
    manifests = sorted(loaded, key=load_order)  # sorted() is stable: file order kept
    for m in manifests:
        obj = m.obj
        kind = cluster.kinds.by_kind(str(obj["apiVersion"]), str(obj["kind"]))
        if kind is None:
            raise ManifestError(f"{m.where}: unknown kind {obj['kind']} in {obj['apiVersion']}",
                                hint="is its CustomResourceDefinition part of the scenario?")
        namespace = None
        if kind.namespaced:
            namespace = (obj.get("metadata") or {}).get("namespace") or "default"
        try:
            cluster.create(kind, namespace, obj, _MANIFESTS, keep_status=True)
        except ApiError as exc:
            raise ManifestError(f"{m.where}: {m.label}: {exc.message}") from None
    return len(manifests)
