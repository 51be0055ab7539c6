"""``runbook inventory``: control planes, tags, injection map, workloads, events, webhooks."""

from __future__ import annotations

import argparse

from runbook.cli import leave_for_exit
from runbook.cli.output import add_cluster_args, add_output_arg, cluster_from_args, emit
from runbook.gcpause import paused_gc


def configure(p: argparse.ArgumentParser) -> None:
    """Add the ``inventory`` arguments."""
    p.description = __doc__
    add_cluster_args(p)
    add_output_arg(p)
    p.add_argument("--table", action="append", metavar="NAME",
                   help="only these tables (repeatable): control_planes, revision_tags, "
                        "namespace_injection, workloads, replicaset_events, webhook_targets")
    p.set_defaults(run=run)


# one read, one pass, one print (as runbook diagnose): the collector's passes would find nothing
@paused_gc
def run(args: argparse.Namespace) -> int:
    from runbook.errors import InputError
    from runbook.mesh import TABLES
    from runbook.mesh.observe import inventory_cluster

    unknown = sorted(set(args.table or ()) - set(TABLES))
    if unknown:
        raise InputError(f"unknown table {', '.join(unknown)}",
                         hint=f"choose from {', '.join(TABLES)}")
    with cluster_from_args(args) as cluster:
        inv = inventory_cluster(cluster)
    tables = {name: df for name, df in inv.tables().items() if not args.table or name in args.table}
    emit(tables, args.output)
    leave_for_exit(inv)
    return 0
