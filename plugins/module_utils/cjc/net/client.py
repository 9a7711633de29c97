"""How a user command reaches a site: the same requests, two routes.

Root opens the site database and calls :func:`..jobs.requests.serve_request` itself (so
qsub/qstat/qmgr work while the site is down, as the installer and tests need);
any other user asks the site's nqsdaemon over its local socket (:mod:`..site.endpoints`),
where the caller is identified by the kernel (SO_PEERCRED), never by the request, and
the client in turn talks only to a server running as root: one connect, one round trip.
The store, SQLite and the request handlers are imported on root's route only: a user
command's cost is mostly its imports (docs/job-engine.md, "Command start").
"""

import os
import socket

from . import wire
from ..errors import NqsError
from ..site import endpoints

WRITES = ("submit", "submit_many", "delete", "qmgr")


class SiteClient:
    """``SiteClient(layout, site).call("submit", script=...)`` -> the reply dict, or NqsError."""

    def __init__(self, layout, site, timeout=30.0):
        self.layout, self.site = layout, site
        self.timeout = timeout
        self.store = None

    def call(self, op, **args):
        request = {"op": op, "args": args}
        reply = self._serve_as_root(request) if os.geteuid() == 0 else self._ask_daemon(request)
        if not reply.get("ok"):
            raise NqsError(reply.get("error") or "request refused")
        return reply

    def _serve_as_root(self, request):
        from ..jobs.requests import Caller, poke, serve_request  # root only: see the module's docstring
        from ..jobs.store import open_store
        if self.store is None:
            self.store = open_store(self.site.spool)
        reply = serve_request(self.store, Caller.current(), request)
        if reply.get("ok") and request["op"] in WRITES:
            poke(self.layout, self.site.spool)
        return reply

    def _ask_daemon(self, request):
        try:
            frame = wire.encode(request)
        except wire.FrameError as err:
            raise NqsError("request not sent: %s (submit fewer or smaller scripts per call)" % err)
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
            sock.sendall(frame)
            return wire.recv_message(sock)
        except (OSError, wire.FrameError) as err:
            raise NqsError("no answer from the nqsdaemon of site %s: %s" % (self.site.name, err))
        finally:
            sock.close()

    def close(self):
        if self.store is not None:
            self.store.close()
            self.store = None
