"""What the root-only commands share: their argparse parser with ``--root``, the root check."""

import argparse
import os

from ..errors import CjcError, UsageError
from ..config.layout import layout_from


class Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of exiting, so ``main()`` stays testable."""

    def __init__(self, prog, description, **kwargs):
        super().__init__(prog=prog, description=description, **kwargs)
        self.add_argument("--root", metavar="DIR",
                          help="root prefix of the node's files (default: $CJC_ROOT or /)")

    def error(self, message):
        raise UsageError("%s\n%s" % (message, self.format_usage().strip()))


def layout_of(args):
    return layout_from(args.root)


def require_root(prog):
    """Refuse a root-only command (it starts, stops or makes a site: root's processes and files)."""
    if os.geteuid() != 0:
        raise CjcError("only root can run %s (it acts on the site's daemons and files, which belong to root)" % prog)
