"""``cjcrestore <backup-dir> <db-path>``: make a cluster site from a backup (plan/restore.py) at a
fresh DB path, with every check of cjcmksite (guide §2.3(6)). docs/backup.md."""

import sys

from ..plan.restore import plan_restore, restore_site
from .common import Parser, layout_of, require_root
from .exits import run

PROG = "cjcrestore"


def _body(argv):
    parser = Parser(PROG, "Restore a cluster site from a cjcbackup backup into a fresh site DB path.")
    parser.add_argument("backup", help="a backup directory written by cjcbackup")
    parser.add_argument("db_path", help="the fresh site database path on the shared disk")
    parser.add_argument("--mount-point", metavar="DIR", help="refuse unless DIR is a mounted file system holding db_path")
    args = parser.parse_args(argv)
    require_root(PROG)
    layout = layout_of(args)
    plan = plan_restore(layout, args.backup, args.db_path, args.mount_point)
    restore_site(layout, plan, report=lambda line: print(line, flush=True))
    return 0


def main(argv=None):
    return run(PROG, _body, sys.argv[1:] if argv is None else argv)
