"""``qdel [-k] REQUEST-ID...``: delete queued requests, signal running ones (SIGTERM; -k SIGKILL).

Only the owner of a request or an NQS manager may delete it. A running request
is signalled as a whole (its process group) by nqsdaemon; its tracker keeps the
output so far and who deleted it.

A REQUEST-ID is ``12`` or ``12.SITE``; SITE must name the site NQS_SITE names (its full or
short name): ``12.othersite`` is refused before anything is deleted, as qdel reaches no
other site.
"""

import signal
import sys

from ..jobs.requestid import parse_request_id
from .exits import run
from .options import Options
from ._nqs import call_each, client_for

PROG = "qdel"


def _body(argv):
    parser = Options(PROG, "Delete requests of the site NQS_SITE names.")
    parser.add_argument("-k", dest="kill", action="store_true", help="SIGKILL running requests (default SIGTERM)")
    parser.add_argument("requests", nargs="+", metavar="REQUEST-ID")
    args = parser.parse_args(argv)
    client = client_for(args, PROG)
    # every ID checked before any is deleted; 12.othersite is not this site's request 12
    ids = [parse_request_id(text, client.site.name) for text in args.requests]
    sig = int(signal.SIGKILL if args.kill else signal.SIGTERM)
    return call_each(client, PROG, (("delete", {"id": job_id, "signal": sig}) for job_id in ids))


def main(argv=None):
    return run(PROG, _body, sys.argv[1:] if argv is None else argv)
