"""``make demo``: the product end to end on a two-node lab, with a short report.

lab up -> site.yml (both nodes, the build order) -> jobs on the active node -> failover
(Pacemaker drill when the lab runs Pacemaker, else a lab failover: kill the active node,
move the site address, cjcpw on the standby) -> site.yml again (changed=0) -> report ->
teardown (``--keep``/KEEP=1 keeps the lab and prints how to enter a node).
"""

import argparse
import json
import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # tests/: the lab package

from lab import Lab, LabConfig  # noqa: E402

import playbook  # noqa: E402

CJCPW = "/usr/lib/nqs/cluster/cjcpw"
CJCLS = "/usr/lib/nqs/cluster/cjcls"
DRILL = os.path.join(playbook.REPO, "playbooks", "files", "cjc_failover_drill.py")


def say(text):
    print("==> %s" % text, flush=True)


def owner(lab, site):
    """Node whose cjcls shows the site with a daemon pid and cjcpw ON, or 'none'."""
    for node in lab.node_names:
        if not lab.node_link_up(node):
            continue
        out = lab.nsx(node, CJCLS, check=False).stdout
        for line in out.splitlines():
            cols = line.split()
            if cols and cols[0] == site and cols[1].isdigit():
                return node
    return "none"


def drill_cli(lab, node, action, site, db, *args):
    done = lab.nsx(node, "/usr/bin/python3", DRILL, action, "--site", site, "--db", db, *args, timeout=300)
    return json.loads(done.stdout)


def lab_failover(lab, site, db, report):
    """No cluster manager: the failover an operator would do by hand (guide §2.1.4)."""
    active, standby = lab.node_names[0], lab.node_names[1]
    lab.move_vip(active)
    lab.start_daemon(active, CJCPW, site, db, log="/var/log/cjcpw-demo.log")
    deadline = time.monotonic() + 60
    while owner(lab, site) != active:
        if time.monotonic() > deadline:
            raise SystemExit("cjcpw did not start the site on %s" % active)
        time.sleep(0.2)
    report["owner_before"] = owner(lab, site)
    drill_cli(lab, active, "prepare", site, db)
    jobs = drill_cli(lab, active, "submit", site, db)["jobs"]
    say("%d jobs running on %s; killing %s (link down, SIGKILL of all its processes)"
        % (len(jobs), active, active))
    since = time.time()
    lab.kill_node(active)
    lab.move_vip(standby)
    lab.start_daemon(standby, CJCPW, site, db, log="/var/log/cjcpw-demo.log")
    waited = drill_cli(lab, standby, "wait", site, db, "--host", standby, "--since", repr(since),
                       "--jobs", json.dumps(jobs))
    table = drill_cli(lab, standby, "table", site, db, "--host", standby, "--jobs", json.dumps(jobs))
    report["owner_after"] = owner(lab, site)
    report["failover"] = "lab failover: kill-node %s, move the site address, cjcpw on %s" % (active, standby)
    report["recovery_s"] = waited.get("recovery_s")
    report["jobs"] = table.get("text", [])
    report["jobs_ok"] = table.get("all_ok")
    lab.revive_node(active)


