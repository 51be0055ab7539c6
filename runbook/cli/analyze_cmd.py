"""``runbook analyze``: check Istio config files against the cluster before applying them.

Like ``istioctl analyze``, with the field report's mistakes in mind. Without ``-f`` the cluster's
own Istio config is analyzed. Exit status 1 when there are Error messages.
"""

from __future__ import annotations

import argparse

from runbook.cli.output import add_cluster_args, add_output_arg, cluster_from_args, emit


def configure(p: argparse.ArgumentParser) -> None:
    """Add the ``analyze`` arguments."""
    p.description = __doc__
    p.add_argument("-f", "--filename", action="append", default=[], metavar="FILE",
                   help="manifest file, directory or URL (repeatable)")
    p.add_argument("-n", "--namespace", help="namespace for objects that name none")
    add_cluster_args(p)
    add_output_arg(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from runbook.manifests import load_manifests
    from runbook.mesh.observe import analyze_cluster

    # the fetch of a -f URL is a request like any other: --request-timeout bounds it
    objects = (load_manifests(args.filename, fetch_timeout=args.request_timeout)
               if args.filename else None)
    with cluster_from_args(args) as cluster:
        result = analyze_cluster(cluster, objects, namespace=args.namespace)
    emit({"messages": result.messages}, args.output, findings=result.findings)
    return 1 if result.has_errors else 0
