"""``cjcls``: list the cluster sites of this node and their state (guide §2.5.3).

The table form of the guide::

    ----------------------------------------------------------------------
    SITE-NAME                 DAEMON-PID    DB-PATH(LINK)                  CJCPW
    ----------------------------------------------------------------------
    testsite                  1320          /mnt/jobdb                        ON
                                            (/usr/spool/nqs/0AC0120A)
    ----------------------------------------------------------------------
"""

import sys

from ..site.listing import format_table
from ..site.registry import Registry
from .common import Parser, layout_of
from .exits import run

PROG = "cjcls"


def _body(argv):
    parser = Parser(PROG, "List the cluster sites registered on this node with their state.")
    args = parser.parse_args(argv)
    layout = layout_of(args)
    sys.stdout.write(format_table(Registry(layout).cluster))
    return 0


def main(argv=None):
    return run(PROG, _body, sys.argv[1:] if argv is None else argv)
