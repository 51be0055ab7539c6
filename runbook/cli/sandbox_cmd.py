"""``runbook sandbox [run|status|stop|reset]`` — the embedded Kubernetes API server.

``run`` (the default) serves in the foreground on 127.0.0.1, writes a kubeconfig (contexts
``sandbox`` and ``sandbox-readonly``), prints ``export KUBECONFIG=…`` and stops cleanly on Ctrl-C or
SIGTERM. ``--faults SPEC…`` puts injected API faults in force from the first request, e.g.
``--faults list:pods:503:times=3,retry-after=1 update:*:409:times=2`` (syntax: docs/sandbox.md ›
Faults). ``status`` shows the running one (found through ``$MESH_RUNBOOK_HOME/sandbox/state.json``),
``stop`` stops it, ``reset`` reloads its scenario.

``--engine kube`` runs a real control plane instead of the emulated one: kube-apiserver,
kube-controller-manager, kube-scheduler and etcd built from the official Go modules (the first
run builds them with ``go build``: many minutes), node agents in place of kubelets, and the
emulated istiods as real admission webhooks (docs/sandbox.md › The real engine).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from typing import Any

from runbook.cli.output import GuardedStream, echo, terminal_width, wrap
from runbook.errors import InputError
from runbook.sandbox.apiserver.faults import Fault, format_fault_spec, parse_fault_spec
from runbook.sandbox.engines import ENGINES
from runbook.sandbox.process import (
    RUNNING,
    UNHEALTHY,
    SandboxInfo,
    admin_request,
    check_running,
    reset_running,
    serve,
    stop_running,
    unhealthy_error,
)


def configure(p: argparse.ArgumentParser) -> None:
    """Add the ``sandbox`` arguments."""
    p.description = __doc__
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("action", nargs="?", default="run", choices=("run", "status", "stop", "reset"),
                   help="run (default): serve in the foreground; status/stop/reset: act on the "
                        "running sandbox")
    # no list of names here: they come from importing the sandbox's scenario loaders, which would
    # make this help slow; a wrong name is refused with the list
    p.add_argument("--scenario", default="empty", metavar="NAME|PATH",
                   help="a built-in scenario (seed-incident, …; a wrong name lists them) or a "
                        "file/directory of YAML manifests (default empty)")
    p.add_argument("--engine", choices=ENGINES, default="emulated",
                   help="emulated (default): the embedded Python API server; kube: a real "
                        "kube-apiserver, controller manager and scheduler (needs Go; the first "
                        "start builds them)")
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (default 0: any free)")
    p.add_argument("--kubeconfig-out", metavar="PATH",
                   help="where to write the kubeconfig (default $MESH_RUNBOOK_HOME/sandbox/kubeconfig)")
    p.add_argument("--clock", choices=("real", "manual"), default="real",
                   help="real: wall time; manual: frozen until advanced through the admin API")
    p.add_argument("-o", "--output", choices=("text", "json"), default="text",
                   help="format of status (default text)")
    p.add_argument("--faults", nargs="+", default=[], metavar="SPEC",
                   help="run: inject API faults from the start, each VERB:RESOURCE:EFFECT[:K=V,…], "
                        "e.g. list:pods:503:times=3,retry-after=1 or create:*:drop-response "
                        "(see docs/sandbox.md › Faults)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # every spec is checked before anything starts: a typo is one line, not a half-set-up sandbox
    faults = [parse_fault_spec(spec) for spec in args.faults]
    if faults and args.action != "run":
        raise InputError(f"--faults applies when a sandbox starts, not to {args.action!r}",
                         hint="restart it with `runbook sandbox --faults …`, or add faults to the "
                              "running one with POST /sandbox/v1/faults")
    if args.action == "run":
        if not 0 <= args.port <= 65535:
            raise InputError(f"--port {args.port}: must be between 0 and 65535",
                             hint="or 0 for any free port")
        # the server prints its address and kubeconfig path itself; a scenario path is shown as data
        with contextlib.redirect_stdout(GuardedStream(sys.stdout)):
            return serve(args.scenario, args.port, args.kubeconfig_out, args.clock, faults=faults,
                         engine=args.engine)
    info, health = check_running()
    if args.action == "stop" and health == UNHEALTHY and info is not None:
        stop_running()
        echo(f"stopped sandbox pid {info.pid} ({info.url}), which did not answer")
        return 0
    if health == UNHEALTHY and info is not None:
        raise unhealthy_error(info)
    if info is None or health != RUNNING:
        gone = f"the sandbox pid {info.pid} ({info.url}) is gone; " if info is not None else ""
        raise InputError(f"{gone}no sandbox is running", hint="start one with `runbook sandbox`")
    if args.action == "stop":
        stop_running()
        echo(f"stopped sandbox pid {info.pid} ({info.url})")
        return 0
    if args.action == "reset":
        reset_running(info)
        echo(f"reset sandbox {info.url} to scenario {info.scenario}")
        return 0
    if info.engine == "kube":
        return _print_kube_status(info, args.output)
    status = admin_request(info, "GET", "/sandbox/v1/status")
    if args.output == "json":
        echo(json.dumps(status, indent=2))
        return 0
    width = terminal_width()
    lines = [f"url:        {status['url']}", f"pid:        {status['pid']}",
             f"scenario:   {status['scenario']}", f"clock:      {status['clock']} ({status['time']})",
             f"objects:    {sum(status['objects'].values())} (resourceVersion {status['resourceVersion']})",
             f"kubeconfig: {status['kubeconfig']}", f"export KUBECONFIG={status['kubeconfig']}"]
    if status.get("faults"):
        # a trainee wondering why calls fail sees that they are meant to
        items = admin_request(info, "GET", "/sandbox/v1/faults")["items"]
        specs = [format_fault_spec(Fault.from_dict({k: v for k, v in item.items()
                                                    if k not in ("id", "fired")}))
                 for item in items]
        lines.append(f"faults:     {len(specs)} in force: {', '.join(specs)}")
    lines += _dataplane_lines(status.get("dataplane"))
    # a path or a reason longer than the terminal continues under its value, not at column 0
    echo("\n".join(wrapped for line in lines
                   for wrapped in wrap(line, width, " " * (19 if line.startswith("  ") else 12), first="")))
    return 0


def _print_kube_status(info: SandboxInfo, output: str) -> int:
    """The real engine has no admin API: its state file and the apiserver's own answers."""
    version = admin_request(info, "GET", "/version")
    nodes = admin_request(info, "GET", "/api/v1/nodes")["items"]
    status = {"url": info.url, "pid": info.pid, "engine": info.engine, "scenario": info.scenario,
              "version": version.get("gitVersion"), "nodes": [n["metadata"]["name"] for n in nodes],
              "kubeconfig": str(info.kubeconfig_path)}
    if output == "json":
        echo(json.dumps(status, indent=2))
        return 0
    echo(f"url:        {info.url}\npid:        {info.pid}\nengine:     kube "
          f"(kube-apiserver {status['version']})\nscenario:   {info.scenario}\n"
          f"nodes:      {', '.join(status['nodes'])}\nkubeconfig: {info.kubeconfig_path}\n"
          f"export KUBECONFIG={info.kubeconfig_path}")
    return 0


def _dataplane_lines(dataplane: dict[str, Any] | None) -> list[str]:
    """The gateways' node ports: where each answers, or why it does not (a busy port …)."""
    if not dataplane:
        return []
    listeners = dataplane.get("listeners") or []
    lines = [f"gateways:   {len(listeners)} node ports on {dataplane.get('host')} "
             "(no load balancer: INGRESS_HOST=127.0.0.1, INGRESS_PORT=<nodePort>)"]
    for item in listeners:
        line = (f"  {item['address']:<16} {item['service']}:{item['port']} ({item['portName'] or '-'}) "
                f"{item['state']}")
        lines.append(line + (f" — {item['reason']}" if item["state"] != "listening" and item["reason"]
                             else ""))
    return lines
