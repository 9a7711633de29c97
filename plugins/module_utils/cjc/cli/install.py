"""``python3 -m cjc.cli.install --root DIR``: install the engine and its commands on a node."""

import os
import sys

from ..errors import EngineMismatch
from ..plan.install import LEAN_COMMANDS, install_engine, package_fingerprint
from ..plan.interpreter import check_interpreter, unreachable_by_users
from .common import Parser, layout_of
from .exits import run

PROG = "cjc-install"


def _body(argv):
    parser = Parser(PROG, "Install the cjc engine, its commands and the documented tree.")
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter the commands run with (needs psutil); default: this one")
    parser.add_argument("--local-machine-id", type=int, default=100,
                        help="machine ID of the local site, used when it has none yet (default 100)")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; list the paths a real run would change")
    parser.add_argument("--fingerprint", action="store_true",
                        help="print the fingerprint of this engine package and exit")
    parser.add_argument("--expect", metavar="FINGERPRINT",
                        help="exit 3 unless this engine package has that fingerprint (run the installed "
                             "copy with --check --expect to ask whether a node has a given engine)")
    args = parser.parse_args(argv)
    if args.fingerprint:
        print(package_fingerprint())
        return 0
    if args.expect:
        fingerprint = package_fingerprint()
        if fingerprint != args.expect:
            raise EngineMismatch("this engine package is not the one expected (fingerprint %s, expected %s)"
                                 % (fingerprint, args.expect))
    check_interpreter(args.python)
    blocked = unreachable_by_users(args.python)
    if blocked:
        print("%s: warning: users other than root cannot run %s (%s is closed to them): %s will fail "
              "for them; give --python an interpreter every user can run, such as /usr/bin/python3"
              % (PROG, args.python, blocked, ", ".join(os.path.basename(c) for c in LEAN_COMMANDS)), file=sys.stderr)
    changed = install_engine(layout_of(args), args.python, args.local_machine_id, check=args.check)
    verb = "would change" if args.check else "changed"
    print("%s: %d path(s) %s under %s" % (PROG, len(changed), verb, layout_of(args).root))
    for path in changed:
        print("  " + path)
    return 0


def main(argv=None):
    return run(PROG, _body, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
