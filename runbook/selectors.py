"""Label and field selectors, with the semantics of k8s.io/apimachinery.

Used by both sides: the sandbox filters lists and evaluates webhook selectors with it, the client
evaluates webhook ``namespaceSelector``/``objectSelector`` against namespaces and pods with it.

Two spellings of a label selector exist and both parse into :class:`LabelSelector`:

* the query-string form ``app=details,version in (v1,v2),!canary`` (``labels.Parse``);
* the object form ``{"matchLabels": {...}, "matchExpressions": [...]}``
  (``metav1.LabelSelectorAsSelector``).

Semantics worth remembering: an empty selector matches everything; ``NotIn`` and ``!=`` match
objects that lack the key; ``Gt``/``Lt`` compare integers and fail on non-integers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
_NAME_RE = re.compile(rf"^{_NAME}$")
_DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")
_SET_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


class SelectorError(ValueError):
    """A selector that cannot be parsed; ``field`` names the offending part (for 422 causes)."""

    def __init__(self, message: str, field: str = "") -> None:
        self.field = field
        super().__init__(message)


def label_key_errors(key: str) -> list[str]:
    """Why ``key`` is not a valid label key (empty list when it is)."""
    prefix, slash, name = key.rpartition("/")
    errors = []
    if slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN_RE.match(prefix)):
        errors.append(f"prefix part of {key!r} must be a DNS subdomain")
    if not name or len(name) > 63 or not _NAME_RE.match(name):
        errors.append(
            f"name part of {key!r} must consist of alphanumeric characters, '-', '_' or '.', "
            "and must start and end with an alphanumeric character (max 63 characters)"
        )
    return errors


def label_value_errors(value: str) -> list[str]:
    """Why ``value`` is not a valid label value (empty list when it is)."""
    if value == "":
        return []
    if len(value) > 63 or not _NAME_RE.match(value):
        return [
            f"a valid label value must be an empty string or consist of alphanumeric characters, "
            f"'-', '_' or '.', and must start and end with an alphanumeric character "
            f"(got {value!r})"
        ]
    return []


@dataclass(frozen=True)
class Requirement:
    """One ``key op values`` term of a label selector."""

    key: str
    operator: str  # one of OPERATORS
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator == "In":
            return present and labels[self.key] in self.values
        if self.operator == "NotIn":
            return not present or labels[self.key] not in self.values
        if self.operator == "Exists":
            return present
        if self.operator == "DoesNotExist":
            return not present
        if not present:
            return False
        try:
            have, want = int(labels[self.key]), int(self.values[0])
        except ValueError:
            return False
        return have > want if self.operator == "Gt" else have < want

    def __str__(self) -> str:
        if self.operator == "Exists":
            return self.key
        if self.operator == "DoesNotExist":
            return f"!{self.key}"
        if self.operator in ("Gt", "Lt"):
            return f"{self.key}{'>' if self.operator == 'Gt' else '<'}{self.values[0]}"
        if len(self.values) == 1:
            return f"{self.key}{'=' if self.operator == 'In' else '!='}{self.values[0]}"
        op = "in" if self.operator == "In" else "notin"
        return f"{self.key} {op} ({','.join(self.values)})"


@dataclass(frozen=True)
class LabelSelector:
    """A conjunction of requirements; ``nothing=True`` is the selector that matches nothing."""

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.nothing:
            return False
        labels = labels or {}
        # a loop, not all(generator): this runs per namespace and per pod for every webhook
        for r in self.requirements:  # noqa: SIM110
            if not r.matches(labels):
                return False
        return True

    @cached_property
    def keys(self) -> frozenset[str]:
        """The label keys the selector reads: label sets that agree on these are matched alike."""
        return frozenset(r.key for r in self.requirements)

    @property
    def empty(self) -> bool:
        """True when it matches everything."""
        return not self.nothing and not self.requirements

    def __str__(self) -> str:
        if self.nothing:
            return "<none>"
        return ",".join(str(r) for r in self.requirements) if self.requirements else "<all>"


EVERYTHING = LabelSelector()
NOTHING = LabelSelector(nothing=True)

#: the value :func:`label_values` gives a key the labels do not have (no label value is this)
_ABSENT = object()


def label_values(labels: Mapping[str, str], keys: Iterable[str]) -> tuple[object, ...]:
    """The values of ``keys`` in ``labels`` (a marker where a key is absent): label sets with equal
    values are matched alike by every selector whose :attr:`LabelSelector.keys` are among
    ``keys`` — what lets a caller decide once per distinct value instead of once per object."""
    return tuple([labels.get(key, _ABSENT) for key in keys])


def selector_from_dict(selector: Mapping[str, Any] | None, *, field: str = "selector",
                       nil_matches: bool = False) -> LabelSelector:
    """Parse a ``metav1.LabelSelector`` object.

    Args:
        selector: the object (``matchLabels``/``matchExpressions``); may be None.
        field: path used in error messages, e.g. ``webhooks[0].namespaceSelector``.
        nil_matches: what a missing selector means. Webhooks treat nil as "everything";
            ``LabelSelectorAsSelector`` (services, deployments) treats nil as "nothing".

    Raises:
        SelectorError: an unknown operator, missing/extra values, or invalid keys/values.
    """
    if selector is None:
        return EVERYTHING if nil_matches else NOTHING
    if not isinstance(selector, Mapping):
        raise SelectorError(f"{field}: must be an object", field)
    reqs: list[Requirement] = []
    match_labels = selector.get("matchLabels") or {}
    if not isinstance(match_labels, Mapping):
        raise SelectorError(f"{field}.matchLabels: must be an object", f"{field}.matchLabels")
    for key, value in sorted(match_labels.items()):
        _check_key_value(str(key), [str(value)], f"{field}.matchLabels")
        reqs.append(Requirement(str(key), "In", (str(value),)))
    for i, expr in enumerate(selector.get("matchExpressions") or []):
        where = f"{field}.matchExpressions[{i}]"
        if not isinstance(expr, Mapping):
            raise SelectorError(f"{where}: must be an object", where)
        key = str(expr.get("key", ""))
        op = expr.get("operator")
        values = [str(v) for v in (expr.get("values") or [])]
        if op not in _SET_OPERATORS:
            raise SelectorError(
                f'{where}.operator: Unsupported value: "{op}": supported values: '
                '"In", "NotIn", "Exists", "DoesNotExist"',
                f"{where}.operator",
            )
        if op in ("In", "NotIn") and not values:
            raise SelectorError(
                f"{where}.values: Required value: must be specified when `operator` is "
                "'In' or 'NotIn'",
                f"{where}.values",
            )
        if op in ("Exists", "DoesNotExist") and values:
            raise SelectorError(
                f"{where}.values: Forbidden: may not be specified when `operator` is "
                "'Exists' or 'DoesNotExist'",
                f"{where}.values",
            )
        _check_key_value(key, values, where)
        reqs.append(Requirement(key, str(op), tuple(sorted(set(values)))))
    return LabelSelector(tuple(reqs))


def _check_key_value(key: str, values: Iterable[str], where: str) -> None:
    problems = label_key_errors(key)
    for v in values:
        problems += label_value_errors(v)
    if problems:
        raise SelectorError(f"{where}: Invalid value: {problems[0]}", where)


_TOKEN = re.compile(r"\s*(!=|==|=|!|\(|\)|,|>|<|[^\s!=,()<>]+)")


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse the query-string form (``labels.Parse``).

    Raises:
        SelectorError: with a message that shows where the text is wrong.
    """
    if not text or not text.strip():
        return EVERYTHING
    tokens = _tokenize(text)
    reqs: list[Requirement] = []
    pos = 0

    def expect_values() -> tuple[str, ...]:
        nonlocal pos
        if pos >= len(tokens) or tokens[pos] != "(":
            raise SelectorError(f"unable to parse requirement: expected '(' in {text!r}")
        pos += 1
        vals: list[str] = []
        while pos < len(tokens) and tokens[pos] != ")":
            if tokens[pos] != ",":
                vals.append(tokens[pos])
            pos += 1
        if pos >= len(tokens):
            # labels.Parser.parseValues / parseIdentifiersList: what the lexer wanted at the end
            if tokens[-1] == "(":
                wanted = "',', ')' or identifier"
            elif tokens[-1] == ",":
                wanted = "',', or identifier"
            else:
                wanted = "',' or ')'"
            raise SelectorError(f"unable to parse requirement: found '', expected: {wanted}")
        pos += 1
        return tuple(sorted(set(vals)))

    while pos < len(tokens):
        tok = tokens[pos]
        if tok == "!":
            pos += 1
            if pos >= len(tokens):
                raise SelectorError(f"unable to parse requirement: missing key after '!' in {text!r}")
            reqs.append(Requirement(tokens[pos], "DoesNotExist"))
            pos += 1
        else:
            key = tok
            if key in ("=", "==", "!=", "(", ")", ",", ">", "<"):
                raise SelectorError(f"unable to parse requirement: unexpected {key!r} in {text!r}")
            pos += 1
            nxt = tokens[pos] if pos < len(tokens) else ","
            if nxt == ",":
                reqs.append(Requirement(key, "Exists"))
            elif nxt in ("=", "==", "!="):
                pos += 1
                value = tokens[pos] if pos < len(tokens) and tokens[pos] != "," else ""
                if value:
                    pos += 1
                reqs.append(Requirement(key, "NotIn" if nxt == "!=" else "In", (value,)))
            elif nxt in (">", "<"):
                pos += 1
                if pos >= len(tokens) or not tokens[pos].lstrip("-").isdigit():
                    raise SelectorError(
                        f"unable to parse requirement: {nxt!r} needs an integer in {text!r}")
                reqs.append(Requirement(key, "Gt" if nxt == ">" else "Lt", (tokens[pos],)))
                pos += 1
            elif nxt in ("in", "notin"):
                pos += 1
                reqs.append(Requirement(key, "In" if nxt == "in" else "NotIn", expect_values()))
            else:
                raise SelectorError(f"unable to parse requirement: found {nxt!r} in {text!r}")
        if pos < len(tokens):
            if tokens[pos] != ",":
                raise SelectorError(f"unable to parse requirement: expected ',' in {text!r}")
            pos += 1
    for r in reqs:
        problems = label_key_errors(r.key)
        if r.operator not in ("Gt", "Lt"):
            for v in r.values:
                problems += label_value_errors(v)
        if problems:
            raise SelectorError(f"invalid label selector {text!r}: {problems[0]}")
    return LabelSelector(tuple(reqs))


