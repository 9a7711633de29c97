"""How a user command reaches a site: the same requests, two routes.

Root opens the site database and calls :func:`nqsapi.serve_request` itself (so
qsub/qstat/qmgr work while the site is down, as the installer and tests need);
any other user asks the site's nqsdaemon over its local socket (:mod:`..site.endpoints`),
where the caller is identified by the kernel (SO_PEERCRED), never by the request, and
the client in turn talks only to a server running as root: one connect, one round trip.
"""

import os
import socket

from . import wire
from ..site import endpoints
from ..jobs.requests import Caller, NqsError, poke, serve_request
from ..jobs.store import open_store

WRITES = ("submit", "delete", "qmgr")


class SiteClient:
    """``SiteClient(layout, site).call("submit", script=...)`` -> the reply dict, or NqsError."""

    def __init__(self, layout, site, timeout=30.0):
        self.layout, self.site = layout, site
        self.timeout = timeout
        self.store = None

    def call(self, op, **args):
        request = {"op": op, "args": args}
        if os.geteuid() == 0:
            if self.store is None:
                self.store = open_store(self.site.spool)
            reply = serve_request(self.store, Caller.current(), request)
            if reply.get("ok") and op in WRITES:
                poke(self.layout, self.site.spool)
        else:
            reply = self._ask_daemon(request)
        if not reply.get("ok"):
            raise NqsError(reply.get("error") or "request refused")
        return reply

    def _ask_daemon(self, request):
        path = endpoints.endpoint(self.layout, self.site.spool, "nqs")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            try:
                endpoints.connect(sock, path)
            except (ConnectionRefusedError, FileNotFoundError):
                raise NqsError("the nqsdaemon of site %s is not running (only root can act on a stopped site)"
                               % self.site.name)
            uid = endpoints.peer_uid(sock)
            if uid != 0:
                raise NqsError("%s is served by uid %d, not by root: not the nqsdaemon of site %s, "
                               "nothing sent" % (path, uid, self.site.name))
            wire.send_message(sock, request)
            return wire.recv_message(sock)
        except (OSError, wire.FrameError) as err:
            raise NqsError("no answer from the nqsdaemon of site %s: %s" % (self.site.name, err))
        finally:
            sock.close()

    def close(self):
        if self.store is not None:
            self.store.close()
            self.store = None
