"""Serving many clients at once so that no client -- slow, silent, greedy or flooding -- delays another.

One thread runs a ``selectors`` loop that does all the socket I/O without ever
blocking: it accepts, reads requests, and writes replies, every socket non-blocking.
A complete request goes to a small pool of worker threads (the only place that
touches the site database); the reply comes back to the loop, which writes it as
the client reads. So:

* a client that sends its request slowly (slowloris) or not at all, or never reads
  its reply, holds only its own connection, and only until the per-connection
  deadline (accept to last reply byte), then it is closed;
* a request longer than the protocol's cap is refused before it is buffered;
* at most ``max_connections`` connections are open, at most ``max_per_peer`` from
  one peer (a uid on a UNIX socket, an address on TCP): beyond that a connection is
  refused as it is accepted (a one-line refusal, sent without waiting);
* refusals are logged at most once per ``RateLimited.every`` seconds, with a count.

A protocol object frames requests and replies: :class:`.wire.FrameProtocol` (the
engine's frames) or comagent's HTTP. See docs/security.md, "Clients that are slow,
many or hostile".
"""

import collections
import concurrent.futures
import selectors
import socket
import threading
import time

from . import wire
from ..errors import CjcError
from ..site.log import RateLimited

Limits = collections.namedtuple("Limits", "deadline max_connections max_per_peer workers")
LOCAL_LIMITS = Limits(deadline=5.0, max_connections=128, max_per_peer=32, workers=4)
TICK = 0.5


class Refused(CjcError):
    """A connection refused with this one-line reason (sent to the client, logged). A handler's
    CjcError is a refused request the same way."""


class _Connection:
    def __init__(self, sock, peer, key, context, deadline):
        self.sock, self.peer, self.key, self.context = sock, peer, key, context
        self.deadline = deadline
        self.inbox = b""
        self.outbox = None  # None while reading the request, then the reply bytes still to write
        self.events = selectors.EVENT_READ  # what the selector watches (0: nothing, a worker answers)
        self.closed = False


def per_thread(factory):
    """A function returning the calling thread's own ``factory()`` (e.g. a database connection)."""
    local = threading.local()

    def get():
        value = getattr(local, "value", None)
        if value is None:
            value = local.value = factory()
        return value
    return get


