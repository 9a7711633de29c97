"""netdaemon: the network listener of one site (guide §2.1.4: a child of nqsdaemon).

``netdaemon --root ROOT --site local|DB-PATH``

Listens on the site's ``ipaddress`` and NQS port (``nqs_port``, default 607) and
serves remote submit/status between machine IDs (:mod:`..netproto`). A connection
from an address no known machine has, or beyond 16 open ones per address, is refused
as it is accepted. One request frame per connection, length-limited; a frame that
is oversize, malformed, too slow (5 s), from an unknown machine or an unmapped user
or without a valid credential (:mod:`..net.credential`: no key, mutated, stale, replayed)
is refused, logged (one line naming the source address and the reason), and the
connection closed -- the daemon keeps serving. It exits when told (SIGTERM) or
when its parent nqsdaemon is gone.
"""

import os
import selectors
import sys
import time

from ..site import pidrecords
from ..net import wire
from ..site.log import DaemonLog
from ..errors import CjcError
from ..net.credential import CredentialError, node_credentials
from ..net.peers import Refused, handle_request, listen_address
from ..net.portkeeper import obtain_listener
from ..jobs.store import open_store
from . import DaemonArgs, SignalReceiver

NAME = "netdaemon"
TICK = 1.0
CONNECTION_TIMEOUT = 5.0
MAX_CONNECTIONS = 64
MAX_PER_ADDRESS = 16


class _Connection:
    def __init__(self, sock, peer):
        self.sock, self.peer = sock, peer
        self.buffer = b""
        self.length = None
        self.deadline = time.monotonic() + CONNECTION_TIMEOUT


class NetDaemon:
    def __init__(self, layout, site, log):
        self.site, self.log = site, log
        self.credentials = node_credentials(layout)  # checks who sent each request
        self.selector = selectors.DefaultSelector()
        self.connections = {}
        self.signals = None
        self.parent = os.getppid()
        self.record = site.record_path("netdaemon.pid")

    def start(self):
        self.store = open_store(self.site.spool)
        address, port = listen_address(self.site, report=self.log.warning)
        try:
            self.listener = obtain_listener(address, port)
        except OSError as err:
            raise CjcError("cannot listen on %s port %d: %s" % (address, port, err))
        self.listener.setblocking(False)
        self.selector.register(self.listener, selectors.EVENT_READ, None)
        self.signals = SignalReceiver(self.selector)
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
            for key, _events in self.selector.select(TICK):
                if key.data == "signal":
                    self.signals.drain()
                elif key.data is None:
                    self._accept()
                else:
                    self._read(key.data)
            now = time.monotonic()
            for conn in [c for c in self.connections.values() if c.deadline < now]:
                self._refuse(conn, "no complete request within %.0f s" % CONNECTION_TIMEOUT)

    def _accept(self):
        while True:
            try:
                sock, peer = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as err:
                self.log.warning("accept failed: %s" % err)
                return
            why = self._refusal(peer[0])
            if why:
                # refused at once, so that idle connections of strangers (or one greedy peer)
                # can never use up the connection slots of the registered machines
                self.log.warning("refused connection from %s port %d: %s" % (peer[0], peer[1], why))
                try:
                    sock.settimeout(0.5)
                    sock.sendall(wire.encode({"ok": False, "error": why}))
                except OSError:
                    pass
                sock.close()
                continue
            sock.setblocking(False)
            conn = _Connection(sock, peer)
            self.connections[sock.fileno()] = conn
            self.selector.register(sock, selectors.EVENT_READ, conn)

    def _refusal(self, address):
        """Why a new connection from ``address`` is refused before reading it, or None."""
        with self.store.snapshot() as db:
            known = db.execute("SELECT 1 FROM machines WHERE address = ? LIMIT 1", (address,)).fetchone()
        if known is None:
            return "%s is not the address of a machine known to site %s" % (address, self.site.name)
        mine = sum(1 for conn in self.connections.values() if conn.peer[0] == address)
        if mine >= MAX_PER_ADDRESS:
            return "%d connections from %s are open already" % (mine, address)
        if len(self.connections) >= MAX_CONNECTIONS:
            return "%d connections are open already" % MAX_CONNECTIONS
        return None

    def _read(self, conn):
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as err:
            self._close(conn)
            self.log.warning("connection from %s failed: %s" % (conn.peer[0], err))
            return
        if not data:
            self._refuse(conn, "connection closed before a complete request", reply=False)
            return
        conn.buffer += data
        try:
            if conn.length is None and len(conn.buffer) >= 4:
                conn.length = wire.frame_length(conn.buffer[:4])
            if conn.length is None or len(conn.buffer) < 4 + conn.length:
                return
            if len(conn.buffer) > 4 + conn.length:
                raise wire.FrameError("%d bytes after the frame" % (len(conn.buffer) - 4 - conn.length))
            request = wire.decode(conn.buffer[4:])
            reply = handle_request(self.store, self.site, request, conn.peer[0], self.credentials)
        except (wire.FrameError, Refused) as err:
            self._refuse(conn, str(err))
            return
        except Exception as err:  # a bug must not take the site's listener down
            self._refuse(conn, "internal error: %r" % (err,))
            return
        self.log.info("served %s from %s" % (request.get("op"), conn.peer[0]))
        self._reply(conn, reply)

    def _refuse(self, conn, why, reply=True):
        self.log.warning("refused request from %s port %d: %s" % (conn.peer[0], conn.peer[1], why))
        if reply:
            self._reply(conn, {"ok": False, "error": why})
        else:
            self._close(conn)

    def _reply(self, conn, message):
        try:
            conn.sock.setblocking(True)
            conn.sock.settimeout(2.0)
            conn.sock.sendall(wire.encode(message))
        except (OSError, wire.FrameError):
            pass
        self._close(conn)

    def _close(self, conn):
        self.connections.pop(conn.sock.fileno(), None)
        try:
            self.selector.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        conn.sock.close()

    def finish(self):
        pidrecords.remove_record(self.record, os.getpid())


def main(argv=None):
    parser = DaemonArgs(NAME, "Network listener of one site.")
    try:
        _args, layout, site = parser.parse_site(argv)
    except CjcError as err:
        print("%s: %s" % (NAME, err), file=sys.stderr)
        return err.exit_status
    log = DaemonLog(site.spool, NAME)
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
