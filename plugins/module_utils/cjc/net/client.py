"""How a user command reaches a site: the same requests, two routes.

Root opens the site database and calls :func:`nqsapi.serve_request` itself (so
qsub/qstat/qmgr work while the site is down, as the installer and tests need);
any other user asks the site's nqsdaemon over its local socket, where the caller
is identified by the kernel (SO_PEERCRED), never by the request.
"""

import os
import socket

from . import wire
from ..site.log import endpoint
from ..jobs.requests import Caller, NqsError, poke, serve_request
from ..jobs.store import open_store

WRITES = ("submit", "delete", "qmgr")


class SiteClient:
    """``SiteClient(site).call("submit", script=...)`` -> the reply dict, or NqsError."""

    def __init__(self, site, timeout=30.0):
        self.site = site
        self.timeout = timeout
        self.store = None

    def call(self, op, **args):
        request = {"op": op, "args": args}
        if os.geteuid() == 0:
            if self.store is None:
                self.store = open_store(self.site.spool)
            reply = serve_request(self.store, Caller.current(), request)
            if reply.get("ok") and op in WRITES:
                poke(self.site.spool)
        else:
            try:
                reply = wire.call(endpoint(self.site.spool, "nqs"), request, self.timeout, socket.AF_UNIX)
            except (ConnectionRefusedError, FileNotFoundError):
                raise NqsError("the nqsdaemon of site %s is not running (only root can act on a stopped site)"
                               % self.site.name)
            except (OSError, wire.FrameError) as err:
                raise NqsError("no answer from the nqsdaemon of site %s: %s" % (self.site.name, err))
        if not reply.get("ok"):
            raise NqsError(reply.get("error") or "request refused")
        return reply

    def close(self):
        if self.store is not None:
            self.store.close()
            self.store = None
