"""runbook.probe — ingress address resolution, the HTTP latency probe, latency statistics.

``resolve_ingress_address`` finds INGRESS_HOST/INGRESS_PORT for a gateway Service (Istio's
recipe), ``ingress_address`` reads that Service from a cluster first; ``curl_head`` shows one
request as ``curl -s -I`` does; ``probe`` measures a URL honestly (bounded, keep-alive, optional
fixed QPS without coordinated omission, failures as rows); :mod:`runbook.probe.stats` turns
samples into the numbers that :mod:`runbook.ui.charts` draws.
"""

from __future__ import annotations

from runbook.probe.address import IngressAddress, ingress_address, resolve_ingress_address
from runbook.probe.curl import HeadResponse, curl_head
from runbook.probe.http import COLUMNS, ERROR_KINDS, ProbeRun, probe
from runbook.probe.stats import compare_runs

__all__ = [
    "COLUMNS",
    "ERROR_KINDS",
    "HeadResponse",
    "IngressAddress",
    "ProbeRun",
    "compare_runs",
    "curl_head",
    "ingress_address",
    "probe",
    "resolve_ingress_address",
]
