"""VirtualService rules that can never apply: IST0130 (VirtualServiceUnreachableRule) and IST0131
(VirtualServiceIneffectiveMatch), by Istio's rule (istio/istio ``pkg/config/validation``,
``analyzeUnreachableHTTPRules`` and its TCP/TLS twins; templates from ``messages.yaml``):

* a rule without ``match`` catches everything: any later rule without ``match`` is unreachable
  ("only the last rule can have no matches"), and so is every later rule with matches ("route
  without matches defined before");
* a match identical to a match of an earlier rule (names aside) is ineffective (IST0131); a rule
  whose matches are all such duplicates is unreachable ("all matches used by prior rules").

Rules are named ``"name"`` when an HTTP rule has a name, else ``#<index>``; matches likewise.
Istio's newer validation also reports *overlapping* (prefix-covered) URI matches as IST0131; only
identical matches are reported here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

#: (level, code, message) of one finding
RuleMessage = tuple[str, str, str]


def _name(item: Mapping[str, Any], index: int, named: bool) -> str:
    name = item.get("name") if named else None
    return json.dumps(name) if isinstance(name, str) and name else f"#{index}"


def _key(match: Any) -> str:
    """A match as routing config only (its ``name`` is a label, not a condition)."""
    if isinstance(match, Mapping):
        match = {a: b for a, b in match.items() if a != "name"}
    return json.dumps(match, sort_keys=True, default=str)


def unreachable_rules(spec: Mapping[str, Any]) -> list[RuleMessage]:
    """IST0130/IST0131 messages for a VirtualService spec's http, tcp and tls rules."""
    out: list[RuleMessage] = []
    for kind in ("http", "tcp", "tls"):
        rules = [r for r in spec.get(kind) or [] if isinstance(r, Mapping)]
        named = kind == "http"
        seen: dict[str, int] = {}
        catch_all = -1
        for n, rule in enumerate(rules):
            matches = rule.get("match") or []
            rule_name = _name(rule, n, named)
            if not matches:
                if catch_all >= 0:
                    out.append(_unreachable(rule_name, "only the last rule can have no matches"))
                catch_all = n
                continue
            if catch_all >= 0:
                out.append(_unreachable(rule_name, "route without matches defined before"))
                continue
            duplicates = 0
            for m, match in enumerate(matches):
                earlier = seen.get(_key(match))
                if earlier is None:
                    seen[_key(match)] = n
                    continue
                duplicates += 1
                out.append(("Info", "IST0131",
                            f"VirtualService rule {rule_name} match "
                            f"{_name(match, m, named) if isinstance(match, Mapping) else f'#{m}'} "
                            f"is not used (duplicate/overlapping match in rule "
                            f"{_name(rules[earlier], earlier, named)})."))
            if duplicates == len(matches):
                out.append(_unreachable(rule_name, "all matches used by prior rules"))
    return out


def _unreachable(rule_name: str, reason: str) -> RuleMessage:
    return ("Warning", "IST0130", f"VirtualService rule {rule_name} not used ({reason}).")
