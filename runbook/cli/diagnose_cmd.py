"""``runbook diagnose``: why pods are not created, with the proposed fixes.

Exit status 1 when there are error findings (usable as a CI gate), 0 otherwise.
"""

from __future__ import annotations

import argparse

from runbook.cli.output import add_cluster_args, add_output_arg, cluster_from_args, emit

#: tables with one row per object of a namespace (what ``-n`` narrows)
PER_NAMESPACE = ("namespace_injection", "workloads", "replicaset_events")


def configure(p: argparse.ArgumentParser) -> None:
    """Add the ``diagnose`` arguments."""
    p.description = __doc__
    add_cluster_args(p)
    p.add_argument("-n", "--namespace", help="only findings that affect this namespace")
    add_output_arg(p)
    p.add_argument("--tables", action="store_true",
                   help="also print the inventory tables the diagnosis used")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from runbook.mesh import has_errors
    from runbook.mesh.observe import diagnose_cluster

    with cluster_from_args(args) as cluster:
        inv, findings = diagnose_cluster(cluster, namespace=args.namespace)
    tables = inv.tables() if args.tables or args.output not in ("table", "wide") else {}
    if args.namespace:
        # only tables whose rows are *about* a namespace; control_planes' namespace is where an
        # istiod runs, and every namespace's diagnosis needs all of them
        tables = {name: (df[df["namespace"] == args.namespace] if name in PER_NAMESPACE else df)
                  for name, df in tables.items()}
    emit(tables, args.output, findings=findings)
    return 1 if has_errors(findings) else 0
