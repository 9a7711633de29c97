"""``nqsstart [site]``: start the daemons of a site (no argument: the local site).

Under a live ``cjcpw`` the daemons are started by it without disturbing it (guide
§2.5.5); with no owner, a detached owner is started (CJCPW stays OFF in cjcls).
"""

import sys

from ..errors import SiteError
from ..supervise.owner import UP, live_owner, request_daemons, site_timings, start_detached
from ..site.ownership import describe_owner, is_owned
from ..site.log import DaemonLog
from ..site.registry import Registry
from ..site.status import daemon_pid, read_status
from .common import Parser, layout_of, require_root
from .exits import run

PROG = "nqsstart"


def chosen_site(layout, name):
    registry = Registry(layout)
    return registry.local if name is None else registry.require(name)


def _body(argv):
    parser = Parser(PROG, "Start the daemons of a site (default: the local site).")
    parser.add_argument("site", nargs="?", help="cluster site name (default: the local site)")
    args = parser.parse_args(argv)
    require_root(PROG)
    layout = layout_of(args)
    site = chosen_site(layout, args.site)
    if not site.available:
        raise SiteError("site %s has no readable database at %s" % (site.name, site.db_path))
    owner = live_owner(site)
    if owner:
        timings = site_timings(site, DaemonLog(layout, site.spool, PROG))
        request_daemons(site, UP, timings.boot_timeout + 5)
    elif is_owned(site):
        raise SiteError("site %s is owned by %s; start it there" % (site.name, describe_owner(owner)))
    else:
        start_detached(layout, site, PROG)
    print("%s: site %s started (daemon pid %s)" % (PROG, site.name, daemon_pid(read_status(site))))
    return 0


def main(argv=None):
    return run(PROG, _body, sys.argv[1:] if argv is None else argv)
