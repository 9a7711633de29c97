"""What every command shares: the ``--root`` option and error-to-exit-status mapping."""

import argparse
import os
import sys

from ..errors import CjcError, NqsFatal, UsageError
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


def run(prog, body, argv):
    """Call ``body(argv)``; print a CjcError as one line on stderr and return its status."""
    try:
        return body(argv) or 0
    except NqsFatal as err:
        print(str(err), file=sys.stderr)
        return err.exit_status
    except CjcError as err:
        print("%s: %s" % (prog, err), file=sys.stderr)
        return err.exit_status
    except OSError as err:  # what a check before it did not foresee (a permission, a vanished disk)
        print("%s: %s" % (prog, err), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("%s: interrupted" % prog, file=sys.stderr)
        return 130
