"""comagent: the site's status endpoint, HTTP/JSON (guide §2.1.4).

``comagent --root ROOT --site local|DB-PATH`` (installed at ``/usr/lib/nqs/combase/comagent``).

``GET /status`` answers :func:`site_status` as JSON, ``GET /health``
answers ``{"ok": true}``. It listens on the site's ``ipaddress`` and on a loopback
address of its own: ``127.<b>.<c>.<d>`` for a site address ``a.b.c.d``
(``127.0.0.1`` for the local site), so several sites on one node never collide on
loopback; the port is the site's ``comagent_port`` (default 611).

Clients are served concurrently by :class:`..net.server.Server` (one request per
connection, ``Connection: close``; head at most 8 KiB; 64 connections, 16 per address,
5 s from accept to the last reply byte), so a slow or flooding client delays no one.
The cluster's monitor does not share that door: a thread of its own answers the
site's root-only ``health`` socket (:mod:`..site.endpoints`, mode 0600) with whether
the HTTP loop is turning, so no client can make the monitor time out.
"""

import http
import json
import os
import selectors
import socket
import sys
import threading

from ..site import endpoints, pidrecords
from ..config.daemonconf import comagent_endpoints
from ..site.log import DaemonLog
from ..errors import CjcError
from ..jobs.requests import list_jobs, queue_status
from ..jobs.store import RUNNING
from ..site.status import read_status
from ..jobs.store import open_store
from ..net import wire
from ..net.server import Limits, Server, per_thread
from . import DaemonArgs, SignalReceiver

NAME = "comagent"
MAX_HEAD = 8192
LIMITS = Limits(deadline=5.0, max_connections=64, max_per_peer=16, workers=2)
LOOP_STALE = 5.0  # the HTTP loop turns every 0.5 s; not for this long means it is stuck


def site_status(site, store):
    """The site's own status (:func:`read_status`) with its queues and running jobs."""
    return dict(read_status(site), queues=[q._asdict() for q in queue_status(store)],
                running_jobs=[job for job in list_jobs(store) if job["state"] == RUNNING])


class HttpProtocol:
    """The little HTTP comagent speaks: one GET, one JSON answer, then the connection closes."""

    @staticmethod
    def parse(buffer):
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > MAX_HEAD:
                raise wire.FrameError("request head longer than %d bytes" % MAX_HEAD)
            return None
        words = buffer[:end].split(b"\r\n", 1)[0].decode("latin-1").split()
        if len(words) != 3 or not words[2].startswith("HTTP/"):
            raise wire.FrameError("not an HTTP request line")
        return {"method": words[0], "path": words[1]}

    @staticmethod
    def encode(answer):
        code, body = answer
        data = (json.dumps(body, sort_keys=True, default=str) + "\n").encode()
        head = ("HTTP/1.0 %d %s\r\nServer: cjc-comagent\r\nContent-Type: application/json\r\n"
                "Content-Length: %d\r\nConnection: close\r\n\r\n" % (code, http.HTTPStatus(code).phrase, len(data)))
        return head.encode("latin-1") + data

    @classmethod
    def refusal(cls, why):
        return cls.encode((503, {"error": why}))


class ComAgent:
    def __init__(self, layout, site, log):
        self.layout, self.site, self.log = layout, site, log
        self.store = per_thread(lambda: open_store(site.spool))
        self.health_path = endpoints.endpoint(layout, site.spool, "health")
        self.health = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)

    def listen(self):
        listeners = []
        for address, port in comagent_endpoints(self.site):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((address, port))
                sock.listen(128)
            except OSError as err:
                sock.close()
                raise CjcError("comagent cannot listen on %s:%d: %s" % (address, port, err.strerror or err))
            listeners.append(sock)
        endpoints.bind(self.health, self.layout, self.health_path, endpoints.PRIVATE)
        self.health.listen(8)
        self.server = Server(listeners, HttpProtocol, lambda _sock, peer: (peer[0], None), self._answer,
                             self.log, LIMITS, NAME).serve_in_thread()
        threading.Thread(target=self._serve_health, name="health", daemon=True).start()
        return ["%s:%d" % sock.getsockname()[:2] for sock in listeners]

    def _answer(self, _context, request):
        if request["method"] != "GET":
            return 405, {"error": "method %s not allowed; use GET" % request["method"]}
        if request["path"] == "/health":
            return 200, {"ok": True}
        if request["path"] == "/status":
            return 200, site_status(self.site, self.store())
        return 404, {"error": "unknown path %s; use /status or /health" % request["path"]}

    def _serve_health(self):
        """The monitor's own door: only root connects (0600), each gets one line at once."""
        while True:
            try:
                conn, _addr = self.health.accept()
            except OSError:
                continue
            with conn:
                try:
                    conn.settimeout(1.0)
                    if endpoints.peer_uid(conn) != 0:
                        continue
                    answer = {"ok": True}
                    if not self.server.is_alive(LOOP_STALE):
                        answer = {"ok": False, "error": "the HTTP loop has not turned for %.0f s" % LOOP_STALE}
                    conn.sendall(json.dumps(answer).encode() + b"\n")
                except OSError:
                    pass

    def finish(self):
        endpoints.unlink(self.health_path)
        self.server.stop()


def serve(layout, site, log):
    agent = ComAgent(layout, site, log)
    where = agent.listen()
    selector = selectors.DefaultSelector()
    signals = SignalReceiver(selector)
    record = site.record_path("comagent.pid")
    pidrecords.write_record(record, os.getpid())  # serving from here on
    log.info("serving on %s" % ", ".join(where))
    try:
        while not signals.pending:
            if selector.select(5.0):
                signals.drain()
    finally:
        pidrecords.remove_record(record, os.getpid())
        agent.finish()
    log.info("stopped")


def main(argv=None):
    parser = DaemonArgs(NAME, "Status endpoint of a site (HTTP/JSON).")
    try:
        _args, layout, site = parser.parse_site(argv)
        log = DaemonLog(layout, site.spool, NAME)
        serve(layout, site, log)
        return 0
    except CjcError as err:
        print("%s: %s" % (NAME, err), file=sys.stderr)
        return err.exit_status


if __name__ == "__main__":
    sys.exit(main())
