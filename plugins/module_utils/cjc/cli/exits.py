"""What every command shares: a CjcError becomes one line on stderr and an exit status."""

import sys

from ..errors import CjcError, NqsFatal


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
