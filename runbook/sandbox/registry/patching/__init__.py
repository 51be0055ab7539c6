"""The sandbox's patch engines: JSON patch, merge patch, strategic merge patch, server-side apply.

Each engine is a pure function over plain JSON data and behaves like kube-apiserver, including
its error statuses and messages (``PatchError`` carries them; the server turns one into a
``kind: Status`` body). Sources that were read to match the behaviour:

* ``staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go`` — which error becomes which
  status: a JSON patch that cannot be decoded is 400, one that cannot be applied is 422 ``Invalid``
  with the generic message and empty details (the library's message is kept in ``detail``); a
  merge patch that is not an object is 400 ``Invalid JSON Patch``; strategic-merge errors are 400
  for malformed directives, 422 for lists of lists, and 500 (reason Unknown) for everything else.
* ``gopkg.in/evanphx/json-patch.v4`` (``patch.go``/``merge.go``) — the JSON/merge patch semantics
  and messages, quirks included: ``replace`` of a missing object member adds it, negative array
  indices count from the end, ``test`` of ``null`` against a missing member passes. Checked with
  ``kubectl patch --local --type json`` (kubectl 1.32 vendors the same library).
* ``k8s.io/apimachinery/pkg/util/strategicpatch/patch.go`` — ``mergeMap``/``mergeSlice`` and the
  directives ``$patch``, ``$retainKeys``, ``$deleteFromPrimitiveList/``, ``$setElementOrder/``,
  including the element order rules; the merge keys and strategies are the ``patchStrategy`` /
  ``patchMergeKey`` tags of the Go types in ``k8s.io/api`` (table ``_STRUCTS`` in :mod:`.gotypes`).
  Custom resources answer 415 exactly like the apiextensions handler.
* ``k8s.io/apimachinery/pkg/util/managedfields/internal`` and ``sigs.k8s.io/structured-merge-diff``
  — the managedFields entry shape, ``fieldsV1`` encoding (``f:``/``k:``/``v:``/``i:``) and the
  ``Apply failed with N conflict(s)`` message.

Server-side apply is simplified but honest; these are the knowing differences (copy them into
LIMITS):

* Field sets are computed from the JSON, with list semantics from the same Go type table as the
  strategic merge patch: lists with a merge key are associative (keyed by that key, plus
  ``protocol`` — defaulted to ``TCP`` — for container and service ports, as the real list-map keys
  are), ``finalizers`` and other merge lists of scalars are sets, every other list is atomic.
  Custom resources have no list-map information here, so all of their lists are atomic (the real
  server reads ``x-kubernetes-list-type`` from the CRD schema).
* Only leaf fields can conflict; a conflict is a leaf owned by another manager whose value differs.
  Equal values become shared ownership, as in the real server.
* A field the applier owned before and omits now is removed only when no other manager owns it;
  a list element is removed when nobody owns anything inside it any more.
* ``fieldsV1`` of ``Update`` entries (``track_update``) marks ``.`` on list elements and on
  Go-map fields (labels, annotations, data, selectors …) only; the real server also marks pointer
  structs. ``status`` is not tracked for kinds with a status subresource.
* No defaulting, no CEL, no ``x-kubernetes-map-type`` granularity beyond the table.

One module per patch kind: :mod:`.json_patch`, :mod:`.merge_patch`, :mod:`.strategic`,
:mod:`.managed_fields` (server-side apply); :mod:`.gotypes` holds the Go types' patch tags the last
two share, :mod:`.common` the error type and limits, :mod:`.goformat` Go's value formatting.
"""

from runbook.sandbox.registry.patching.common import (
    CUSTOM_RESOURCE_PATCH_TYPES,
    MAX_JSON_PATCH_OPERATIONS,
    JSONDict,
    PatchError,
)
from runbook.sandbox.registry.patching.gotypes import is_builtin
from runbook.sandbox.registry.patching.json_patch import json_patch
from runbook.sandbox.registry.patching.managed_fields import (
    ApplyResult,
    apply_patch,
    conflict_error,
    fields_from_json,
    fields_to_json,
    path_string,
    track_update,
)
from runbook.sandbox.registry.patching.merge_patch import merge_patch
from runbook.sandbox.registry.patching.strategic import strategic_merge_patch

__all__ = [
    "CUSTOM_RESOURCE_PATCH_TYPES",
    "MAX_JSON_PATCH_OPERATIONS",
    "ApplyResult",
    "JSONDict",
    "PatchError",
    "apply_patch",
    "conflict_error",
    "fields_from_json",
    "fields_to_json",
    "is_builtin",
    "json_patch",
    "merge_patch",
    "path_string",
    "strategic_merge_patch",
    "track_update",
]
