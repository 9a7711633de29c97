"""``nqsportkpr <address>``: hold the NQS port of a site until its netdaemon takes it.

The guide (§3.1.3, §4.1.3) puts it first in a cluster product's start commands; it
returns as soon as the port is held (a background keeper holds it) and the keeper
exits once the site's netdaemon has taken the listening socket over.
``<address>`` is the site's IP address or its site name. The port is
``--port``, else the site's ``nqs_port`` in its daemon.conf, else 607.
"""

import os
import socket
import sys

from ..config.daemonconf import NQS_PORT_DEFAULT, SITE, load_daemon_conf
from ..errors import CjcError, UsageError
from ..site.names import link_name
from ..net.portkeeper import PortKeeper, keeper_present
from ..site.registry import cluster_site
from .common import Parser, layout_of
from .exits import run

PROG = "nqsportkpr"


def site_port(layout, address):
    link = os.path.join(layout.spool, link_name(address))
    if os.path.islink(link):
        settings, _diagnostics = load_daemon_conf(cluster_site(os.readlink(link)).daemon_conf, SITE)
        if "nqs_port" in settings:
            return int(settings["nqs_port"])
    return NQS_PORT_DEFAULT


def _body(argv):
    parser = Parser(PROG, "Hold the NQS port of a site address until the site's netdaemon takes it.")
    parser.add_argument("address", help="the site's IP address or site name")
    parser.add_argument("--port", type=int, help="port to hold (default: the site's nqs_port, else 607)")
    args = parser.parse_args(argv)
    layout = layout_of(args)
    if args.port is not None and not 1 <= args.port <= 65535:
        raise UsageError("--port %d: use a TCP port number from 1 to 65535" % args.port)
    try:
        address = socket.gethostbyname(args.address)
    except (socket.gaierror, socket.herror, UnicodeError):
        raise CjcError("%s does not resolve to an address" % args.address)
    port = args.port if args.port is not None else site_port(layout, address)
    if keeper_present(layout, address, port):
        print("%s: port %d on %s is already held by nqsportkpr" % (PROG, port, address))
        return 0
    try:
        keeper = PortKeeper(layout, address, port)
    except OSError as err:
        raise CjcError("cannot hold port %d on %s: %s (another process uses it, or the address is not "
                       "on this node)" % (port, address, err.strerror or err))
    if os.fork() != 0:
        print("%s: holding port %d on %s until the site's netdaemon takes it" % (PROG, port, address))
        return 0
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    try:
        keeper.serve_until_taken()
    finally:
        os._exit(0)


def main(argv=None):
    return run(PROG, _body, sys.argv[1:] if argv is None else argv)
