"""A real Pacemaker failover with jobs in flight, on a lab of its own (for ``make demo``).

    python3 tests/failover/demo.py [--triggers kill_cjcpw,standby,kill_node,split_brain]
                                   [--name cjcdrill] [--keep]

Brings up the two-node lab with Corosync + Pacemaker (tests/lab), installs the engine on
both nodes, makes the site on node1, registers it with Pacemaker through the engine of
cjc_cluster_service (group: IPaddr2 + ocf:cjc:cjcsite), then runs each drill and prints
its job table and recovery time. The lab is removed at the end unless --keep.
``run_demo(lab, triggers, out=print)`` does the same on a lab that is already up (with
pacemaker=True); it returns the drills' results.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from failover import SiteCluster, format_table  # noqa: E402
from lab import Lab, LabConfig  # noqa: E402

DEFAULT_TRIGGERS = ("kill_cjcpw", "standby", "kill_node", "split_brain")


def run_demo(lab, triggers=DEFAULT_TRIGGERS, out=print):
    sc = SiteCluster(lab)
    node = sc.prepare()
    out("site %s registered with Pacemaker: group %s Started on %s" % (sc.site, sc.service, node))
    out(lab.pacemaker.crm_mon(node, "-r").stdout)
    results = []
    for trigger in triggers:
        out("--- drill: %s" % trigger)
        result = sc.drill(trigger)
        results.append(result)
        out(format_table(result))
        if trigger == "split_brain":
            out("without fencing the standby started the group too; the site's ownership lock refused the "
                "second cjcpw, so one site kept running. Production: enable fencing (STONITH or SBD).")
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description="Pacemaker failover demo with jobs in flight")
    parser.add_argument("--triggers", default=",".join(DEFAULT_TRIGGERS))
    parser.add_argument("--name", default="cjcdrill")
    parser.add_argument("--keep", action="store_true", help="leave the lab up (tests/lab/cjclab --name NAME down)")
    args = parser.parse_args(argv)
    lab = Lab(LabConfig(name=args.name, connection="local"))
    try:
        lab.up(pacemaker=True)
        results = run_demo(lab, args.triggers.split(","))
    finally:
        if not args.keep:
            lab.down()
    ok = all(r.get("all_ok", True) and not r["both_nodes"] for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
