"""``qsub [-q QUEUE] [-r NAME] [-nr] [-v VAR[=VALUE],...] [-x] [-s SHELL] [SCRIPT]``: submit a job.

The script comes from the file SCRIPT, or from standard input. The job runs as
the submitting user on the site NQS_SITE names (guide §2.5.2); ``-nr`` marks it not
restartable (restart DISABLE, guide §2.5.4).
"""

import base64
import os
import sys

from ..errors import UsageError
from .common import Parser, run
from ._nqs import client_for, request_label

PROG = "qsub"


def _environment(args):
    env = {}
    if args.export_all:
        env.update(os.environ)
        env.pop("NQS_SITE", None)
    for item in args.variables:
        for part in item.split(","):
            key, eq, value = part.partition("=")
            if not key:
                raise UsageError("-v %s: expected VAR or VAR=VALUE" % item)
            if eq:
                env[key] = value
            elif key in os.environ:
                env[key] = os.environ[key]
    return env


def _body(argv):
    parser = Parser(PROG, "Submit a batch request (job) to a queue of the site NQS_SITE names.")
    parser.add_argument("-q", dest="queue", help="queue (default guilb_def)")
    parser.add_argument("-r", dest="name", help="request name (default: the script's name, or STDIN)")
    parser.add_argument("-nr", dest="no_restart", action="store_true",
                        help="not restartable: deleted instead of re-run after a failover")
    parser.add_argument("-v", dest="variables", action="append", default=[],
                        help="export VAR (from this environment) or VAR=VALUE to the job")
    parser.add_argument("-x", dest="export_all", action="store_true", help="export this whole environment")
    parser.add_argument("-s", dest="shell", help="shell that runs the script (default /bin/sh)")
    parser.add_argument("script", nargs="?", help="script file (default: standard input)")
    args = parser.parse_args(argv)
    if args.queue and "@" in args.queue:
        raise UsageError("submit to a pipe queue whose destination is %s (qmgr create pipe_queue ... "
                         "destination=%s)" % (args.queue, args.queue))
    client = client_for(args, PROG)
    if args.script:
        try:
            with open(args.script, "rb") as handle:
                script = handle.read()
        except OSError as err:
            raise UsageError("cannot read the script %s: %s" % (args.script, err.strerror))
        name = args.name or os.path.basename(args.script)
    else:
        script = sys.stdin.buffer.read()
        name = args.name or "STDIN"
    reply = client.call("submit", script_base64=base64.b64encode(script).decode("ascii"), queue=args.queue, name=name,
                        restart="DISABLE" if args.no_restart else "ENABLE", env=_environment(args),
                        shell=args.shell)
    client.close()
    print("Request %s submitted to queue: %s." % (request_label(reply["id"], client.site),
                                                  args.queue or "guilb_def"))
    return 0


def main(argv=None):
    return run(PROG, _body, sys.argv[1:] if argv is None else argv)
