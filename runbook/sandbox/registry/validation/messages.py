"""Names and messages: DNS-1123/1035 name rules and ``field.Error`` causes, in kube-apiserver's words."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from runbook.errors import Cause
from runbook.kinds import ResourceKind
from runbook.schema import go_repr

_DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = _DNS1123_LABEL + r"(\." + _DNS1123_LABEL + ")*"
_DNS1035_LABEL = "[a-z]([-a-z0-9]*[a-z0-9])?"
_CONFIG_KEY = "[-._a-zA-Z0-9]+"
_RE_LABEL = re.compile(f"^{_DNS1123_LABEL}$")
_RE_SUBDOMAIN = re.compile(f"^{_DNS1123_SUBDOMAIN}$")
_RE_1035 = re.compile(f"^{_DNS1035_LABEL}$")
_RE_CONFIG_KEY = re.compile(f"^{_CONFIG_KEY}$")
RE_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
RE_IANA_SVC = re.compile(r"^[-a-z0-9]+$")


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """apimachinery ``RegexError`` (the double space before ``or`` is upstream's)."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    text = msg + " (e.g. "
    for i, example in enumerate(examples):
        if i:
            text += " or "
        text += f"'{example}', "
    return text + f"regex used for validation is '{fmt}')"


def dns1123_label_errors(value: str) -> list[str]:
    """``IsDNS1123Label``."""
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not _RE_LABEL.match(value):
        errs.append(regex_error("a lowercase RFC 1123 label must consist of lower case "
                                 "alphanumeric characters or '-', and must start and end with an "
                                 "alphanumeric character", _DNS1123_LABEL, "my-name", "123-abc"))
    return errs


def dns1123_subdomain_errors(value: str) -> list[str]:
    """``IsDNS1123Subdomain``."""
    errs = []
    if len(value) > 253:
        errs.append("must be no more than 253 characters")
    if not _RE_SUBDOMAIN.match(value):
        errs.append(regex_error("a lowercase RFC 1123 subdomain must consist of lower case "
                                 "alphanumeric characters, '-' or '.', and must start and end with "
                                 "an alphanumeric character", _DNS1123_SUBDOMAIN, "example.com"))
    return errs


def dns1035_label_errors(value: str) -> list[str]:
    """``IsDNS1035Label``."""
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not _RE_1035.match(value):
        errs.append(regex_error("a DNS-1035 label must consist of lower case alphanumeric "
                                 "characters or '-', start with an alphabetic character, and end "
                                 "with an alphanumeric character", _DNS1035_LABEL, "my-name",
                                 "abc-123"))
    return errs


def config_key_errors(key: str) -> list[str]:
    errs = []
    if len(key) > 253:
        errs.append("must be no more than 253 characters")
    if not _RE_CONFIG_KEY.match(key):
        errs.append(regex_error("a valid config key must consist of alphanumeric characters, "
                                 "'-', '_' or '.'", _CONFIG_KEY, "key.name", "KEY_NAME",
                                 "key-name"))
    if key in (".", ".."):
        errs.append(f"must not be '{key}'")
    elif key.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def required(path: str, detail: str = "") -> Cause:
    return Cause(path, "FieldValueRequired", "Required value" + (f": {detail}" if detail else ""))


def invalid(path: str, value: Any, detail: str) -> Cause:
    return Cause(path, "FieldValueInvalid", f"Invalid value: {go_repr(value)}: {detail}")


def not_supported(path: str, value: Any, supported: Sequence[str]) -> Cause:
    body = f"Unsupported value: {go_repr(value)}"
    if supported:
        body += ": supported values: " + ", ".join(json.dumps(s) for s in supported)
    return Cause(path, "FieldValueNotSupported", body)


def duplicate(path: str, value: Any) -> Cause:
    return Cause(path, "FieldValueDuplicate", f"Duplicate value: {go_repr(value)}")


def forbidden(path: str, detail: str) -> Cause:
    return Cause(path, "FieldValueForbidden", f"Forbidden: {detail}")


def too_long(path: str, limit: int) -> Cause:
    return Cause(path, "FieldValueTooLong", f"Too long: may not be more than {limit} bytes")


def immutable(path: str, value: Any) -> Cause:
    return invalid(path, value, "field is immutable")


def cause_text(cause: Cause) -> str:
    """``field.Error.Error()``: ``<field>: <body>``."""
    return f"{cause.field}: {cause.message}" if cause.field else cause.message


def invalid_message(kind: ResourceKind | str, name: str, causes: Sequence[Cause]) -> str:
    """The Status message of ``errors.NewInvalid``: ``Deployment.apps "x" is invalid: …``.

    Several causes are listed in brackets, duplicates once (``utilerrors.NewAggregate``).
    """
    if isinstance(kind, ResourceKind):
        qualified = f"{kind.kind}.{kind.group}" if kind.group else kind.kind
    else:
        qualified = kind
    texts: list[str] = []
    for cause in causes:
        text = cause_text(cause)
        if text not in texts:
            texts.append(text)
    if not texts:
        return f"{qualified} {json.dumps(name)} is invalid"
    body = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    return f"{qualified} {json.dumps(name)} is invalid: {body}"
