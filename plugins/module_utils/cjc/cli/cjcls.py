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

from ..sites import Registry
from .common import Parser, layout_of, run

PROG = "cjcls"
RULE = "-" * 70
NAME_W, PID_W, PATH_W = 26, 14, 31


def _cell(text, width):
    """Left-align ``text`` in ``width`` columns, keeping at least one blank after it."""
    return text.ljust(width) if len(text) < width else text + " "


def format_table(sites):
    lines = [RULE, _cell("SITE-NAME", NAME_W) + _cell("DAEMON-PID", PID_W)
             + _cell("DB-PATH(LINK)", PATH_W) + "CJCPW", RULE]
    for site in sites:
        pid = site.daemon_pid()
        row = _cell(site.name, NAME_W) + _cell(str(pid) if pid else "SHUT", PID_W) + _cell(site.db_path, PATH_W)
        lines.append(row + ("ON" if site.cjcpw_pid() else "OFF").rjust(5))
        lines.append(" " * (NAME_W + PID_W) + "(%s)" % site.link)
    lines.append(RULE)
    return "\n".join(lines) + "\n"


def _body(argv):
    parser = Parser(PROG, "List the cluster sites registered on this node with their state.")
    args = parser.parse_args(argv)
    layout = layout_of(args)
    sys.stdout.write(format_table(Registry(layout).cluster))
    return 0


def main(argv=None):
    return run(PROG, _body, sys.argv[1:] if argv is None else argv)
