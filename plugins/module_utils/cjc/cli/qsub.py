"""``qsub [-q QUEUE] [-r NAME] [-nr] [-v VAR[=VALUE],...] [-x] [-s SHELL] [-t FIRST-LAST[:STEP]] [SCRIPT...]``.

Submits one job per SCRIPT, or one from standard input. The jobs run as the submitting
user on the site NQS_SITE names (guide §2.5.2); ``-nr`` marks them not restartable
(restart DISABLE, guide §2.5.4). ``-t`` submits each script once per index, the index in
the job's ``QSUB_INDEX``. One call is one transaction, all or nothing, and one round trip
(docs/job-engine.md, "Bulk submission").
"""

import binascii
import os
import sys

from ..errors import UsageError
from .exits import run
from .options import Options
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


def index_range(text):
    """``[first, last, step]`` of ``-t FIRST-LAST[:STEP]`` (or ``-t N``), or UsageError."""
    span, _colon, step = text.partition(":")
    first, _dash, last = span.partition("-")
    numbers = [first, last or first, step or "1"]
    if not all(n.isdigit() and n.isascii() for n in numbers):
        raise UsageError("-t %s: expected FIRST-LAST[:STEP], like 1-1000 or 0-99:2" % text)
    return [int(n) for n in numbers]


def _scripts(args):
    """``[(script bytes, name)]``: each SCRIPT file, or standard input when none is named."""
    if not args.scripts:
        return [(sys.stdin.buffer.read(), args.name or "STDIN")]
    scripts = []
    for path in args.scripts:
        try:
            with open(path, "rb") as handle:
                scripts.append((handle.read(), args.name or os.path.basename(path)))
        except OSError as err:
            raise UsageError("cannot read the script %s: %s" % (path, err.strerror))
    return scripts


def _body(argv):
    parser = Options(PROG, "Submit batch requests (jobs) to a queue of the site NQS_SITE names: one per SCRIPT "
                           "(or one from standard input), each once per index with -t; all or none.")
    parser.add_argument("-q", dest="queue", help="queue (default guilb_def)")
    parser.add_argument("-r", dest="name", help="request name (default: the script's name, or STDIN)")
    parser.add_argument("-nr", dest="no_restart", action="store_true",
                        help="not restartable: deleted instead of re-run after a failover")
    parser.add_argument("-v", dest="variables", action="append", default=[], metavar="VAR[=VALUE],...",
                        help="export VAR (from this environment) or VAR=VALUE to the job")
    parser.add_argument("-x", dest="export_all", action="store_true", help="export this whole environment")
    parser.add_argument("-s", dest="shell", help="shell that runs the script (default /bin/sh)")
    parser.add_argument("-t", dest="indices", type=index_range, metavar="FIRST-LAST[:STEP]",
                        help="submit each script once per index, the index in the job's QSUB_INDEX")
    parser.add_argument("scripts", nargs="*", metavar="SCRIPT", help="script files (default: standard input)")
    args = parser.parse_args(argv)
    if args.queue and "@" in args.queue:
        raise UsageError("submit to a pipe queue whose destination is %s (qmgr create pipe_queue ... "
                         "destination=%s)" % (args.queue, args.queue))
    client = client_for(args, PROG)
    jobs = [{"script_base64": binascii.b2a_base64(script, newline=False).decode("ascii"), "name": name}
            for script, name in _scripts(args)]
    try:
        reply = client.call("submit_many", jobs=jobs, queue=args.queue, restart="DISABLE" if args.no_restart else "ENABLE",
                            env=_environment(args), shell=args.shell, indices=args.indices)
    finally:
        client.close()
    queue = args.queue or "guilb_def"
    sys.stdout.write("".join("Request %s submitted to queue: %s.\n" % (request_label(job_id, client.site), queue)
                             for job_id in reply["ids"]))
    return 0


def main(argv=None):
    return run(PROG, _body, sys.argv[1:] if argv is None else argv)