def _tokenize(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            break
        out.append(m.group(1))
        pos = m.end()
        if not text[pos:].strip():
            break
    return out


# ---------------------------------------------------------------------------- field selectors


@dataclass(frozen=True)
class FieldRequirement:
    """``path op value`` with op ``=`` or ``!=`` (``==`` is ``=``)."""

    field: str
    negate: bool
    value: str

    def matches(self, obj: Mapping[str, Any]) -> bool:
        have = field_value(obj, self.field)
        return (have != self.value) if self.negate else (have == self.value)


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The string value of a dotted path (``status.phase``), ``""`` when missing."""
    return value_at(obj, tuple(path.split(".")))


def value_at(obj: Mapping[str, Any], parts: tuple[str, ...]) -> str:
    """:func:`field_value` of a path already split at its dots (a selector applied to every
    object of a list splits it once)."""
    cur: Any = obj
    for part in parts:
        # objects are plain dicts: the exact type check spares an ABC isinstance per level
        if type(cur) is not dict and not isinstance(cur, Mapping):
            return ""
        cur = cur.get(part)
    if type(cur) is str:
        return cur
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def parse_field_selector(text: str | None) -> tuple[FieldRequirement, ...]:
    """Parse ``metadata.name=x,status.phase!=Running`` (with ``\\,`` ``\\=`` escapes)."""
    if not text or not text.strip():
        return ()
    reqs = []
    for term in _split_unescaped(text, ","):
        term = term.strip()
        if not term:
            continue
        for op in ("!=", "==", "="):
            idx = _find_unescaped(term, op)
            if idx >= 0:
                key = term[:idx].strip()
                value = _unescape(term[idx + len(op):])
                if not key:
                    raise SelectorError(f"invalid field selector {text!r}: empty field name")
                reqs.append(FieldRequirement(key, op == "!=", value))
                break
        else:
            raise SelectorError(f"invalid field selector {text!r}: {term!r} has no operator")
    return tuple(reqs)


def match_fields(obj: Mapping[str, Any], requirements: Iterable[FieldRequirement]) -> bool:
    return all(r.matches(obj) for r in requirements)


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, cur, i = [], "", 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            cur += text[i:i + 2]
            i += 2
            continue
        if text[i] == sep:
            parts.append(cur)
            cur = ""
        else:
            cur += text[i]
        i += 1
    parts.append(cur)
    return parts


def _find_unescaped(text: str, op: str) -> int:
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text.startswith(op, i):
            # "!=" must not be found as "=" preceded by "!"
            if op == "=" and i > 0 and text[i - 1] == "!":
                i += 1
                continue
            return i
        i += 1
    return -1


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)
