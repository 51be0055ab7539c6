"""OpenAPI v3 structural-schema validation of custom resources, as kube-apiserver does it.

Both sides use this bottom module: the sandbox validates custom resources on every write, the
client-side analyzer validates manifests against the CRDs of a cluster before applying them.

:func:`validate_against_schema` returns 422-style causes and the unknown fields:

* causes are worded like ``apiextensions-apiserver``'s ``kubeOpenAPIResultToFieldErrors`` over
  kube-openapi's validator (``spec.servers[0].port.number: Invalid value: "string":
  spec.servers[0].port.number in body must be of type integer: "string"``; ``Required value``;
  ``Unsupported value: "x": supported values: …``; ``should match '…'``; ``should be less than or
  equal to …``; ``Too many: 3: must have at most 2 items`` …);
* unknown fields are the paths structural pruning would drop (``spec.hostss``,
  ``spec.http[0].matchh``); the server answers ``strict decoding error: unknown field
  "spec.hostss"`` (400) under ``fieldValidation=Strict`` — kubectl's default — and warns
  otherwise (:func:`strict_decoding_message`, :func:`unknown_field_warning`).
  :func:`prune` removes them, as the server does before storing.

Supported: ``type`` (object/array/string/integer/number/boolean), ``nullable``,
``x-kubernetes-int-or-string``, ``x-kubernetes-preserve-unknown-fields``,
``x-kubernetes-embedded-resource``, ``properties``, ``additionalProperties``, ``items``,
``required``, ``enum``, ``pattern``, ``minimum``/``maximum`` (and exclusive), ``multipleOf``,
``minLength``/``maxLength``, ``minItems``/``maxItems``, ``minProperties``/``maxProperties``,
``oneOf``/``anyOf``/``allOf``/``not`` (value validations over the same node, as structural
schemas allow), formats ``date-time`` and ``byte``. Not supported: CEL rules
(``x-kubernetes-validations``), ``x-kubernetes-list-type`` uniqueness, defaulting. For a failed
``oneOf``/``anyOf``/``not`` only the composite message is reported (kube-openapi adds the errors
of the best-matching branch).

Schemas are compiled once and cached, so validating a typical VirtualService takes tens of
microseconds.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from runbook.errors import Cause

#: ObjectMeta's JSON fields: anything else under ``metadata`` is an unknown field
OBJECT_META_FIELDS = frozenset({
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields",
})
_ROOT_IMPLICIT = frozenset({"apiVersion", "kind", "metadata"})


# ---------------------------------------------------------------------------- Go formatting


def go_float(value: float) -> str:
    """``fmt.Sprintf("%v", f)`` for a float64: shortest digits, exponent form from 1e+06 on."""
    if value == 0:
        return "0"
    if math.isinf(value) or math.isnan(value):
        return {math.inf: "+Inf", -math.inf: "-Inf"}.get(value, "NaN")
    sign, digits, exp = Decimal(repr(value)).normalize().as_tuple()
    text = "".join(map(str, digits))
    point = len(text) + int(exp)  # position of the decimal point
    e = point - 1
    prefix = "-" if sign else ""
    if e < -4 or e >= 6:  # %v uses the shortest precision, and decides with precision 6
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if e < 0 else '+'}{abs(e):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{text}"
    if point >= len(text):
        return prefix + text + "0" * (point - len(text))
    return f"{prefix}{text[:point]}.{text[point:]}"


def go_repr(value: Any) -> str:
    """How ``field.Error`` prints a bad value: ``%q`` for strings, ``%v`` for numbers and bools,
    ``null`` for nil, ``json.Marshal`` (compact, keys sorted: ``{"app":"x"}``) for collections."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


_TYPE_NAMES: dict[type, str] = {type(None): "null", bool: "boolean", int: "integer",
                                float: "number", str: "string", list: "array", dict: "object"}


def _json_type(value: Any) -> str:
    name = _TYPE_NAMES.get(type(value))
    if name is None:  # a subclass (an IntEnum, an OrderedDict): named by the first type it is
        name = next((n for t, n in _TYPE_NAMES.items() if isinstance(value, t)), type(value).__name__)
    return name


