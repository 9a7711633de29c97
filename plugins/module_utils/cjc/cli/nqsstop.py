"""``nqsstop [site]``: stop the daemons of a site (no argument: the local site).

Under a live monitoring ``cjcpw`` only the daemons stop and cjcpw stays (guide
§2.5.5: the cluster is not disturbed); otherwise the whole site stops.
"""

import sys

from ..site.log import DaemonLog
from ..supervise.owner import DOWN, live_owner, request_daemons, site_timings, stop_site
from .cjcpw import print_stop_report
from .common import Parser, layout_of, require_root
from .exits import run
from .nqsstart import chosen_site

PROG = "nqsstop"


def _body(argv):
    parser = Parser(PROG, "Stop the daemons of a site (default: the local site).")
    parser.add_argument("site", nargs="?", help="cluster site name (default: the local site)")
    args = parser.parse_args(argv)
    require_root(PROG)
    layout = layout_of(args)
    site = chosen_site(layout, args.site)
    log = DaemonLog(layout, site.spool, PROG)
    owner = live_owner(site)
    if owner and owner.get("mode") == "cjcpw":
        request_daemons(site, DOWN, site_timings(site, log).total_stop_seconds + 5)
        print("%s: daemons of site %s stopped; cjcpw (pid %d) keeps running" % (PROG, site.name, owner["pid"]))
        return 0
    report = stop_site(site, log)
    print_stop_report(site, report, PROG)
    return 1 if report and report.leftovers else 0


def main(argv=None):
    return run(PROG, _body, sys.argv[1:] if argv is None else argv)
