"""The driver of the real engine (``runbook sandbox --engine kube``): a real kube-apiserver,
controller manager, scheduler and etcd built from ``engines/kube``, node agents standing in for
kubelets, and the emulated Istio serving the real apiserver. Start it with
:func:`runbook.sandbox.start_engine` or :class:`~.engine.KubeEngine`; docs/sandbox.md › The real
engine explains how it works.
"""
