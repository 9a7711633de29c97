"""The NQS port of a site (guide §3.1.3): keep it, hand it over, take it.

``nqsportkpr <address>`` binds and listens on the NQS port of that address so no
other process can take it while the site starts. It offers the listening socket on
a handover endpoint, a socket file of this node (``<root>/usr/spool/nqs/ipc/
portkeeper-<address>-<port>``, mode 0600 in a root-only directory:
:mod:`..site.endpoints`). When the site's netdaemon starts, it asks there first and
receives the very same socket by SCM_RIGHTS: the port is never closed, so there is
no window in which a third process could bind it. The keeper exits after the
handover. With no keeper, netdaemon binds the port itself.

Both ends check the other: the keeper hands the socket only to a root peer
(SO_PEERCRED); the taker accepts it only from a root keeper, and only a listening
TCP socket bound to the very address and port it asked for (getsockname).
"""

import socket

from ..errors import CjcError
from ..site import endpoints

HANDOVER_TIMEOUT = 2.0


def listen_tcp(address, port):
    """A listening TCP socket on (``address``, ``port``); OSError when the port is taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(64)
    except BaseException:
        sock.close()
        raise
    return sock


def take_over(layout, address, port):
    """The listening socket held by an ``nqsportkpr`` for (address, port), or None when no
    keeper answers; CjcError when the keeper is not root or hands over another socket."""
    path = endpoints.handover_endpoint(layout, address, port)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(HANDOVER_TIMEOUT)
    try:
        try:
            endpoints.connect(client, path)
            uid = endpoints.peer_uid(client)
            if uid != 0:
                raise CjcError("the port keeper at %s runs as uid %d, not root: its socket is not taken" % (path, uid))
            _msg, fds, _flags, _addr = socket.recv_fds(client, 16, 1)
        except OSError:
            return None
        if not fds:
            return None
        listener = socket.socket(fileno=fds[0])
        for extra in fds[1:]:
            socket.socket(fileno=extra).close()
        try:
            _check_handed(listener, address, port)
            client.sendall(b"taken")
        except (CjcError, OSError):
            listener.close()
            raise
        return listener
    finally:
        client.close()


def _check_handed(listener, address, port):
    """The handed socket must be a listening TCP socket on exactly (address, port)."""
    try:
        bound = listener.getsockname()
        listening = listener.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    except OSError as err:
        raise CjcError("the port keeper handed over something that is not a socket: %s" % err)
    if listener.family != socket.AF_INET or listener.type != socket.SOCK_STREAM or not listening \
            or tuple(bound[:2]) != (address, port):
        raise CjcError("the port keeper handed over a socket bound to %r (listening: %s), not the NQS port %s:%d"
                       % (bound, bool(listening), address, port))


def obtain_listener(layout, address, port):
    """netdaemon's listening socket: taken over from nqsportkpr when one holds it, else bound."""
    return take_over(layout, address, port) or listen_tcp(address, port)


def keeper_present(layout, address, port):
    """True when an nqsportkpr already keeps (address, port) on this node."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        endpoints.connect(probe, endpoints.handover_endpoint(layout, address, port))
        return True
    except OSError:
        return False
    finally:
        probe.close()


class PortKeeper:
    """Holds the port and its handover endpoint until a netdaemon takes the socket."""

    def __init__(self, layout, address, port):
        """OSError when the port is taken; CjcError when the handover endpoint cannot be made."""
        self.address, self.port = address, port
        self.listener = listen_tcp(address, port)
        self.path = endpoints.handover_endpoint(layout, address, port)
        self.endpoint = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            endpoints.bind(self.endpoint, layout, self.path, endpoints.PRIVATE)
        except CjcError:
            self.listener.close()
            self.endpoint.close()
            raise
        self.endpoint.listen(4)

    def serve_until_taken(self):
        """Block until a root taker confirms it holds the socket; then close ours and return."""
        while True:
            conn, _addr = self.endpoint.accept()
            with conn:
                conn.settimeout(HANDOVER_TIMEOUT)
                try:
                    if endpoints.peer_uid(conn) != 0:
                        continue  # only the site's own (root) netdaemon takes the port
                    socket.send_fds(conn, [b"port"], [self.listener.fileno()])
                    if conn.recv(16) == b"taken":
                        break
                except OSError:
                    continue  # a probe or a taker that died: keep holding the port
        self.listener.close()
        self.endpoint.close()
        endpoints.unlink(self.path)
