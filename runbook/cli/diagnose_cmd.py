"""``runbook diagnose``: why pods are not created, with the proposed fixes.

Exit status 1 when there are error findings (usable as a CI gate), 0 otherwise.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor

from runbook.cli import leave_for_exit
from runbook.cli.output import add_cluster_args, add_output_arg, cluster_from_args, emit
from runbook.gcpause import paused_gc

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


# One read, one pass, one print: what the command builds lives until it ends, so the collector's
# passes (about a hundred over the official client's imports alone) would find nothing
@paused_gc
def run(args: argparse.Namespace) -> int:
    from runbook.kube import DIAGNOSIS_KINDS, FINDINGS_SELECTORS, read_snapshot

    # the findings come from the model alone: the inventory tables (20,000 workload rows on a
    # large cluster) are built only to be printed, and without them only the events the findings
    # read are listed
    findings_only = not args.tables and args.output in ("table", "wide")
    with cluster_from_args(args) as cluster, ThreadPoolExecutor(max_workers=1) as pool:
        # the read (what read_mesh reads) starts before the diagnosis' imports — pandas and the
        # mesh model, most of a second: the server answers while they load
        reading = pool.submit(read_snapshot, cluster, DIAGNOSIS_KINDS,
                              selectors=FINDINGS_SELECTORS if findings_only else None)
        from runbook.mesh import diagnose, has_errors
        from runbook.mesh.observe import check_namespace, diagnose_snapshot

        snap = reading.result()
    if not findings_only:
        inv, findings = diagnose_snapshot(snap, namespace=args.namespace)
        tables = inv.tables()
    else:
        check_namespace(snap, args.namespace)
        findings, tables = diagnose(snap, namespace=args.namespace), {}
    if args.namespace:
        # only tables whose rows are *about* a namespace; control_planes' namespace is where an
        # istiod runs, and every namespace's diagnosis needs all of them
        tables = {name: (df[df["namespace"] == args.namespace] if name in PER_NAMESPACE else df)
                  for name, df in tables.items()}
    emit(tables, args.output, findings=findings)
    leave_for_exit(snap, findings, tables)
    return 1 if has_errors(findings) else 0
