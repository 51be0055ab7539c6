"""The differential harness: the emulated engine measured against the real control plane
(issue #13). Run it with ``python -m tests.differential``; see cases.py, harness.py, report.py."""
