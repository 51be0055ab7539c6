"""runbook.probe — ingress address resolution, the HTTP latency probe, latency statistics.

``resolve_ingress_address`` finds INGRESS_HOST/INGRESS_PORT for a gateway Service (Istio's
recipe), ``ingress_address`` reads that Service from a cluster first; ``curl_head`` shows one
request as ``curl -s -I`` does; ``probe`` measures a URL honestly (bounded, keep-alive, optional
fixed QPS without coordinated omission, failures as rows); :mod:`runbook.probe.stats` turns
samples into the numbers that :mod:`runbook.ui.charts` draws.

The names below are imported on first use (:mod:`runbook.lazy`), so that ``runbook probe --help``
does not load pandas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runbook.lazy import lazy_exports

if TYPE_CHECKING:
    from runbook.probe.address import IngressAddress, ingress_address, resolve_ingress_address
    from runbook.probe.curl import HeadResponse, curl_head
    from runbook.probe.http import COLUMNS, ERROR_KINDS, ProbeRun, probe
    from runbook.probe.stats import compare_runs

#: exported name → the submodule that defines it
_EXPORTS = {
    "IngressAddress": "address", "ingress_address": "address", "resolve_ingress_address": "address",
    "HeadResponse": "curl", "curl_head": "curl",
    "COLUMNS": "http", "ERROR_KINDS": "http", "ProbeRun": "http", "probe": "http",
    "compare_runs": "stats",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

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
