"""Message and log formats that both the sandbox (which writes them) and the client (which parses
them) need, each defined once, next to its parser, with the upstream source it follows (Istio's and
Kubernetes' code and documentation) named in its docstring.
"""
