"""Failover time of a cjc site on the lab's real two-node Pacemaker cluster.

For each trigger -- ``kill_cjcpw`` (SIGKILL of the site's cjcpw on the active node),
``standby`` (crm_standby of the active node), ``kill_node`` (link down + SIGKILL of
every process of the active node) -- runs the drill of tests/failover ``--runs`` times
(default 5) with ten jobs in flight in queues of every restart attribute, and reports
the median time from the trigger until the jobs that must run again run on the other
node, plus where that time goes (from the Pacemaker logs of both nodes).

    bench/failover_time.py [--runs 5] [--triggers kill_cjcpw,standby,kill_node]
                           [--token-ms 3000] [--monitor-interval 1] [--json FILE]

Needs root and the Pacemaker packages (make apt-deps-pacemaker). Target:
kill of cjcpw -> jobs re-running on the standby <= 3 s. The last line is the
``BENCH {...}`` result of that figure (bench/benchlib.py).
"""

import argparse
import datetime
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, HERE)

from benchlib import result  # noqa: E402
from failover import SiteCluster  # noqa: E402
from lab import Lab, LabConfig  # noqa: E402

TARGET = 3.0
#: (label, pattern in pacemaker.log, node: "from"/"to"), in the order they happen
STEPS = (
    ("failure seen", "Result of monitor operation for {svc}-site on {frm}: ", "frm"),
    ("site stopped", "Result of stop operation for {svc}-site on {frm}: ok", "frm"),
    ("ip stopped", "Result of stop operation for {svc}-ip on {frm}: ok", "frm"),
    ("ip started", "Result of start operation for {svc}-ip on {to}: ok", "to"),
    ("site started", "Result of start operation for {svc}-site on {to}: ok", "to"),
)


def _log_times(lab, node, since):
    """[(wall time, line)] of node's pacemaker.log from ``since`` on."""
    path = os.path.join(lab.node(node).state, "var-log", "pacemaker", "pacemaker.log")
    year = datetime.date.today().year
    found = []
    try:
        with open(path, errors="replace") as fh:
            for line in fh:
                try:
                    stamp = datetime.datetime.strptime("%d %s" % (year, line[:19]), "%Y %b %d %H:%M:%S.%f")
                except ValueError:
                    continue
                t = stamp.timestamp()
                if t >= since - 0.5:
                    found.append((t, line))
    except OSError:
        pass
    return found


def breakdown(lab, res, service):
    """{step: seconds after the trigger} from the Pacemaker logs (steps not seen are left out)."""
    lines = {n: _log_times(lab, n, res["t0_wall"]) for n in (res["from"], res["to"])}
    steps = {}
    for label, pattern, where in STEPS:
        text = pattern.format(svc=service, frm=res["from"], to=res["to"])
        for node in (res["to"], res["from"]):  # the DC logs the results of both nodes
            hits = [t for t, line in lines[node] if text in line and "Cancelled" not in line
                    and (label != "failure seen" or ": ok" not in line)]
            if hits:
                steps[label] = round(min(hits) - res["t0_wall"], 2)
                break
    return steps


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--triggers", default="kill_cjcpw,standby,kill_node")
    parser.add_argument("--token-ms", type=int, default=3000, help="corosync token (lab default 3000)")
    parser.add_argument("--monitor-interval", type=int, default=2, help="site monitor interval, s")
    parser.add_argument("--json", help="write every run's figures to this file")
    args = parser.parse_args(argv)
    triggers = args.triggers.split(",")
    lab = Lab(LabConfig(name="bft%d" % os.getpid(), connection="local"))
    figures = {t: [] for t in triggers}
    try:
        started = time.monotonic()
        lab.up(pacemaker=True, pacemaker_options={"token_ms": args.token_ms})
        sc = SiteCluster(lab, monitor_interval=args.monitor_interval)
        node = sc.prepare()
        print("lab + cluster + site registered on %s in %.1f s (token %d ms, site monitor every %d s); "
              "load average %s" % (node, time.monotonic() - started, args.token_ms, args.monitor_interval,
                                   " ".join("%.1f" % x for x in os.getloadavg())))
        for trigger in triggers:
            for i in range(args.runs):
                res = sc.drill(trigger)
                steps = breakdown(lab, res, sc.service)
                figures[trigger].append({"recovery_s": round(res["recovery_s"], 2),
                                         "group_s": round(res["group_s"], 2), "fates_ok": res["all_ok"],
                                         "both_nodes": bool(res["both_nodes"]), "steps": steps,
                                         "load": round(os.getloadavg()[0], 1)})
                print("%-10s run %d %s->%s: jobs re-running after %.2f s (group Started %.2f s); fates %s; "
                      "steps %s; load %.1f" % (trigger, i + 1, res["from"], res["to"], res["recovery_s"],
                                               res["group_s"], "ok" if res["all_ok"] else "WRONG",
                                               ", ".join("%s %.2f" % kv for kv in steps.items()),
                                               os.getloadavg()[0]))
    finally:
        lab.down()
    print()
    print("%-10s %4s %8s %6s %6s  %s" % ("trigger", "runs", "median", "min", "max", "all fates as documented"))
    for trigger in triggers:
        values = [f["recovery_s"] for f in figures[trigger]]
        if values:
            print("%-10s %4d %7.2fs %5.2fs %5.2fs  %s" % (
                trigger, len(values), statistics.median(values), min(values), max(values),
                all(f["fates_ok"] and not f["both_nodes"] for f in figures[trigger])))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"token_ms": args.token_ms, "monitor_interval": args.monitor_interval,
                       "figures": figures}, fh, indent=2)
    kill = [f["recovery_s"] for f in figures.get("kill_cjcpw", [])]
    if kill:
        value = statistics.median(kill)
        result("failover: kill -9 cjcpw -> jobs re-running on the standby (median of %d)" % len(kill),
               value, "s", "<= %.0f" % TARGET, value <= TARGET)
    return 0


if __name__ == "__main__":
    sys.exit(main())
