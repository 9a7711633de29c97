"""``cjcbackup <site-name> <dest-dir>``: an online, consistent backup of a cluster site while it
runs (plan/backup.py); ``cjcbackup --check`` says what it would write. docs/backup.md."""

import json
import sys

from ..plan.backup import make_backup, plan_backup
from .common import Parser, layout_of, require_root
from .exits import run

PROG = "cjcbackup"


def _body(argv):
    parser = Parser(PROG, "Back up a cluster site's database and configuration files, while it runs.")
    parser.add_argument("site_name", help="the cluster site (registered on this node, its DB readable here)")
    parser.add_argument("dest", help="directory that receives the backup <site>-<UTC time>/ (not on the site's disk)")
    parser.add_argument("--check", action="store_true", help="write nothing; print what a backup would hold")
    args = parser.parse_args(argv)
    require_root(PROG)
    plan = plan_backup(layout_of(args), args.site_name, args.dest)
    if args.check:
        print("%s: would write %s/%s with %s" % (PROG, plan.dest, plan.name, ", ".join(sorted(plan.files))))
        print(json.dumps({"jobs_by_state": plan.census["jobs_by_state"], "queues": plan.census["queues"]},
                         sort_keys=True))
        return 0
    path, manifest = make_backup(plan)
    print("%s: site %s backed up to %s (%d request(s), %d queue(s))"
          % (PROG, manifest["site"], path, len(manifest["census"]["job_ids"]), len(manifest["census"]["queues"])))
    return 0


def main(argv=None):
    return run(PROG, _body, sys.argv[1:] if argv is None else argv)
