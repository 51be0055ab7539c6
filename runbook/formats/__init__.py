"""Message and log formats that both the sandbox (which writes them) and the client (which parses
them) need, each defined once, next to its parser. Sources are in ../shared/fixtures/upstream/formats.md.
"""