def pacemaker_failover(lab, site, inventory, report, logdir, trigger):
    """playbooks/failover_drill.yml: its job table and recovery time in the report."""
    report["owner_before"] = owner(lab, site)
    log = os.path.join(logdir, "failover_drill.log")
    run = playbook.run_playbook(inventory, "failover_drill.yml", "-e", "failover_drill_trigger=%s" % trigger,
                                "-e", "@" + os.path.join(HERE, "pacemaker_vars.yml"), log=log)
    lines = run.debug_lines("Show the job table and the recovery time")
    report["failover"] = "Pacemaker drill (playbooks/failover_drill.yml, trigger %s): %s" % (
        trigger, lines[0] if lines else "no table, see %s" % log)
    report["jobs"] = [line for line in lines[1:] if not line.startswith("recovery")]
    report["recovery_s"] = next((line.split(": ")[-1].replace(" s", "") for line in lines
                                 if line.startswith("recovery")), "?")
    report["jobs_ok"] = not run.failed
    if run.failed:
        report["jobs"].append("(the drill failed: %s)" % log)
        for node in lab.node_names:  # the drill stops before its clean-up when a fate is wrong
            if not lab.node_link_up(node):
                lab.revive_node(node)
    deadline = time.monotonic() + 60
    while owner(lab, site) == "none" and time.monotonic() < deadline:
        time.sleep(0.5)
    report["owner_after"] = owner(lab, site)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", default=os.environ.get("DEMO_LAB", "cjcdemo"))
    parser.add_argument("--keep", action="store_true", default=os.environ.get("KEEP") == "1")
    parser.add_argument("--failover", choices=["auto", "pacemaker", "lab"],
                        default=os.environ.get("DEMO_FAILOVER", "auto"))
    parser.add_argument("--trigger", default=os.environ.get("DEMO_TRIGGER", "kill_cjcpw"),
                        choices=["kill_cjcpw", "standby", "kill_node"], help="Pacemaker drill trigger")
    args = parser.parse_args(argv)
    pacemaker = args.failover == "pacemaker" or (
        args.failover == "auto" and shutil.which("corosync") and shutil.which("pacemakerd")
        and os.path.exists(os.path.join(playbook.REPO, "playbooks", "failover_drill.yml")))
    logdir = "/tmp/cjcdemo-logs"
    os.makedirs(logdir, exist_ok=True)
    started = time.monotonic()
    report = {"times": []}
    lab = Lab(LabConfig(name=args.name))
    ok = False
    try:
        say("lab %s up (%s)" % (args.name, "with Pacemaker" if pacemaker else "no cluster manager"))
        lab.up(pacemaker=bool(pacemaker))
        inventory = lab.inventory_path
        product = ["-e", "@" + os.path.join(HERE, "pacemaker_vars.yml")] if pacemaker else []
        say("site.yml: the build order on %s (log %s/site-1.log)" % (" + ".join(lab.node_names), logdir))
        first = playbook.run_playbook(inventory, "site.yml", *product, log=os.path.join(logdir, "site-1.log"))
        if first.failed:
            raise SystemExit("site.yml failed; see %s/site-1.log" % logdir)
        report["times"].append(("site.yml (first build)", first.seconds, first.changed))
        say("failover with jobs in flight")
        t0 = time.monotonic()
        if pacemaker:
            pacemaker_failover(lab, lab.site_fqdn, inventory, report, logdir, args.trigger)
        else:
            lab_failover(lab, lab.site_fqdn, "%s/jobdb-%s" % (lab.config.shared_path, lab.config.name), report)
        report["times"].append(("failover drill", time.monotonic() - t0, None))
        say("site.yml again: nothing to change")
        second = playbook.run_playbook(inventory, "site.yml", *product, log=os.path.join(logdir, "site-2.log"))
        report["times"].append(("site.yml (re-run)", second.seconds, second.changed))
        report["rerun_changed"] = second.changed
        report["rerun_failed"] = second.failed
        ok = not second.failed and second.changed == 0 and report.get("jobs_ok", False)
    finally:
        print_report(lab, report, time.monotonic() - started)
        if args.keep and lab.is_up():
            print("\nKEEP=1: lab %s kept. Enter a node:" % args.name)
            for node in lab.node_names:
                print("  " + " ".join(lab.nsenter_argv(node)[:-1]) + " bash")
            print("  ansible -i %s cjc_nodes -m ping" % lab.inventory_path)
            print("remove it with: tests/lab/cjclab --name %s down" % args.name)
        else:
            lab.down()
    return 0 if ok else 1


def print_report(lab, report, total):
    print("\n" + "=" * 72)
    print("cjc.cluster demo report")
    print("=" * 72)
    print("nodes      : %s (active), %s (standby)" % (lab.node_names[0], ", ".join(lab.node_names[1:])))
    print("site       : %s = %s, DB %s/jobdb-%s (shared disk), machine ID 200"
          % (lab.site_fqdn, lab.site_address, lab.config.shared_path, lab.config.name))
    if "failover" in report:
        print("failover   : %s" % report["failover"])
        print("owner      : before %s -> after %s" % (report.get("owner_before"), report.get("owner_after")))
        print("recovery   : %s s" % report.get("recovery_s"))
        print("jobs       :")
        for line in report.get("jobs", []):
            print("  " + line)
    for name, seconds, changed in report["times"]:
        print("%-30s %6.1f s%s" % (name, seconds, "" if changed is None else "   changed=%d" % changed))
    if "rerun_changed" in report:
        print("re-run     : changed=%d (%s)" % (report["rerun_changed"],
                                                "idempotent" if report["rerun_changed"] == 0 else "NOT idempotent"))
    print("total      : %.1f s" % total)
    print("=" * 72)


if __name__ == "__main__":
    sys.exit(main())
