"""Which CA each webhook trusts (``clientConfig.caBundle``), against the CA its istiod serves with.

The apiserver verifies a webhook's serving certificate with the configuration's ``caBundle``; a
bundle that did not sign istiod's certificate fails every call with ``x509: certificate signed by
unknown authority``. The snapshot holds no certificate of istiod's (its Secret is not read, and
only a trust anchor is ever public), so the reference is what the other callers of the same
Service trust: the bundle of the revision's own injector configuration (the one istiod's webhook
controller patches), else a bundle most configurations calling that Service agree on. A tag copied
from another cluster, a caBundle pasted by hand, or istiod's CA rotated while a tag kept the old
bundle all show as one configuration disagreeing with the others.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from runbook import kinds as k
from runbook.mesh.model import MUTATING, VALIDATING, MeshModel, Webhook, meta

if TYPE_CHECKING:
    from cryptography import x509

#: what an unparsable or absent bundle is called in messages
NO_BUNDLE = "no caBundle (the apiserver's own trust roots)"


@dataclass(frozen=True)
class TrustMismatch:
    """A webhook whose caBundle differs from the one its target's other callers trust.

    Attributes:
        webhook: the disagreeing webhook.
        bundle, reference: the two caBundles (base64, as stored; "" when absent).
        reference_from: the webhook whose bundle is the reference.
    """

    webhook: Webhook
    bundle: str
    reference: str
    reference_from: Webhook


def copy_command(mismatches: list[TrustMismatch]) -> str:
    """The kubectl command that gives one configuration's disagreeing webhooks the reference
    bundle (removes theirs when the reference has none)."""
    w = mismatches[0].webhook
    resource = w.kind.lower()
    if not mismatches[0].reference:
        ops = [{"op": "remove", "path": f"/webhooks/{m.webhook.index}/clientConfig/caBundle"}
               for m in mismatches]
        return (f"kubectl patch {resource} {w.configuration} --type=json -p "
                f"'{json.dumps(ops, separators=(',', ':'))}'")
    # the bundle is copied by the shell, not pasted: it is kilobytes long
    ops_text = ",".join(
        f'{{\\"op\\":\\"replace\\",\\"path\\":\\"/webhooks/{m.webhook.index}/clientConfig/caBundle\\",'
        f'\\"value\\":\\"$(kubectl get {m.reference_from.kind.lower()} '
        f"{m.reference_from.configuration} -o jsonpath='{{.webhooks[{m.reference_from.index}]"
        f".clientConfig.caBundle}}')\\\"}}"
        for m in mismatches)
    return f'kubectl patch {resource} {w.configuration} --type=json -p "[{ops_text}]"'


def ca_bundles(model: MeshModel) -> dict[tuple[str, str, int], str]:
    """(kind, configuration, webhook index) → its caBundle ("" when it has none)."""
    out: dict[tuple[str, str, int], str] = {}
    for kind in (k.MUTATING_WEBHOOKS, k.VALIDATING_WEBHOOKS):
        wkind = MUTATING if kind is k.MUTATING_WEBHOOKS else VALIDATING
        for cfg in model.snapshot.items(kind):
            name = str(meta(cfg).get("name") or "")
            for i, hook in enumerate(cfg.get("webhooks") or []):
                client = (hook or {}).get("clientConfig") or {}
                out[(wkind, name, i)] = str(client.get("caBundle") or "")
    return out


def bundle_of(model: MeshModel, w: Webhook) -> str:
    """One webhook's caBundle ("" when none)."""
    return ca_bundles(model).get((w.kind, w.configuration, w.index), "")


def trust_mismatches(model: MeshModel) -> list[TrustMismatch]:
    """Every Service-called webhook whose caBundle disagrees with its target's reference bundle."""
    bundles = ca_bundles(model)
    by_target: dict[str, list[Webhook]] = defaultdict(list)
    for w in model.webhooks:
        if w.target is not None:
            by_target[w.target.address].append(w)
    out: list[TrustMismatch] = []
    for hooks in by_target.values():
        configurations = {w.configuration for w in hooks}
        if len(configurations) < 2:
            continue  # nobody to compare with
        reference, source = _reference(hooks, bundles)
        if source is None:
            continue
        out.extend(TrustMismatch(w, bundles.get((w.kind, w.configuration, w.index), ""),
                                 reference, source)
                   for w in hooks if bundles.get((w.kind, w.configuration, w.index), "") != reference)
    return out


def _reference(hooks: list[Webhook], bundles: dict[tuple[str, str, int], str]
               ) -> tuple[str, Webhook | None]:
    """The bundle to trust for one target, and the webhook it comes from."""
    target = hooks[0].target
    revisions = set(target.revisions) if target is not None else set()
    own = [w for w in hooks if w.is_injector and not w.tag and w.claimed_revision
           and {w.claimed_revision} == revisions]
    if own:
        w = own[0]
        return bundles.get((w.kind, w.configuration, w.index), ""), w
    per_config = {w.configuration: (bundles.get((w.kind, w.configuration, w.index), ""), w)
                  for w in hooks}
    (bundle, votes), *rest = Counter(b for b, _ in per_config.values()).most_common()
    if rest and votes * 2 <= len(per_config):
        return "", None  # no majority: which one is right cannot be told from the objects
    return bundle, next(w for c, (b, w) in sorted(per_config.items()) if b == bundle)


def describe_bundle(bundle: str) -> str:
    """``CN=<subject> (expires <date>)`` of each certificate in a base64 caBundle."""
    if not bundle:
        return NO_BUNDLE
    # only a finding's text needs the certificates read: a diagnosis imports cryptography's X.509
    # (a tenth of a second) when a bundle disagrees, not on every run
    from cryptography import x509

    try:
        certs = x509.load_pem_x509_certificates(base64.b64decode(bundle, validate=True))
    except (ValueError, binascii.Error):
        return "an unreadable caBundle (not base64 PEM certificates)"
    return ", ".join(_describe(cert) for cert in certs)


def _describe(cert: x509.Certificate) -> str:
    from cryptography.x509.oid import NameOID

    names: Iterable[x509.NameAttribute] = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = next((str(n.value) for n in names), cert.subject.rfc4514_string() or "?")
    return f"CN={cn} (expires {cert.not_valid_after_utc:%Y-%m-%d})"
