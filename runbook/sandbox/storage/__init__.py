"""Where the sandbox's objects live: etcd plus the watch cache (``store``) and the pod logs (``logs``).

Nothing here knows what a resource means; :mod:`runbook.sandbox.registry` does.
"""
