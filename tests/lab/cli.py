"""Command line of the lab: ``tests/lab/cjclab ACTION ...`` (see ``cjclab -h``)."""

import argparse
import glob
import json
import os
import shlex
import sys
import time

from .core import Lab, LabConfig, LabError

_HELP = """\
actions:
  up [--pacemaker]      make the lab (down first); prints how to enter the nodes
  down                  remove everything the lab made
  status [--json]       namespaces, addresses, site address owner, processes
  nsx NODE CMD...       run CMD on NODE (its net + mount + UTS namespaces)
  enter NODE            interactive shell on NODE
  hub CMD...            run CMD in the hub (client) namespace
  move-vip NODE         put the site address on NODE only
  kill-node NODE        link down + SIGKILL every process of NODE
  revive-node NODE      "reboot" NODE: clean /run, link up (and cluster stack)
  inventory             print the path of the Ansible inventory
  list                  labs with state under /tmp/cjclab-* (yours and others')

environment: CJCLAB_NAME (default cjclab), CJCLAB_BASE (default /tmp/cjclab-NAME),
CJCLAB_NODES (default "node1 node2").
"""


def _parser():
    p = argparse.ArgumentParser(prog="cjclab", description=__doc__, epilog=_HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--name", default=os.environ.get("CJCLAB_NAME", "cjclab"),
                   help="lab name, prefix of its namespaces (default %(default)s)")
    p.add_argument("--base", default=os.environ.get("CJCLAB_BASE", ""),
                   help="state directory (default /tmp/cjclab-NAME)")
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = sub.add_parser("up")
    up.add_argument("--nodes", default=os.environ.get("CJCLAB_NODES", "node1 node2"),
                    help="node names, space or comma separated; the first is the active one")
    up.add_argument("--subnet", default="10.213.0.0/24")
    up.add_argument("--site", default="testsite", help="short site name (default %(default)s)")
    up.add_argument("--domain", default="cjclab.example")
    up.add_argument("--vip-host", type=int, default=100,
                    help="host part of the site address (default %(default)s)")
    up.add_argument("--shared-path", default="/mnt/jobdb-disk")
    up.add_argument("--connection", choices=("ssh", "local"),
                    default=os.environ.get("CJCLAB_CONNECTION", "ssh"),
                    help="Ansible connection written to the inventory")
    up.add_argument("--vip-on", metavar="NODE", help="start with the site address on NODE")
    up.add_argument("--pacemaker", action="store_true",
                    help="also run Corosync + Pacemaker (stonith-enabled=false: lab only)")
    up.add_argument("--token-ms", type=int, default=3000, help="corosync token (pacemaker)")
    sub.add_parser("down")
    st = sub.add_parser("status")
    st.add_argument("--json", action="store_true")
    for name in ("nsx", "hub"):
        s = sub.add_parser(name)
        if name == "nsx":
            s.add_argument("node")
        s.add_argument("cmd", nargs=argparse.REMAINDER)
    sub.add_parser("enter").add_argument("node")
    for name in ("move-vip", "kill-node", "revive-node"):
        sub.add_parser(name).add_argument("node")
    sub.add_parser("inventory")
    sub.add_parser("list")
    return p


def _existing(args):
    base = args.base or "/tmp/cjclab-%s" % args.name
    return Lab.load(base)


def _print_enter(lab):
    print("lab %s is up (%s); inventory: %s" % (lab.config.name, lab.base, lab.inventory_path))
    print("site %s = %s, shared disk %s on every node"
          % (lab.site_fqdn, lab.site_address, lab.config.shared_path))
    for n in lab.node_names:
        print("  enter %s: %s bash" % (n, shlex.join(lab.nsenter_argv(n)[:-1])))


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        if args.action == "up":
            nodes = tuple(x for x in args.nodes.replace(",", " ").split() if x)
            cfg = LabConfig(name=args.name, base=args.base, nodes=nodes, subnet=args.subnet,
                            site=args.site, domain=args.domain, vip_host=args.vip_host,
                            shared_path=args.shared_path, connection=args.connection)
            t0 = time.monotonic()
            lab = Lab(cfg).up(pacemaker=args.pacemaker,
                              pacemaker_options={"token_ms": args.token_ms})
            if args.vip_on:
                lab.move_vip(args.vip_on)
            _print_enter(lab)
            print("up in %.2f s" % (time.monotonic() - t0))
        elif args.action == "down":
            base = args.base or "/tmp/cjclab-%s" % args.name
            try:
                lab = Lab.load(base)
            except LabError:
                lab = Lab(LabConfig(name=args.name, base=args.base,
                                    nodes=tuple(os.environ.get("CJCLAB_NODES",
                                                               "node1 node2").split())))
            lab.down()
        elif args.action == "status":
            try:
                lab = _existing(args)
            except LabError:
                print(json.dumps({"name": args.name, "up": False}) if args.json
                      else "lab %s is down" % args.name)
                return 3
            st = lab.status()
            if args.json:
                print(json.dumps(st, indent=2))
            else:
                _print_status(st)
            return 0 if st["up"] else 3
        elif args.action in ("nsx", "hub", "enter"):
            lab = _existing(args)
            if args.action == "hub":
                argv_ = lab.hub_argv() + (args.cmd or ["bash"])
            else:
                argv_ = lab.nsenter_argv(args.node) + (
                    ["bash", "-l"] if args.action == "enter" else (args.cmd or ["bash"]))
                lab.node(args.node)
            os.execvp(argv_[0], argv_)
        elif args.action == "move-vip":
            _existing(args).move_vip(args.node)
        elif args.action == "kill-node":
            _existing(args).kill_node(args.node)
        elif args.action == "revive-node":
            _existing(args).revive_node(args.node)
        elif args.action == "inventory":
            print(_existing(args).inventory_path)
        elif args.action == "list":
            for state in sorted(glob.glob("/tmp/cjclab-*/lab.json")):
                try:
                    lab = Lab.load(os.path.dirname(state))
                except LabError:
                    continue
                print("%-20s %-5s %s" % (lab.config.name, "up" if lab.is_up() else "down",
                                         lab.base))
    except LabError as exc:
        print("cjclab: %s" % exc, file=sys.stderr)
        return 1
    return 0


def _print_status(st):
    print("lab %s: %s  (%s)" % (st["name"], "up" if st["up"] else "DOWN", st["base"]))
    if not st["up"]:
        return
    print("site %s = %s on: %s" % (st["site"], st["site_address"],
                                   ", ".join(st["vip_owners"]) or "no node"))
    for name, n in st["nodes"].items():
        print("  %-8s %-15s %-6s link %-4s processes %-3d addresses %s"
              % (name, n["address"], "KILLED" if n["down"] else "alive",
                 "up" if n["link_up"] else "DOWN", n["processes"], " ".join(n["addresses"])))
    if st.get("pacemaker"):
        print(st["pacemaker"])


if __name__ == "__main__":
    sys.exit(main())