# ---------------------------------------------------------------------------- causes


def _invalid(path: str, value: Any, detail: str, reason: str = "FieldValueInvalid") -> Cause:
    return Cause(path, reason, f"Invalid value: {go_repr(value)}: {detail}")


def _body(path: str) -> str:
    return f"{path} in body"


def strict_decoding_message(unknown: list[str]) -> str:
    """The 400 message for unknown fields under ``fieldValidation=Strict``."""
    return "strict decoding error: " + ", ".join(f'unknown field "{p}"' for p in unknown)


def unknown_field_warning(path: str) -> str:
    """The ``Warning:`` header text for one unknown field under ``fieldValidation=Warn``."""
    return f'unknown field "{path}"'


# ---------------------------------------------------------------------------- compiled schema



def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


class _Node:
    """One compiled schema node."""

    __slots__ = ("additional", "all_of", "any_of", "embedded", "enum", "exclusive_max",
                 "exclusive_min", "format", "int_or_string", "items", "max_items", "max_length",
                 "max_properties", "maximum", "min_items", "min_length", "min_properties",
                 "minimum", "multiple_of", "not_", "nullable", "one_of", "pattern",
                 "pattern_text", "preserve", "properties", "required", "simple", "types")

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.int_or_string = bool(schema.get("x-kubernetes-int-or-string"))
        stype = schema.get("type")
        if self.int_or_string:
            self.types: tuple[str, ...] = ("integer", "string")
        elif isinstance(stype, str) and stype:
            self.types = (stype,)
        else:
            self.types = ()
        self.nullable = bool(schema.get("nullable"))
        self.preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
        self.embedded = bool(schema.get("x-kubernetes-embedded-resource"))
        enum = schema.get("enum")
        self.enum: list[Any] | None = list(enum) if isinstance(enum, list) else None
        self.pattern_text: str | None = schema.get("pattern")
        self.pattern: re.Pattern[str] | None = None
        if isinstance(self.pattern_text, str):
            try:
                self.pattern = re.compile(self.pattern_text)
            except re.error:
                self.pattern = None  # an RE2 construct Python lacks: do not guess
        self.minimum = schema.get("minimum")
        self.maximum = schema.get("maximum")
        self.exclusive_min = bool(schema.get("exclusiveMinimum"))
        self.exclusive_max = bool(schema.get("exclusiveMaximum"))
        self.multiple_of = schema.get("multipleOf")
        self.min_length = schema.get("minLength")
        self.max_length = schema.get("maxLength")
        self.min_items = schema.get("minItems")
        self.max_items = schema.get("maxItems")
        self.min_properties = schema.get("minProperties")
        self.max_properties = schema.get("maxProperties")
        self.format: str | None = schema.get("format") if schema.get("format") in (
            "date-time", "byte") else None
        req = schema.get("required")
        self.required: tuple[str, ...] = tuple(req) if isinstance(req, list) else ()
        props = schema.get("properties")
        self.properties: dict[str, _Node] | None = (
            {k: _Node(v) for k, v in props.items() if isinstance(v, Mapping)}
            if isinstance(props, Mapping) else None)
        additional = schema.get("additionalProperties")
        if isinstance(additional, Mapping):
            self.additional: _Node | bool | None = _Node(additional)
        elif isinstance(additional, bool):
            self.additional = additional
        else:
            self.additional = None
        items = schema.get("items")
        self.items: _Node | None = _Node(items) if isinstance(items, Mapping) else None
        self.one_of = [_Node(s) for s in schema.get("oneOf") or [] if isinstance(s, Mapping)]
        self.any_of = [_Node(s) for s in schema.get("anyOf") or [] if isinstance(s, Mapping)]
        self.all_of = [_Node(s) for s in schema.get("allOf") or [] if isinstance(s, Mapping)]
        not_ = schema.get("not")
        self.not_: _Node | None = _Node(not_) if isinstance(not_, Mapping) else None
        # Istio's exclusivity idiom (oneOf of required-only branches and not/anyOf of them) is
        # decided without building error lists: the hot path of VirtualService validation.
        constraints = {k for k in schema if k not in ("required", "oneOf", "anyOf", "allOf",
                                                       "not", "description")}
        self.simple = not constraints and all(
            n.simple for n in (*self.one_of, *self.any_of, *self.all_of,
                               *((self.not_,) if self.not_ is not None else ())))

    # -- validation -----------------------------------------------------------------------

    def validate(self, value: Any, path: str, errs: list[Cause], unknown: list[str] | None
                 ) -> None:
        if value is None:
            if not self.nullable and self.types:
                errs.append(_invalid(path, "null", f"{_body(path)} must be of type "
                                     f"{','.join(self.types)}: \"null\"",
                                     "FieldValueTypeInvalid"))
            return
        actual = _json_type(value)
        if self.types and not self._type_ok(actual, value):
            errs.append(_invalid(path, actual, f"{_body(path)} must be of type "
                                 f"{','.join(self.types)}: {json.dumps(actual)}",
                                 "FieldValueTypeInvalid"))
            return
        if self.enum is not None and not any(_json_equal(value, e) for e in self.enum):
            supported = ", ".join(json.dumps(e if isinstance(e, str) else
                                             json.dumps(e, separators=(",", ":")))
                                  for e in self.enum)
            errs.append(Cause(path, "FieldValueNotSupported",
                              f"Unsupported value: {go_repr(value)}: supported values: {supported}"))
        if actual == "string":
            self._string(value, path, errs)
        elif actual in ("integer", "number"):
            self._number(value, path, errs)
        elif actual == "array":
            self._array(value, path, errs, unknown)
        elif actual == "object":
            self._object(value, path, errs, unknown)
        if self.one_of or self.any_of or self.all_of or self.not_ is not None:
            self._composition(value, path, errs)

    def _type_ok(self, actual: str, value: Any) -> bool:
        if actual in self.types:
            return True
        if actual == "number" and "integer" in self.types and float(value).is_integer():
            return True
        return actual == "integer" and "number" in self.types

    def _string(self, value: str, path: str, errs: list[Cause]) -> None:
        if self.max_length is not None and len(value) > self.max_length:
            errs.append(Cause(path, "FieldValueTooLong",
                              f"Too long: may not be more than {self.max_length} bytes"))
        if self.min_length is not None and len(value) < self.min_length:
            errs.append(_invalid(path, value, f"{_body(path)} should be at least "
                                 f"{self.min_length} chars long"))
        if self.pattern is not None and not self.pattern.search(value):
            errs.append(_invalid(path, value, f"{_body(path)} should match '{self.pattern_text}'"))
        if self.format == "date-time" and not _is_date_time(value):
            errs.append(_invalid(path, value, f"{_body(path)} must be of type date-time: "
                                 f"{json.dumps(value)}", "FieldValueTypeInvalid"))
        elif self.format == "byte" and not _is_base64(value):
            errs.append(_invalid(path, value, f"{_body(path)} must be of type byte: "
                                 f"{json.dumps(value)}", "FieldValueTypeInvalid"))

    def _number(self, value: float, path: str, errs: list[Cause]) -> None:
        if self.maximum is not None:
            if self.exclusive_max and value >= self.maximum:
                errs.append(_invalid(path, value, f"{_body(path)} should be less than "
                                     f"{go_float(float(self.maximum))}"))
            elif value > self.maximum:
                errs.append(_invalid(path, value, f"{_body(path)} should be less than or equal "
                                     f"to {go_float(float(self.maximum))}"))
        if self.minimum is not None:
            if self.exclusive_min and value <= self.minimum:
                errs.append(_invalid(path, value, f"{_body(path)} should be greater than "
                                     f"{go_float(float(self.minimum))}"))
            elif value < self.minimum:
                errs.append(_invalid(path, value, f"{_body(path)} should be greater than or "
                                     f"equal to {go_float(float(self.minimum))}"))
        if self.multiple_of and (value / self.multiple_of) % 1:
            errs.append(_invalid(path, value, f"{_body(path)} should be a multiple of "
                                 f"{go_float(float(self.multiple_of))}"))

    def _array(self, value: list[Any], path: str, errs: list[Cause],
               unknown: list[str] | None) -> None:
        if self.max_items is not None and len(value) > self.max_items:
            errs.append(Cause(path, "FieldValueTooMany",
                              f"Too many: {len(value)}: must have at most {self.max_items} items"))
        if self.min_items is not None and len(value) < self.min_items:
            errs.append(_invalid(path, len(value), f"{_body(path)} should have at least "
                                 f"{self.min_items} items"))
        if self.items is not None:
            for i, item in enumerate(value):
                self.items.validate(item, f"{path}[{i}]", errs, unknown)

    def _object(self, value: dict[str, Any], path: str, errs: list[Cause],
                unknown: list[str] | None) -> None:
        for name in self.required:
            if name not in value:
                errs.append(Cause(_child(path, name), "FieldValueRequired", "Required value"))
        if self.max_properties is not None and len(value) > self.max_properties:
            errs.append(Cause(path, "FieldValueTooMany", f"Too many: {len(value)}: must have at "
                              f"most {self.max_properties} items"))
        if self.min_properties is not None and len(value) < self.min_properties:
            errs.append(_invalid(path, len(value), f"{_body(path)} should have at least "
                                 f"{self.min_properties} properties"))
        props = self.properties
        additional = self.additional
        for name, child in value.items():
            if self.embedded and name in _ROOT_IMPLICIT:
                # apiVersion/kind/metadata follow ObjectMeta rules whatever the CRD declares
                # (kubebuilder CRDs declare `metadata: {type: object}`; the apiserver ignores it)
                if name == "metadata" and unknown is not None:
                    _unknown_meta(child, _child(path, name), unknown)
                continue
            node = props.get(name) if props is not None else None
            if node is not None:
                node.validate(child, _child(path, name), errs, unknown)
            elif isinstance(additional, _Node):
                additional.validate(child, _child(path, name), errs, unknown)
            elif unknown is not None and not self.preserve and additional is not True:
                unknown.append(_child(path, name))

    def _composition(self, value: Any, path: str, errs: list[Cause]) -> None:
        quoted = f'"{path}"'
        if self.all_of:
            for node in self.all_of:
                node.validate(value, path, errs, None)
        if self.one_of:
            valid = sum(1 for node in self.one_of if node.accepts(value, path))
            if valid != 1:
                extra = "Found none valid" if valid == 0 else f"Found {valid} valid alternatives"
                errs.append(_composite(f"{quoted} must validate one and only one schema "
                                       f"(oneOf). {extra}"))
        if self.any_of and not any(node.accepts(value, path) for node in self.any_of):
            errs.append(_composite(f"{quoted} must validate at least one schema (anyOf)"))
        if self.not_ is not None and self.not_.accepts(value, path):
            errs.append(_composite(f"{quoted} must not validate the schema (not)"))

    def accepts(self, value: Any, path: str) -> bool:
        if self.simple:
            return self._accepts_simple(value)
        errs: list[Cause] = []
        self.validate(value, path, errs, None)
        return not errs

    def _accepts_simple(self, value: Any) -> bool:
        if self.required and isinstance(value, dict):
            for name in self.required:
                if name not in value:
                    return False
        if self.all_of and not all(n._accepts_simple(value) for n in self.all_of):
            return False
        if self.one_of and sum(1 for n in self.one_of if n._accepts_simple(value)) != 1:
            return False
        if self.any_of and not any(n._accepts_simple(value) for n in self.any_of):
            return False
        return self.not_ is None or not self.not_._accepts_simple(value)

    # -- pruning --------------------------------------------------------------------------

    def prune(self, value: Any) -> Any:
        if isinstance(value, dict):
            if self.preserve and self.properties is None and not isinstance(self.additional,
                                                                            _Node):
                return value
            out: dict[str, Any] = {}
            for name, child in value.items():
                node = self.properties.get(name) if self.properties is not None else None
                if node is not None:
                    out[name] = node.prune(child)
                elif isinstance(self.additional, _Node):
                    out[name] = self.additional.prune(child)
                elif self.embedded and name in _ROOT_IMPLICIT:
                    out[name] = _prune_meta(child) if name == "metadata" else child
                elif self.preserve or self.additional is True:
                    out[name] = child
            return out
        if isinstance(value, list) and self.items is not None:
            return [self.items.prune(v) for v in value]
        return value


