"""The sandbox's resource semantics: what a create, update, patch or delete means (kube-apiserver's registry).

``cluster`` holds :class:`~runbook.sandbox.registry.cluster.Registry`, the verbs every client and
in-process controller calls; around it live what a write passes through: ``defaults``,
``admission`` (and ``webhooks``, the dispatcher to admission webhook services), ``validation``,
``patching`` (JSON, merge, strategic merge and server-side apply), ``convert`` (API versions),
``discovery`` (what is served) and ``status`` (the API's error bodies). Imports point down only,
to :mod:`runbook.sandbox.storage`.
"""
