"""``qmgr [-c COMMAND]...``: manage queues, managers, machine IDs and user mapping.

Commands come from ``-c`` options or, without any, from standard input, one per
line (``qmgr help`` lists them). Only NQS managers may use it: root, and the
users added with ``add managers USER``.
"""

import sys

from .exits import run
from .options import Options
from ._nqs import call_each, client_for

PROG = "qmgr"


def _body(argv):
    parser = Options(PROG, "Manage the queues of the site NQS_SITE names (NQS managers only).")
    parser.add_argument("-c", dest="commands", action="append", default=[], metavar="COMMAND")
    args = parser.parse_args(argv)
    client = client_for(args, PROG)
    commands = args.commands or sys.stdin.read().splitlines()
    return call_each(client, PROG, _calls(commands))


def _calls(commands):
    """The qmgr calls of the command lines: blank and ``#`` lines skipped, ``exit``/``quit`` ends."""
    for line in commands:
        if not line.strip() or line.strip().startswith("#"):
            continue
        if line.strip().lower() in ("exit", "quit"):
            return
        yield "qmgr", {"line": line}


def main(argv=None):
    return run(PROG, _body, sys.argv[1:] if argv is None else argv)