def _composite(message: str) -> Cause:
    # A composite (oneOf/anyOf/not) error is no *Validation: the apiserver reports it on a nil
    # path with an empty value, which prints as "<nil>: Invalid value: \"\": …".
    return Cause("<nil>", "FieldValueInvalid", f'Invalid value: "": {message}')


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b)


_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?$")


def _is_date_time(value: str) -> bool:
    if not _DATE_TIME.match(value):
        return False
    try:
        datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00").replace(" ", "T"))
    except ValueError:
        return False
    return True


def _is_base64(value: str) -> bool:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _unknown_meta(meta: Any, path: str, unknown: list[str]) -> None:
    if isinstance(meta, dict):
        unknown.extend(_child(path, k) for k in meta if k not in OBJECT_META_FIELDS)


def _prune_meta(meta: Any) -> Any:
    if isinstance(meta, dict):
        return {k: v for k, v in meta.items() if k in OBJECT_META_FIELDS}
    return meta


# ---------------------------------------------------------------------------- cache and API

_CACHE: dict[int, tuple[Mapping[str, Any], _Node]] = {}
_CACHE_SIZE = 64


def compile_schema(schema: Mapping[str, Any]) -> _Node:
    """The compiled form of an ``openAPIV3Schema`` (cached per schema object)."""
    hit = _CACHE.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    node = _Node(schema)
    node.embedded = True  # the root carries apiVersion/kind/metadata implicitly
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[id(schema)] = (schema, node)
    return node


