"""Masking secrets in executed notebooks before anything is written or exported.

Reports leave the machine they were made on, so nothing secret may reach them. papermill keeps the
parameters in two places (the injected cell's source and ``metadata.papermill.parameters`` —
papermill#271, #416, #706; nbconvert's TagRemovePreprocessor would only drop the cell), tracebacks
quote source lines and exception messages, and a notebook can print anything, a kubeconfig
included. So the masker walks the *whole* notebook — cell sources, every text-like output
(``text/*``, JSON, SVG, error name/value/traceback), cell and notebook metadata — and replaces:

* every secret value it knows exactly: tokens, passwords, client keys and certificates (and the
  files ``client-key``/``tokenFile`` point to) of every user and cluster in the kubeconfigs used,
  plus the values of parameters whose names say they are secret (``token``, ``password`` …);
* generic shapes: PEM blocks, base64-encoded PEM (``LS0tLS1CRUdJTi…``), ``Authorization:``
  headers, ``Bearer …``, ``token``/``password``/``client-key-data``-style keys with their values in
  YAML, JSON, Python reprs and ``key=value`` text, and everything :mod:`runbook.redaction`
  recognises by value (JWTs, ``ghp_``/``xox…``/AWS keys, credentials and ``access_token=`` in
  URLs, custom request header values, high-entropy strings).

Known values are replaced with ``[masked]`` wherever they occur; patterns keep the key and the scheme
(``Authorization: Bearer [masked]``) so the reader still sees *what* was there.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from nbconvert.preprocessors import Preprocessor

# which names hold secrets is defined once, next to the audit trail's redaction
from runbook.errors import InputLimitExceeded
from runbook.markup import escape_html, escape_markdown
from runbook.redaction import is_secret_name, redact_text
from runbook.safeload import load_yaml

MASK = "[masked]"

# Values shorter than this are not masked by exact match: a 3-letter "password" would blank out
# every occurrence of a common word. Such values are still caught by the key/value patterns.
MIN_EXACT_LENGTH = 6

# Outputs that are binary (base64 images): never rewritten, a regex could only corrupt them.
_BINARY_MIMETYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf")

_SECRET_KEYS = (
    r"client[-_]key[-_]data|client[-_]certificate[-_]data|certificate[-_]authority[-_]data"
    r"|id[-_]token|refresh[-_]token|access[-_]token|client[-_]secret|api[-_]?key|token|password"
    r"|passwd|secret"
)
_NOT_MASKED = r"(?!\[masked\]|None\b|null\b|\"\"|''|~)"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # PEM blocks, also when the newlines are escaped (JSON text, Python reprs)
    (re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.S),
     r"-----BEGIN \1-----" + MASK + r"-----END \1-----"),
    # a PEM block cut off before its END line (a truncated print)
    (re.compile(r"(-----BEGIN ([A-Z0-9 ]+)-----)(?!\[masked\])(?:[A-Za-z0-9+/=\s]|\\n)+"),
     r"\1" + MASK),
    # base64 of "-----BEGIN": *-data fields of kubeconfigs, caBundles
    (re.compile(r"LS0tLS1CRUdJTi[A-Za-z0-9+/=]{8,}"), MASK),
    # Authorization headers in HTTP dumps, dict reprs and JSON
    (re.compile(r"(?i)(\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)"
                r"(?:(bearer|basic|token|negotiate|digest)\s+)?" + _NOT_MASKED + r"[^\s\"',}]+"),
     r"\1\2 " + MASK),
    (re.compile(r"(?i)(\bbearer\s+)" + _NOT_MASKED + r"[\w.~+/=-]{8,}"), r"\1" + MASK),
    # token: x / "password": "x" / client-key-data=x / --token=x
    (re.compile(r"(?i)((?<![A-Za-z0-9])(?:" + _SECRET_KEYS + r")[\"']?\s*[:=]\s*[\"']?)"
                + _NOT_MASKED + r"[^\s\"',}\]]+"),
     r"\1" + MASK),
    (re.compile(r"(?i)(--(?:token|password)[= ])" + _NOT_MASKED + r"\S+"), r"\1" + MASK),
)
_AUTH_FIXUP = re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?) \[masked\]")


class SecretMasker:
    """Replaces known secret values and secret-shaped text with ``[masked]``.

    Args:
        values: secret values known exactly (shorter than ``MIN_EXACT_LENGTH`` ones are skipped).
    """

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._regex: re.Pattern[str] | None = None
        self.add(values)

    @property
    def values(self) -> frozenset[str]:
        """The exact values this masker replaces (including their escaped spellings)."""
        return frozenset(self._values)

    def add(self, values: Iterable[str]) -> None:
        """Add exact secret values; their HTML-, JSON- and repr-escaped spellings are added too."""
        for value in values:
            if not isinstance(value, str):
                continue
            value = value.strip()
            if len(value) < MIN_EXACT_LENGTH:
                continue
            spellings = {value, html.escape(value), html.escape(value, quote=False), json.dumps(value)[1:-1],
                         repr(value)[1:-1], escape_html(value), escape_markdown(value)}
            # a multi-line secret (a PEM file) is also printed line by line
            spellings.update(line.strip() for line in value.splitlines()
                             if len(line.strip()) >= MIN_EXACT_LENGTH and "-----" not in line)
            self._values.update(s for s in spellings if len(s) >= MIN_EXACT_LENGTH)
        # longest first, so that a value never leaves a tail of a longer one behind
        ordered = sorted(self._values, key=len, reverse=True)
        self._regex = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def mask_known(self, text: str) -> str:
        """Replace only the exactly known values (safe on any text, HTML included)."""
        if self._regex is None or not text:
            return text
        return self._regex.sub(MASK, text)

    def mask(self, text: str) -> str:
        """Replace known values, then secret-shaped text (:func:`runbook.redaction.redact_text`:
        token shapes, URL credentials, custom header values, high-entropy strings, and here also
        PEM blocks, ``Authorization`` headers and ``key: value`` pairs)."""
        if not text:
            return text
        text = self.mask_known(text)
        # whole PEM blocks and Authorization values first: the value shapes would cut them up
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        # "Authorization: [masked]" without a scheme must not gain a stray space
        return redact_text(_AUTH_FIXUP.sub(r"\1" + MASK, text), MASK)

    def mask_data(self, data: Any) -> Any:
        """Mask every string inside nested dicts/lists (keys stay; binary image data is skipped)."""
        if isinstance(data, str):
            return self.mask(data)
        if isinstance(data, dict):
            out: dict[Any, Any] = type(data)()  # keeps NotebookNode attribute access
            for key, value in data.items():
                if key in _BINARY_MIMETYPES:
                    out[key] = value
                elif isinstance(value, str) and is_secret_name(str(key)) and value:
                    out[key] = MASK  # a field named like a secret is masked whatever its shape
                else:
                    out[key] = self.mask_data(value)
            return out
        if isinstance(data, list):
            return [self.mask_data(item) for item in data]
        return data

    def mask_notebook(self, nb: Any) -> Any:
        """Mask a notebook (an ``nbformat.NotebookNode``) in place and return it."""
        nb.metadata = self.mask_data(nb.metadata)
        for cell in nb.cells:
            cell.source = self.mask(cell.source)
            cell.metadata = self.mask_data(cell.metadata)
            if "attachments" in cell:
                cell.attachments = self.mask_data(cell.attachments)
            for output in cell.get("outputs", []):
                for key in list(output.keys()):
                    output[key] = self.mask_data(output[key])
        return nb


class MaskSecretsPreprocessor(Preprocessor):
    """nbconvert preprocessor running :class:`SecretMasker` over the whole notebook.

    Unlike a per-cell preprocessor it also covers the notebook metadata, where papermill records
    the parameters.
    """

    def __init__(self, masker: SecretMasker, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.masker = masker

    def preprocess(self, nb: Any, resources: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        return self.masker.mask_notebook(nb), resources


# ---------------------------------------------------------------------------- kubeconfigs

#: kubeconfig user fields that hold a secret inline / name a file holding one
_USER_SECRET_FIELDS = ("token", "password", "client-key-data", "client-certificate-data")
_USER_SECRET_FILES = ("tokenFile", "client-key")


def kubeconfig_secrets(paths: Iterable[str | Path]) -> set[str]:
    """Every secret value in the given kubeconfigs, for :class:`SecretMasker`.

    Collected for *all* users and clusters, not only the context used: a notebook that prints the
    file prints all of them. Covers ``token``, ``password``, ``client-key-data``,
    ``client-certificate-data``, ``certificate-authority-data`` (and their base64-decoded PEM), the
    contents of ``tokenFile`` and ``client-key`` files, auth-provider ``config`` values and exec
    plugin ``env`` values. Unreadable files are skipped (the run itself reports them).
    """
    found: set[str] = set()
    for path in paths:
        file = Path(path).expanduser()
        data = _load_yaml(file)
        for entry in data.get("users") or []:
            user = (entry or {}).get("user") or {}
            if not isinstance(user, dict):
                continue
            for key in _USER_SECRET_FIELDS:
                _add_value(found, user.get(key))
            for key in _USER_SECRET_FILES:
                _add_file(found, user.get(key), file.parent)
            provider = user.get("auth-provider") or {}
            for value in ((provider.get("config") or {}) if isinstance(provider, dict) else {}).values():
                _add_value(found, value)
            exec_ = user.get("exec") or {}
            for env in (exec_.get("env") or []) if isinstance(exec_, dict) else []:
                if isinstance(env, dict):
                    _add_value(found, env.get("value"))
        for entry in data.get("clusters") or []:
            cluster = (entry or {}).get("cluster") or {}
            if isinstance(cluster, dict):
                _add_value(found, cluster.get("certificate-authority-data"))
    return found


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = load_yaml(path.read_bytes(), str(path))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, InputLimitExceeded):
        return {}
    return data if isinstance(data, dict) else {}


def _add_value(found: set[str], value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        return
    found.add(value.strip())
    # *-data fields are base64: the decoded PEM can be printed too
    with contextlib.suppress(ValueError, UnicodeDecodeError):
        decoded = base64.b64decode(value.strip(), validate=True).decode()
        if decoded.strip():
            found.add(decoded.strip())


def _add_file(found: set[str], path: Any, base: Path) -> None:
    if not isinstance(path, str) or not path:
        return
    # relative paths in a kubeconfig are relative to the kubeconfig file (kubectl's rule)
    file = base / Path(path).expanduser()
    with contextlib.suppress(OSError, UnicodeDecodeError):
        text = file.read_text().strip()
        if text and len(text) < 1_000_000:
            found.add(text)


__all__ = [
    "MASK",
    "MaskSecretsPreprocessor",
    "SecretMasker",
    "is_secret_name",
    "kubeconfig_secrets",
]
