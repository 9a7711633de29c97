"""comagent: the site's status endpoint, HTTP/JSON (guide §2.1.4, SPEC §2.4).

``comagent --root ROOT --site local|DB-PATH`` (installed at ``/usr/lib/nqs/combase/comagent``).

``GET /status`` answers :func:`site_status` as JSON, ``GET /health``
answers ``{"ok": true}``. It listens on the site's ``ipaddress`` and on a loopback
address of its own: ``127.<b>.<c>.<d>`` for a site address ``a.b.c.d``
(``127.0.0.1`` for the local site), so several sites on one node never collide on
loopback; the port is the site's ``comagent_port`` (default 611).
"""

import http.server
import json
import os
import selectors
import sys

from ..site import pidrecords
from ..config.daemonconf import comagent_endpoints
from ..site.log import DaemonLog
from ..errors import CjcError
from ..jobs.requests import list_jobs, queue_status
from ..jobs.store import RUNNING
from ..site.status import read_status
from ..jobs.store import open_store
from . import DaemonArgs, SignalReceiver

NAME = "comagent"


def site_status(site, store):
    """The site's own status (:func:`read_status`) with its queues and running jobs."""
    return dict(read_status(site), queues=[q._asdict() for q in queue_status(store)],
                running_jobs=[job for job in list_jobs(store) if job["state"] == RUNNING])


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "cjc-comagent"
    timeout = 2

    def do_GET(self):
        if self.path == "/health":
            return self._answer(200, {"ok": True})
        if self.path == "/status":
            return self._answer(200, site_status(self.server.site, self.server.store))
        return self._answer(404, {"error": "unknown path %s; use /status or /health" % self.path})

    def _answer(self, code, body):
        data = (json.dumps(body, sort_keys=True, default=str) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):  # requests are not worth a log line each
        pass


def serve(site, log):
    store = open_store(site.spool)
    servers = []
    for address, port in comagent_endpoints(site):
        try:
            server = http.server.HTTPServer((address, port), _Handler, bind_and_activate=False)
            server.allow_reuse_address = True
            server.server_bind()
            server.server_activate()
        except OSError as err:
            raise CjcError("comagent cannot listen on %s:%d: %s" % (address, port, err.strerror or err))
        server.site, server.store, server.timeout = site, store, 2
        servers.append(server)
    selector = selectors.DefaultSelector()
    signals = SignalReceiver(selector, data=None)  # a signal ends the select at once
    for server in servers:
        selector.register(server.socket, selectors.EVENT_READ, server)
    record = site.record_path("comagent.pid")
    pidrecords.write_record(record, os.getpid())  # serving from here on
    log.info("serving on %s" % ", ".join("%s:%d" % s.server_address for s in servers))
    try:
        while not signals.pending:
            for key, _events in selector.select(5.0):
                if key.data is None:
                    signals.drain()
                else:
                    key.data._handle_request_noblock()
    finally:
        pidrecords.remove_record(record, os.getpid())
        for server in servers:
            server.server_close()
        store.close()
    log.info("stopped")


def main(argv=None):
    parser = DaemonArgs(NAME, "Status endpoint of a site (HTTP/JSON).")
    try:
        _args, _layout, site = parser.parse_site(argv)
        log = DaemonLog(site.spool, NAME)
        serve(site, log)
        return 0
    except CjcError as err:
        print("%s: %s" % (NAME, err), file=sys.stderr)
        return err.exit_status


if __name__ == "__main__":
    sys.exit(main())
