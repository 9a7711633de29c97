"""What the NQS user commands share (private): the site from NQS_SITE and its client."""

import sys

from ..errors import NqsError
from ..net.client import SiteClient
from ..site.nqs_site import resolve_nqs_site
from ..config.layout import layout_from


def client_for(args, prog):
    """The SiteClient of the site NQS_SITE names (guide §2.5.2), or NqsFatal."""
    layout = layout_from(args.root)
    return SiteClient(layout, resolve_nqs_site(layout, prog))


def request_label(job_id, site):
    return "%d.%s" % (job_id, site.name)


def call_each(client, prog, calls):
    """Make every ``(op, args)`` call of ``calls`` on ``client``, in order, printing each reply's
    message; a refused call is printed on stderr as ``prog: reason`` and the next one still
    made. Closes the client. Returns the exit status: 1 when any call was refused, else 0."""
    status = 0
    try:
        for op, args in calls:
            try:
                message = client.call(op, **args)["message"]
                if message:
                    print(message)
            except NqsError as err:
                print("%s: %s" % (prog, err), file=sys.stderr)
                status = 1
    finally:
        client.close()
    return status
