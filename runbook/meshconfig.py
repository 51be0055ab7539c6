"""Which namespaces and which configuration an istiod revision takes in — defined once.

Both the client (``runbook.mesh.pushes``: which control planes should log a push) and the sandbox's
emulated istiod (which control planes do log it) use these functions, so the two cannot disagree.

Upstream behaviour implemented here (istio/istio, Apache-2.0; read through the code search):

* **Discovery selectors** — ``pkg/kube/namespace/filter.go`` (``discoveryNamespacesFilter``):
  meshConfig ``discoverySelectors`` is a list of ``LabelSelector``; a namespace is watched when it
  matches *any* of them; an empty or missing list means every namespace. Each selector converts
  like ``LabelSelectorAsSelector`` there: ``{}`` (no matchLabels, no matchExpressions) matches
  everything, a null entry matches nothing, operators In/NotIn/Exists/DoesNotExist.
  Cluster-scoped objects are never filtered.
* **Revision of configuration** — ``pkg/config/model.go`` ``ObjectInRevision`` as used by
  ``pilot/pkg/config/kube/crdclient/client.go`` (``List`` keeps an object only when
  ``objectInRevision`` holds) in Istio 1.18/1.19: an object *without* an ``istio.io/rev`` label is a
  "global object" processed by **every** revision (not only the default one); an object *with* the
  label is processed only by the istiod whose revision equals the label value. An istiod without a
  revision (``rev == ""``) takes everything. Revision **tags are not resolved** there: config
  labelled with a tag name is ignored by the revision the tag points to — the trap of
  istio/istio#44047 (Gateway/VirtualService labelled ``istio.io/rev: stable`` stop being programmed
  once the gateway pods move to another revision). Later releases added
  ``LabelsInRevisionOrTags`` (same file on master), which also accepts the revision's tags; pass
  ``tags`` to model that.
* The default revision: Istio's charts run istiod with ``REVISION=default`` when no revision was
  chosen, so ``istio.io/rev: default`` is that istiod's own label value.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import yaml

from runbook.errors import InputError
from runbook.safeload import load_yaml
from runbook.selectors import LabelSelector, SelectorError, selector_from_dict
from runbook.wellknown import DEFAULT_REVISION, REV_LABEL


def discovery_selectors(mesh_yaml: str | Mapping[str, Any] | None) -> list[LabelSelector]:
    """The ``discoverySelectors`` of a meshConfig, parsed.

    Args:
        mesh_yaml: the ``mesh`` key of an istiod ConfigMap (``istio`` / ``istio-<revision>``) as
            YAML text, or already parsed; None or empty text means a default meshConfig.

    Returns:
        One selector per list entry; an empty list means "every namespace".

    Raises:
        InputError: the YAML cannot be parsed, ``discoverySelectors`` is not a list, or a selector
            is invalid (istiod itself logs "invalid discovery selector" and ignores the change).
    """
    if mesh_yaml is None:
        return []
    if isinstance(mesh_yaml, str):
        try:
            mesh = load_yaml(mesh_yaml, "meshConfig") if mesh_yaml.strip() else {}
        except yaml.YAMLError as exc:
            raise InputError(f"meshConfig is not valid YAML: {str(exc).splitlines()[0]}",
                             hint="check the 'mesh' key of the istiod ConfigMap") from None
    else:
        mesh = mesh_yaml
    if mesh is None:
        return []
    if not isinstance(mesh, Mapping):
        raise InputError("meshConfig must be a mapping", hint="check the 'mesh' key of the ConfigMap")
    raw = mesh.get("discoverySelectors")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InputError("meshConfig discoverySelectors must be a list of label selectors")
    selectors: list[LabelSelector] = []
    for i, entry in enumerate(raw):
        try:
            # nil_matches=False: a null entry selects nothing, like LabelSelectorAsSelector(nil)
            selectors.append(selector_from_dict(entry, field=f"discoverySelectors[{i}]"))
        except SelectorError as exc:
            raise InputError(f"invalid discovery selector: {exc}") from None
    return selectors


def root_namespace(mesh_yaml: str | None, default: str) -> str:
    """meshConfig ``rootNamespace`` (config there applies mesh-wide); ``default`` — istiod's own
    namespace, as ``istioctl install`` sets it — when unset or unreadable."""
    try:
        mesh = load_yaml(mesh_yaml, "meshConfig") if mesh_yaml and mesh_yaml.strip() else {}
    except (yaml.YAMLError, InputError):
        return default
    value = mesh.get("rootNamespace") if isinstance(mesh, Mapping) else None
    return str(value) if value else default


def watches_namespace(selectors: list[LabelSelector], namespace_labels: Mapping[str, str] | None
                      ) -> bool:
    """Whether an istiod with these discovery selectors watches a namespace with these labels.

    No selectors means every namespace; otherwise any one selector has to match.
    """
    if not selectors:
        return True
    labels = namespace_labels or {}
    return any(s.matches(labels) for s in selectors)


def processes_config(revision: str | None, config_labels: Mapping[str, str] | None,
                     is_default_revision: bool = False, *, tags: Collection[str] = ()) -> bool:
    """Whether the istiod of ``revision`` takes in a config object with these labels.

    Args:
        revision: the istiod's revision (its ``REVISION``; ``""``/None for an istiod that filters
            nothing).
        config_labels: the object's ``metadata.labels``.
        is_default_revision: the istiod was installed without a revision, i.e. its revision is
            ``default``; then config labelled ``istio.io/rev: default`` is its own.
        tags: revision tags pointing at this revision. Istio 1.18/1.19 ignore tags here (leave it
            empty to model them); newer releases accept them (``LabelsInRevisionOrTags``).

    Returns:
        True for unlabelled config (every revision processes it), for config labelled with this
        revision (or, when given, one of its tags), and for an istiod without a revision.
    """
    labels = config_labels or {}
    if REV_LABEL not in labels:
        return True
    wanted = labels[REV_LABEL]
    own = revision or (DEFAULT_REVISION if is_default_revision else "")
    if not own:
        return True
    if wanted == own:
        return True
    if is_default_revision and wanted == DEFAULT_REVISION:
        return True
    return wanted in tags


__all__ = ["discovery_selectors", "processes_config", "watches_namespace"]


def follow_tag(mesh_yaml: str, revision: str, tag: str, tag_revision: str) -> str | None:
    """``revision``'s meshConfig with ``tag`` watched exactly when the tag points at it.

    Control planes that scope themselves by revision label (``discoverySelectors`` with
    ``istio.io/rev In [...]``) must list the tags pointing at them too, or namespaces bound to a
    tag are injected by a revision that never programs their sidecars (finding MR110). Each such
    expression gains ``tag`` when ``tag_revision == revision`` and loses it otherwise.

    Returns:
        The new meshConfig YAML, or None when nothing changes (no such expression, or already
        right).
    """
    mesh = load_yaml(mesh_yaml, "meshConfig") or {}
    if not isinstance(mesh, dict):
        return None
    changed = False
    for selector in mesh.get("discoverySelectors") or ():
        for expr in (selector or {}).get("matchExpressions") or ():
            if expr.get("key") != REV_LABEL or expr.get("operator") != "In":
                continue
            values = [str(v) for v in expr.get("values") or ()]
            wanted = [v for v in values if v != tag] + ([tag] if tag_revision == revision else [])
            if wanted != values:
                expr["values"], changed = wanted, True
    return yaml.safe_dump(mesh, sort_keys=False) if changed else None
