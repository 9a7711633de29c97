"""``cjcpw``: start, supervise and stop a cluster site (guide §2.1.4, §2.3(7), §3.1.2).

    cjcpw <site> <db-path>        own the site and supervise it in the foreground
    cjcpw -c <site> <db-path>     start it and return once serving (no supervision)
    cjcpw -stop <site>            stop it orderly, bounded by site.conf

Exit statuses: 0 stopped on request, 1 error, 2 usage, 3 a daemon died (the site
was stopped), 4 the start failed or exceeded BOOT_TIMEOUT, 5 the site is owned by
another live cjcpw (here or on a node sharing the disk).
"""

import os
import sys

from ..site.log import DaemonLog
from ..errors import SiteError
from ..supervise.owner import run_monitored, start_detached, stop_site
from ..site.registry import Registry, plan_register, register_link
from ..site.status import daemon_pid, read_status
from .common import Parser, layout_of, require_root
from .exits import run

PROG = "cjcpw"


def _normalise(argv):
    """Accept the guide's typographic dash: ``–stop``, ``–c`` (copied from the PDF)."""
    return ["-" + arg[1:] if arg[:1] in ("\u2013", "\u2212") else arg for arg in argv]


def registered_site(layout, name, db_path, report):
    """The site of ``db_path``; registers its link first on a node that lacks it (a standby)."""
    site, link, missing = plan_register(layout, db_path, name)
    if missing:
        try:
            register_link(link, site.db_path)
        except OSError as err:  # e.g. a --root / CJC_ROOT where the engine is not installed
            raise SiteError("cannot register site %s on this node: %s: %s (is the engine installed under "
                            "root %s?)" % (site.name, os.path.dirname(link), err.strerror, layout.root))
        report("cjcpw: registered site %s on this node: %s -> %s" % (site.name, link, site.db_path))
    return site


def print_stop_report(site, report, prog=PROG):
    if report is None:
        print("%s: site %s is not running on this node" % (prog, site.name))
        return
    forced = " (forced: SIGKILL to %d process(es): %s)" % (len(report.forced), " ".join(map(str, report.forced))) \
        if report.forced else ""
    print("%s: site %s stopped in %.2f s%s" % (prog, site.name, report.seconds, forced))
    if report.leftovers:
        print("%s: still running after STOP_TIMEOUT: %s" % (prog, " ".join(map(str, report.leftovers))),
              file=sys.stderr)


def _body(argv):
    parser = Parser(PROG, "Start, supervise or stop a cluster site.")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("-c", dest="detach", action="store_true", help="start and return once serving")
    mode.add_argument("-stop", dest="stop", metavar="SITE", help="stop the site orderly")
    parser.add_argument("site", nargs="?", help="site name")
    parser.add_argument("db_path", nargs="?", help="site database path")
    args = parser.parse_args(_normalise(argv))
    require_root(PROG)
    layout = layout_of(args)
    if args.stop:
        if args.site:
            parser.error("-stop takes only the site name")
        site = Registry(layout).require(args.stop)
        report = stop_site(site, DaemonLog(layout, site.spool, PROG))
        print_stop_report(site, report)
        return 1 if report and report.leftovers else 0
    if args.site and not args.db_path and args.site.startswith("/"):
        args.site, args.db_path = None, args.site  # the guide's `cjcpw -c /mnt/jobdb`
    if not args.db_path:
        parser.error("give the site name and the site database path")
    site = registered_site(layout, args.site, args.db_path, print)
    if args.detach:
        start_detached(layout, site)
        print("cjcpw: site %s started (daemon pid %s)" % (site.name, daemon_pid(read_status(site))))
        return 0
    return run_monitored(layout, site, DaemonLog(layout, site.spool, PROG, tee=True))


def main(argv=None):
    return run(PROG, _body, sys.argv[1:] if argv is None else argv)
