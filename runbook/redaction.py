"""What counts as a secret — by name and by value — and objects and text with it taken out.

Defined once for every side that needs it: the report masker (``runbook.report.masking``) masks
notebook text, the audit trail (``runbook.audit``) keeps copies of the objects a fix changed, and
the probe shows the URL it measured. A Secret's data, a container's ``DB_PASSWORD`` given as a
literal value, a ``ghp_…`` token planted in a ConfigMap, a ``postgres://user:pass@`` URL in an
env value, an ``access_token=`` query parameter — or kubectl's ``last-applied-configuration``
copy of any of them — must not be written to an append-only file or a report.

Names alone miss most real secrets (``AWS_SECRET_ACCESS_KEY``, ``DATABASE_URL``, ``GITHUB_PAT``,
``SLACK_WEBHOOK``, ``MYTOKEN`` …), so values are recognised too (:data:`SECRET_VALUES`): the
shapes of well-known tokens, credentials in URLs, secret-named query parameters, and long
high-entropy strings of mixed case and digits (what generated keys look like; Kubernetes names
are lower case and UIDs are short hexadecimal groups, so neither is mistaken for one).
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections import Counter
from typing import Any

#: parameter / key / variable names whose values are secret (case-insensitive, ``-``/``_`` alike):
#: a secret word at the end (``DB_PASSWORD``, ``MYTOKEN``), a ``pat``/``key`` of a known kind
#: (``GITHUB_PAT``, ``AWS_SECRET_ACCESS_KEY``), or one of the credential fields of kubeconfigs
SECRET_NAME = re.compile(
    r"(?i)^(?:.*[-_])?(?:api[-_]?key|private[-_]?key|credentials?|pat|auth(?:orization)?"
    r"|(?:secret|access)[-_]?(?:access[-_]?)?key"
    r"|client[-_]key[-_]data|client[-_]certificate[-_]data|certificate[-_]authority[-_]data)$"
    r"|^.*(?:token|password|passwd|pwd|secret)$"
)
REDACTED = "[redacted]"
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

#: query parameter names whose values are credentials (``?access_token=…&api_key=…``)
_SECRET_QUERY = (r"access[-_]?token|id[-_]?token|refresh[-_]?token|token|api[-_]?key|apikey|key"
                 r"|secret|client[-_]?secret|password|passwd|pwd|sig|signature|auth|code")

#: (pattern, replacement) pairs; ``{mask}`` in a replacement is the marker of the caller
SECRET_VALUES: tuple[tuple[re.Pattern[str], str], ...] = (
    # JWTs (service account tokens, OIDC): base64url JSON header and payload ('{"' is "eyJ")
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), "{mask}"),
    # GitHub, Slack, AWS, GitLab, Google, Stripe-style tokens by their documented prefixes
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"
                r"|xox[abposr]-[A-Za-z0-9-]{10,}|(?:AKIA|ASIA)[A-Z0-9]{16}|glpat-[A-Za-z0-9_-]{20,}"
                r"|AIza[A-Za-z0-9_-]{35}|[rs]k_live_[A-Za-z0-9]{16,})\b"), "{mask}"),
    # Slack incoming-webhook URLs: the path is the credential
    (re.compile(r"(https://hooks\.slack\.com/services/)[A-Za-z0-9/_-]+"), r"\1{mask}"),
    # user:password@ in URLs (postgres://app:pw@db, https://u:p@host)
    (re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@\"'<>]+:)(?!\[)[^/\s@\"'<>]+(@)"),
     r"\1{mask}\2"),
    # secret-named query parameters
    (re.compile(r"(?i)([?&;](?:" + _SECRET_QUERY + r")=)(?!\[)[^&#\s\"'<>]+"), r"\1{mask}"),
)
#: candidate runs for the entropy test: base64 without "-", which Kubernetes names are full of
_TOKEN_RUN = re.compile(r"[A-Za-z0-9+/=_]{24,}")
#: how close to the most a run of its length can have (log2 of its length) a run's entropy per
#: character must be to be taken for a generated key: random base64 of 24–60 characters scores
#: 0.88–0.97, AWS's documented example secret key 0.876, "Deployment/l7-traffic-alpha" 0.80
ENTROPY_RATIO = 0.85


#: request headers whose values say nothing secret; every other header value a probe was given
#: (``X-Api-Key``, ``X-Tenant-Auth``, a cookie) is masked where it is shown
PLAIN_HEADERS = frozenset({"host", "accept", "accept-encoding", "accept-language", "user-agent",
                           "content-type", "content-length", "connection", "cache-control"})
#: ``headers={…}`` / ``"headers": {…}`` (code and JSON), and curl's ``-H 'Name: value'``
_HEADERS_DICT = re.compile(r"""(?i)(\bheaders["']?\s*[=:]\s*\{)([^{}]*)(\})""")
_HEADER_ITEM = re.compile(r"""(["'])([A-Za-z0-9_-]+)\1(\s*:\s*)(["'])((?:(?!\4).)*)\4""")
_CURL_HEADER = re.compile(r"""((?<![\w-])(?:-H|--header)\s*["']?)([A-Za-z0-9_-]+)(:\s*)([^"'\n]*)""")


def redact_text(text: str, mask: str = REDACTED) -> str:
    """``text`` with secret-shaped values and custom request header values replaced by ``mask``."""
    if not text:
        return text
    for pattern, replacement in SECRET_VALUES:
        text = pattern.sub(replacement.replace("{mask}", mask), text)
    text = _HEADERS_DICT.sub(lambda m: m.group(1) + _HEADER_ITEM.sub(
        lambda h: h.group(0) if _plain(h.group(2), h.group(5), mask) else
        f"{h.group(1)}{h.group(2)}{h.group(1)}{h.group(3)}{h.group(4)}{_scheme(h.group(5))}{mask}"
        f"{h.group(4)}", m.group(2)) + m.group(3), text)
    text = _CURL_HEADER.sub(lambda h: h.group(0) if _plain(h.group(2), h.group(4), mask)
                            else h.group(1) + h.group(2) + h.group(3) + _scheme(h.group(4)) + mask,
                            text)
    return _TOKEN_RUN.sub(lambda m: mask if looks_generated(m.group()) else m.group(), text)


def _plain(name: str, value: str, mask: str) -> bool:
    return name.lower() in PLAIN_HEADERS or value.endswith(mask)


#: an Authorization value's scheme stays visible: the reader sees *what* was sent
_AUTH_SCHEME = re.compile(r"(?i)^(?:bearer|basic|token|negotiate|digest)\s+")


def _scheme(value: str) -> str:
    found = _AUTH_SCHEME.match(value)
    return found.group() if found else ""


def looks_generated(run: str) -> bool:
    """Whether ``run`` looks like a generated key: upper, lower and digits, high entropy."""
    if not (any(c.isupper() for c in run) and any(c.islower() for c in run)
            and any(c.isdigit() for c in run)):
        return False
    counts = Counter(run)
    bits = -sum(n / len(run) * math.log2(n / len(run)) for n in counts.values())
    return bits >= ENTROPY_RATIO * math.log2(len(run))


def redact_url(url: str, mask: str = REDACTED) -> str:
    """A URL as it may be shown: credentials in it (user info, secret query values) masked."""
    return redact_text(url, mask)


def is_secret_name(name: str) -> bool:
    """Whether a parameter, key or variable called ``name`` holds a secret (``DB_PASSWORD`` …)."""
    return bool(SECRET_NAME.match(name))


def redact_object(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    """A copy of a Kubernetes object without secret values (structure and names kept).

    * a Secret's ``data`` and ``stringData`` values;
    * ``{"name": <secret-looking>, "value": "…"}`` pairs anywhere (container ``env``), and any
      key named like a secret (a ConfigMap's ``data.API_TOKEN``);
    * secret-shaped text in every other string (:func:`redact_text`): a token planted in a
      ConfigMap's mesh config, a password in an env value's URL, an annotation holding a key;
    * the same inside kubectl's ``last-applied-configuration`` annotation (a JSON copy).
    """
    if obj is None:
        return None
    out = copy.deepcopy(obj)
    _redact(out)
    annotations = (out.get("metadata") or {}).get("annotations") or {}
    raw = annotations.get(_LAST_APPLIED)
    if isinstance(raw, str):
        try:
            applied = json.loads(raw)
        except ValueError:
            annotations[_LAST_APPLIED] = REDACTED  # cannot look inside: keep nothing
        else:
            if isinstance(applied, dict):
                _redact(applied)
            annotations[_LAST_APPLIED] = json.dumps(applied, separators=(",", ":"))
    return out


def _redact(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("kind") == "Secret":
            for key in ("data", "stringData"):
                if isinstance(node.get(key), dict):
                    node[key] = dict.fromkeys(node[key], REDACTED)
        name = node.get("name")
        if isinstance(name, str) and isinstance(node.get("value"), str) and is_secret_name(name):
            node["value"] = REDACTED
        for key, value in node.items():
            if isinstance(value, str):
                if key != _LAST_APPLIED:  # parsed and redacted as JSON by redact_object
                    node[key] = (REDACTED if is_secret_name(str(key)) and value
                                 else redact_text(value))
            else:
                _redact(value)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            if isinstance(item, str):
                node[i] = redact_text(item)
            else:
                _redact(item)


__all__ = [
    "ENTROPY_RATIO",
    "PLAIN_HEADERS",
    "REDACTED",
    "SECRET_NAME",
    "SECRET_VALUES",
    "is_secret_name",
    "looks_generated",
    "redact_object",
    "redact_text",
    "redact_url",
]