def validate_against_schema(obj: Mapping[str, Any], schema: Mapping[str, Any], *,
                            strict_unknown: bool) -> tuple[list[Cause], list[str]]:
    """Validate a custom resource against its version's ``openAPIV3Schema``.

    Args:
        obj: the custom resource (apiVersion, kind, metadata, spec …).
        schema: ``spec.versions[].schema.openAPIV3Schema`` of its CRD.
        strict_unknown: also collect unknown fields (needed for ``fieldValidation=Strict`` and
            ``Warn``); with False the list is empty (``Ignore``: they are just pruned).

    Returns:
        ``(causes, unknown)``: 422 causes (empty when valid) and the dotted paths of fields the
        schema does not know (``spec.hostss``), in document order.
    """
    node = compile_schema(schema)
    errs: list[Cause] = []
    unknown: list[str] | None = [] if strict_unknown else None
    node.validate(dict(obj), "", errs, unknown)
    return errs, unknown or []


def prune(obj: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``obj`` without the fields structural pruning drops."""
    pruned = compile_schema(schema).prune(dict(obj))
    return pruned if isinstance(pruned, dict) else dict(obj)


def version_schema(crd: Mapping[str, Any], version: str) -> Mapping[str, Any] | None:
    """``openAPIV3Schema`` of ``version`` in a CRD (None when absent)."""
    for entry in (crd.get("spec") or {}).get("versions") or []:
        if isinstance(entry, Mapping) and entry.get("name") == version:
            schema = (entry.get("schema") or {}).get("openAPIV3Schema")
            return schema if isinstance(schema, Mapping) else None
    return None


__all__ = [
    "OBJECT_META_FIELDS",
    "compile_schema",
    "go_float",
    "go_repr",
    "prune",
    "strict_decoding_message",
    "unknown_field_warning",
    "validate_against_schema",
    "version_schema",
]