class Server:
    """``Server(listeners, protocol, admit, handle, log, limits, name).serve_forever()``.

    ``admit(sock, peer)`` -> ``(peer key, context)`` or Refused, called as a connection is
    accepted (no reading); ``handle(context, request)`` -> reply or CjcError (a refusal),
    called in a worker thread;
    ``log``: the daemon's DaemonLog.
    """

    def __init__(self, listeners, protocol, admit, handle, log, limits, name):
        self.protocol, self.admit, self.handle, self.limits, self.name = protocol, admit, handle, limits, name
        self.log = log
        self.refusals = RateLimited(lambda line: log.warning("%s: %s" % (name, line)))
        self.selector = selectors.DefaultSelector()
        self.connections = {}
        self.per_peer = collections.Counter()
        self.done = collections.deque()  # (connection, reply bytes) from the workers
        self.wake_read, self.wake_write = socket.socketpair()
        for sock in (self.wake_read, self.wake_write):
            sock.setblocking(False)
        self.selector.register(self.wake_read, selectors.EVENT_READ, "wake")
        self.listeners = list(listeners)
        for listener in self.listeners:
            listener.setblocking(False)
            self.selector.register(listener, selectors.EVENT_READ, listener)
        self.workers = concurrent.futures.ThreadPoolExecutor(limits.workers, thread_name_prefix=name)
        self.heartbeat = time.monotonic()  # the loop's last turn (a health check reads it)
        self.stopped = False

    def serve_forever(self):
        while not self.stopped:
            self.serve_once(TICK)

    def serve_in_thread(self):
        threading.Thread(target=self.serve_forever, name=self.name, daemon=True).start()
        return self

    def serve_once(self, timeout):
        for key, events in self.selector.select(timeout):
            try:
                self._on_event(key.data, events)
            except Exception as err:  # a bug must not end the loop, and with it every client's service
                self.log.error("%s: %r while serving; the connection is closed" % (self.name, err))
                if isinstance(key.data, _Connection):
                    self._close(key.data)
        now = time.monotonic()
        for conn in [c for c in self.connections.values() if c.deadline < now]:
            self._refuse(conn, "no complete exchange within %.0f s" % self.limits.deadline)
        self.refusals.flush()
        self.heartbeat = now

    def _on_event(self, data, events):
        if data == "wake":
            self._take_replies()
        elif isinstance(data, _Connection):
            if events & selectors.EVENT_READ:
                self._read(data)
            elif events & selectors.EVENT_WRITE:
                self._write(data)
        else:
            self._accept(data)

    def is_alive(self, within):
        """True when the loop turned in the last ``within`` seconds."""
        return time.monotonic() - self.heartbeat < within

    def stop(self):
        """End the loop after its current turn (its connections end with the process)."""
        self.stopped = True
        self.workers.shutdown(wait=False)

    # ------------------------------------------------------------ accept and read

    def _accept(self, listener):
        for _turn in range(64):  # a flood must not keep the loop in accept
            try:
                sock, peer = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as err:
                self.refusals("accept failed: %s" % err)
                return
            try:
                key, context = self.admit(sock, peer)
                if self.per_peer[key] >= self.limits.max_per_peer:
                    raise Refused("%d connections from %s are open already" % (self.per_peer[key], key))
                if len(self.connections) >= self.limits.max_connections:
                    raise Refused("%d connections are open already" % len(self.connections))
            except Refused as why:
                self.refusals("refused connection from %s: %s" % (_who(peer), why))
                try:
                    sock.send(self.protocol.refusal(str(why)), socket.MSG_DONTWAIT)
                except OSError:
                    pass
                sock.close()
                continue
            sock.setblocking(False)
            conn = _Connection(sock, peer, key, context, time.monotonic() + self.limits.deadline)
            self.connections[sock.fileno()] = conn
            self.per_peer[key] += 1
            self.selector.register(sock, selectors.EVENT_READ, conn)

    def _read(self, conn):
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as err:
            self.refusals("connection from %s failed: %s" % (_who(conn.peer), err))
            self._close(conn)
            return
        if not data:
            self._close(conn)  # gone before a complete request (or a probe)
            return
        conn.inbox += data
        try:
            request = self.protocol.parse(conn.inbox)
        except wire.FrameError as err:
            self._refuse(conn, str(err))
            return
        except Exception as err:  # whatever a peer sends, the loop goes on
            self._refuse(conn, "malformed request: %r" % (err,))
            return
        if request is None:
            return
        self._watch(conn, 0)  # the request is complete: nothing more is read
        self.workers.submit(self._work, conn, request)

    def _work(self, conn, request):
        """In a worker thread: the reply's bytes, posted back to the loop."""
        try:
            reply = self.protocol.encode(self.handle(conn.context, request))
        except CjcError as why:
            self.refusals("refused request from %s: %s" % (_who(conn.peer), why))
            reply = self.protocol.refusal(str(why))
        except Exception as err:  # a bug must not silence the other clients
            self.log.error("%s: request from %s failed: %r" % (self.name, _who(conn.peer), err))
            reply = self.protocol.refusal("internal error: %r" % (err,))
        self.done.append((conn, reply))
        try:
            self.wake_write.send(b"r")
        except BlockingIOError:
            pass  # the loop has a wake-up pending already

    # ------------------------------------------------------------ reply

    def _take_replies(self):
        try:
            while self.wake_read.recv(4096):
                pass
        except BlockingIOError:
            pass
        while self.done:
            conn, reply = self.done.popleft()
            if conn.closed:
                continue  # its deadline passed while a worker answered
            conn.outbox = reply
            self._write(conn)

    def _write(self, conn):
        try:
            sent = conn.sock.send(conn.outbox)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._close(conn)
            return
        conn.outbox = conn.outbox[sent:]
        if not conn.outbox:
            self._close(conn)
        else:
            self._watch(conn, selectors.EVENT_WRITE)  # the client reads slowly, or not at all

    def _watch(self, conn, events):
        if events == conn.events:
            return
        if not conn.events:
            self.selector.register(conn.sock, events, conn)
        elif not events:
            self.selector.unregister(conn.sock)
        else:
            self.selector.modify(conn.sock, events, conn)
        conn.events = events

    def _refuse(self, conn, why):
        self.refusals("refused request from %s: %s" % (_who(conn.peer), why))
        try:
            conn.sock.send(self.protocol.refusal(why), socket.MSG_DONTWAIT)
        except OSError:
            pass
        self._close(conn)

    def _close(self, conn):
        if conn.closed:
            return
        conn.closed = True
        self.connections.pop(conn.sock.fileno(), None)
        self.per_peer[conn.key] -= 1
        if self.per_peer[conn.key] <= 0:
            del self.per_peer[conn.key]
        if conn.events:
            self.selector.unregister(conn.sock)
        conn.sock.close()


def _who(peer):
    if isinstance(peer, tuple) and len(peer) >= 2:
        return "%s port %d" % (peer[0], peer[1])
    return "local uid %s" % (peer,) if isinstance(peer, int) else "a local process"
