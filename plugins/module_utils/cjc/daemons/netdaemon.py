"""netdaemon: the network listener of one site (guide §2.1.4: a child of nqsdaemon).

``netdaemon --root ROOT --site local|DB-PATH``

Listens on the site's ``ipaddress`` and NQS port (``nqs_port``, default 607) and
serves remote submit/status between machine IDs (:mod:`..net.peers`). Connections are
served concurrently by :class:`..net.server.Server`: a connection from an address no
known machine has, beyond 16 open ones per address or 64 in all, is refused as it is
accepted; one request frame per connection, length-limited; a connection that has not
sent its request and read its reply within 5 s is closed; a frame that is oversize,
malformed, from an unknown machine or an unmapped user, or without a valid credential
(:mod:`..net.credential`: no key, mutated, stale, replayed) is refused. Refusals are
logged (naming the source address and the reason) with rate limiting, and no client
delays another. The main thread exits when told (SIGTERM) or when its parent
nqsdaemon is gone.
"""

import os
import selectors
import sys

from ..site import pidrecords
from ..net import wire
from ..site.log import DaemonLog
from ..errors import CjcError
from ..net.credential import CredentialError, node_credentials
from ..net.peers import handle_request, listen_address
from ..net.portkeeper import obtain_listener
from ..net.server import Limits, Refused, Server, per_thread
from ..jobs.store import open_store
from . import DaemonArgs, SignalReceiver

NAME = "netdaemon"
TICK = 1.0
LIMITS = Limits(deadline=5.0, max_connections=64, max_per_peer=16, workers=4)


class NetDaemon:
    def __init__(self, layout, site, log):
        self.layout, self.site, self.log = layout, site, log
        self.credentials = node_credentials(layout)  # checks who sent each request
        self.selector = selectors.DefaultSelector()
        self.signals = None
        self.server = None
        self.parent = os.getppid()
        self.record = site.record_path("netdaemon.pid")
        self.store = per_thread(lambda: open_store(site.spool))

    def start(self):
        address, port = listen_address(self.site, report=self.log.warning)
        try:
            listener = obtain_listener(self.layout, address, port)
        except OSError as err:
            raise CjcError("cannot listen on %s port %d: %s" % (address, port, err))
        self.signals = SignalReceiver(self.selector)
        self.server = Server([listener], wire.FrameProtocol, self._admit, self._serve, self.log, LIMITS,
                             NAME).serve_in_thread()
        pidrecords.write_record(self.record, os.getpid())
        self.log.info("listening on %s port %d for site %s" % (address, port, self.site.name))
        try:
            self.credentials.check()
        except CredentialError as err:
            self.log.warning("every peer request will be refused: %s" % err)

    def run(self):
        while not self.signals.pending:
            if os.getppid() != self.parent:
                self.log.warning("parent nqsdaemon (pid %d) is gone: exiting" % self.parent)
                return
            if self.selector.select(TICK):
                self.signals.drain()

    def _admit(self, _sock, peer):
        """Refused at once unless a known machine has the address, so that idle connections of
        strangers can never use up the connection slots of the registered machines."""
        with self.store().snapshot() as db:
            known = db.execute("SELECT 1 FROM machines WHERE address = ? LIMIT 1", (peer[0],)).fetchone()
        if known is None:
            raise Refused("%s is not the address of a machine known to site %s" % (peer[0], self.site.name))
        return peer[0], peer[0]

    def _serve(self, address, request):
        reply = handle_request(self.store(), self.site, request, address, self.credentials)
        self.log.info("served %s from %s" % (request.get("op"), address))
        return reply

    def finish(self):
        if self.server is not None:
            self.server.stop()
        pidrecords.remove_record(self.record, os.getpid())


def main(argv=None):
    parser = DaemonArgs(NAME, "Network listener of one site.")
    try:
        _args, layout, site = parser.parse_site(argv)
    except CjcError as err:
        print("%s: %s" % (NAME, err), file=sys.stderr)
        return err.exit_status
    log = DaemonLog(layout, site.spool, NAME)
    daemon = NetDaemon(layout, site, log)
    try:
        daemon.start()
        daemon.run()
    except CjcError as err:
        log.error(str(err))
        print("%s: %s" % (NAME, err), file=sys.stderr)
        return 1
    finally:
        daemon.finish()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
