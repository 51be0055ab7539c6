"""The sandbox's HTTP front: what kube-apiserver's handlers do before a request reaches the registry.

``server`` routes requests by path and answers them (JSON, protobuf, Tables); ``printing`` makes
the Tables kubectl prints, ``protobuf`` the few protobuf bodies kubectl sends, ``faults`` the
injected faults and the request log, ``tls`` the serving certificate. Imports point down only:
to :mod:`runbook.sandbox.registry` and :mod:`runbook.sandbox.storage`, never back.
"""
