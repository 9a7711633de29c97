"""``cjcmksite <site-name> <machine-id> <db-path>``: make a cluster site (guide §2.3(6))."""

import sys

from ..plan.mksite import make_site, plan_mksite
from .common import Parser, layout_of
from .exits import run

PROG = "cjcmksite"


def _body(argv):
    parser = Parser(PROG, "Make the site database of a cluster site on the active node.")
    parser.add_argument("site_name", help="canonical host name of the relocatable IP address")
    parser.add_argument("machine_id", help="machine ID, unique among cooperating sites")
    parser.add_argument("db_path", help="site database path on the shared disk")
    parser.add_argument("--mount-point", metavar="DIR",
                        help="refuse unless DIR is a mounted file system holding db_path")
    args = parser.parse_args(argv)
    layout = layout_of(args)
    plan = plan_mksite(layout, args.site_name, args.machine_id, args.db_path, args.mount_point)
    make_site(layout, plan, report=lambda line: print(line, flush=True))
    return 0


def main(argv=None):
    return run(PROG, _body, sys.argv[1:] if argv is None else argv)
