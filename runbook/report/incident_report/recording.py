"""Requests through the ingress gateway: one measurement (before, after) and the background
recording across the fix; HTTP errors count as failures (see the package)."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
from pandas.io.formats.style import Styler

from runbook.errors import RunbookError
from runbook.kube import Cluster
from runbook.paths import is_headless
from runbook.probe import IngressAddress, ProbeRun, curl_head, ingress_address, probe
from runbook.probe.curl import HeadResponse
from runbook.probe.http import mark_http_failures
from runbook.ui.render import Record, ShownAsRecord, render_note
from runbook.ui.tables import highlight_status, left

#: the gateway Service the report curls (``INGRESS_NAME=istio-ingressgateway``)
GATEWAY_SERVICE = "istio-ingressgateway"
#: columns of :func:`outcomes`
OUTCOME_COLUMNS = ["outcome", "level", "requests", "share", "first_s", "last_s", "p50_ms", "detail"]
#: outcome level → row colour (ui.tables.highlight_status)
OUTCOME_LEVELS = {"served": "info", "failed": "error"}


# ------------------------------------------------------------------------------------ probing


def as_failures(run: ProbeRun) -> ProbeRun:
    """The run with every HTTP answer >= 400 counted as a failed request (see the module).

    Such rows get ``error_kind`` ``http_<status>`` and ``error`` ``HTTP <status>``; the status stays.
    The run's own samples are not changed.
    """
    # the probe counts them so itself (runbook.probe.http.mark_http_failures); a run recorded with
    # a wider accept_status, or an older one, is counted here the way availability SLOs count
    return dataclasses.replace(run, samples=mark_http_failures(run.samples))


def outcome_of(status: int, error_kind: str) -> str:
    """``HTTP 200`` for an answer, the error kind (``refused``, ``timeout`` …) for a failure."""
    return f"HTTP {status}" if not error_kind or error_kind.startswith("http_") else error_kind


def outcomes(samples: pd.DataFrame) -> pd.DataFrame:
    """One row per outcome of a probe run: what users got, how often and when.

    Returns:
        Columns (:data:`OUTCOME_COLUMNS`): ``outcome`` (``HTTP 200``, ``HTTP 503``, ``refused`` …),
        ``level`` (``served`` for 1xx–3xx answers, ``failed`` otherwise), ``requests``, ``share``
        (of all requests, 0–1), ``first_s``/``last_s`` (intended send time from the run start),
        ``p50_ms`` (median latency of those requests), ``detail`` (bytes and ``server`` header of
        answers, the first error message of failures). Served rows first, then by count.
    """
    if samples.empty:
        return pd.DataFrame(columns=OUTCOME_COLUMNS)
    keys = [outcome_of(int(s), str(e)) for s, e in zip(samples["status"], samples["error_kind"], strict=True)]
    rows = []
    total = len(samples)
    for key, group in samples.groupby(pd.Series(keys, index=samples.index), sort=False):
        first = group.iloc[0]
        answered = str(key).startswith("HTTP ")
        served = answered and int(first["status"]) < 400
        if answered:
            sizes = sorted({int(b) for b in group["bytes"]})
            size = f"{sizes[0]} bytes" if len(sizes) == 1 else f"{sizes[0]}–{sizes[-1]} bytes"
            detail = f"{size}, server: {first['server'] or '—'}"
        else:
            detail = str(first["error"])
        rows.append({"outcome": str(key), "level": "served" if served else "failed",
                     "requests": len(group), "share": len(group) / total,
                     "first_s": float(group["intended_start"].min()),
                     "last_s": float(group["intended_start"].max()),
                     "p50_ms": float(group["latency_ms"].median()), "detail": detail})
    frame = pd.DataFrame(rows, columns=OUTCOME_COLUMNS)
    frame["_served"] = frame["level"] == "served"
    frame = frame.sort_values(["_served", "requests"], ascending=[False, False], kind="stable")
    return frame.drop(columns="_served").reset_index(drop=True)


def outcomes_view(samples: pd.DataFrame) -> Styler:
    """:func:`outcomes` with failed rows red."""
    return left(highlight_status(outcomes(samples), "level", OUTCOME_LEVELS).hide(axis="index").format(
        {"share": "{:.0%}", "first_s": "{:.2f}", "last_s": "{:.2f}", "p50_ms": "{:.1f}"}))


@dataclass
class Measurement(ShownAsRecord):
    """A probe through the ingress gateway, or why there is none.

    Attributes:
        label: ``before``, ``after`` …
        url: the URL probed (``http://INGRESS_HOST:INGRESS_PORT/productpage``); "" when unresolved.
        host: the ``Host`` header.
        address: the resolved gateway address (None when it could not be resolved).
        run: the probe run (None when nothing was measured).
        head: one request as ``curl -s -I`` shows it, taken before the run.
        error: why nothing was measured (one line), "" otherwise.
    """

    label: str
    url: str
    host: str
    address: IngressAddress | None = None
    run: ProbeRun | None = None
    head: HeadResponse | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        """A run was made."""
        return self.run is not None

    def served(self) -> tuple[int, int]:
        """(requests answered with status < 400, all requests)."""
        if self.run is None:
            return 0, 0
        s = self.run.samples
        return int(((s["error_kind"] == "") & (s["status"] < 400)).sum()), len(s)

    def headline(self) -> str:
        """One line: how many requests were served, and the latency of those that were."""
        if self.run is None:
            return f"{self.label}: not measured — {self.error}"
        served, total = self.served()
        summary = as_failures(self.run).summary()
        lat = (f"; served in p50 {summary['p50_ms']:.1f} ms, p99 {summary['p99_ms']:.1f} ms"
               if served else "")
        codes = ", ".join(f"{o.outcome} × {o.requests}" for o in outcomes(self.run.samples).itertuples())
        # latencies of a schedule the probe could not keep describe its own queue: a reviewer is
        # told, with the probe's own sentence, before reading them
        untrusted = f" — {summary['verdict']}" if summary["schedule_kept"] is False else ""
        return (f"{self.label}: {served} of {total} requests served ({codes}) at "
                f"{summary['achieved_qps']:.0f}/s over {summary['elapsed_s']:.1f} s{lat}{untrusted}")

    def record(self) -> Record:
        """The measurement as a record: the headline, the curl equivalent and its answer."""
        lines: list[str] = []
        commands: list[str] = []
        if self.address is not None:
            commands += self.address.kubectl_commands()
            if self.address.note:
                lines.append(self.address.note)
        if self.head is not None:
            commands.append(self.head.command())
            lines.append("curl -s -I answered: " + " | ".join(self.head.text().splitlines()))
        if self.run is not None:
            lines.append(self.probe_line())
        served, total = self.served()
        ok = None if self.run is None else served == total
        return render_note(self.headline(), lines, ok=ok, commands=commands)

    def probe_line(self) -> str:
        """How the run was made, with the equivalent ``runbook probe`` command."""
        if self.run is None:
            return ""
        r = self.run
        return (f"the probe: {r.qps or 0:g} requests/s over {r.concurrency} keep-alive connections, "
                f"Host: {self.host} (runbook probe {self.url} --host {self.host} --qps {r.qps or 0:g} "
                f"-c {r.concurrency} --duration {r.duration or 0:g})")

    def outcomes_view(self) -> Styler | Record:
        """:func:`outcomes_view` of the run (failed rows red), or why there is no run."""
        if self.run is None:
            return render_note(f"{self.label}: not measured — {self.error}", ok=False)
        return outcomes_view(self.run.samples)


def gateway_address(cluster: Cluster, gateway_namespace: str, *, name: str = GATEWAY_SERVICE
                    ) -> IngressAddress:
    """INGRESS_HOST/INGRESS_PORT of the gateway Service (Istio's recipe; see ``runbook.probe``)."""
    return ingress_address(cluster, name, gateway_namespace)


def wait_accepting(host: str, port: int, timeout: float, *, interval: float = 0.05) -> bool:
    """Wait until something accepts TCP connections on ``host:port`` (at most ``timeout`` s).

    Right after a Gateway is applied its listener opens only when the gateway got the config (on a
    real cluster after istiod's debounced push, ~0.1–1 s): measuring before then would report
    refusals that are the measurement's own timing.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=min(1.0, max(timeout, 0.1))):
                return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
        time.sleep(interval)  # no event to wait on: another process opens the port


def measure(cluster: Cluster, *, gateway_namespace: str, host: str, path: str, label: str,
            seconds: float = 2.0, qps: float = 25.0, concurrency: int = 4,
            settle_s: float = 3.0) -> Measurement:
    """Probe ``path`` through the gateway of ``gateway_namespace`` with ``Host: host``.

    Never raises for an unreachable or unresolvable gateway: the measurement says why
    (``error``), so a report still shows everything else.

    Args:
        seconds, qps, concurrency: the fixed-rate probe (``runbook probe --duration --qps -c``).
        settle_s: wait up to this long for the gateway port to accept connections first.
    """
    try:
        address = gateway_address(cluster, gateway_namespace)
    except RunbookError as exc:
        return Measurement(label, "", host, error=exc.one_line())
    url = address.base_url() + path
    wait_accepting(address.host, address.port, settle_s)
    head = curl_head(url, host=host)
    try:
        run = probe(url, host=host, duration=seconds, qps=qps, concurrency=concurrency, label=label,
                    progress_bar=not is_headless())
    except RunbookError as exc:
        return Measurement(label, url, host, address, head=head, error=exc.one_line())
    return Measurement(label, url, host, address, run, head)


class Recording:
    """One fixed-rate probe running in a background thread until :meth:`stop` (the timeline).

    Args:
        url, host: what to probe.
        qps, concurrency: the probe's schedule.
        max_seconds: the run ends by itself after this long (a notebook that stops midway must
            not leave traffic running).
        label: the run's label.
    """

    def __init__(self, url: str, host: str, *, qps: float = 25.0, concurrency: int = 4,
                 max_seconds: float = 300.0, label: str = "across the fix") -> None:
        self.url, self.host, self.qps, self.concurrency = url, host, qps, concurrency
        self.max_seconds, self.label = max_seconds, label
        self.started_at: datetime | None = None
        self.run: ProbeRun | None = None
        self.error: str = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """The probe thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self, lead_s: float = 1.0) -> Recording:
        """Start the probe, then wait ``lead_s`` so the timeline shows the state before any change."""
        if self._thread is not None:
            raise RunbookError("this recording was started already")

        def work() -> None:
            try:
                self.run = probe(self.url, host=self.host, duration=self.max_seconds, qps=self.qps,
                                 concurrency=self.concurrency, label=self.label, stop=self._stop)
            except RunbookError as exc:
                self.error = exc.one_line()

        self.started_at = datetime.now(UTC)
        self._thread = threading.Thread(target=work, name="runbook-incident-recording", daemon=True)
        self._thread.start()
        self._stop.wait(lead_s)
        return self

    def stop(self, tail_s: float = 1.0) -> ProbeRun | None:
        """Let the probe run ``tail_s`` more seconds (the state after the last change), stop it,
        and return its run (None when it failed to start: see ``error``)."""
        if self._thread is None:
            return None
        if self._thread.is_alive():
            self._stop.wait(tail_s)
        self._stop.set()
        self._thread.join()
        return self.run
