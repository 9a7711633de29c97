"""The NQS port of a site (SPEC §2.11, guide §3.1.3): keep it, hand it over, take it.

``nqsportkpr <address>`` binds and listens on the NQS port of that address so no
other process can take it while the site starts. It offers the listening socket on
a handover endpoint (an abstract UNIX socket named after address and port, so it is
local to the node's network namespace). When the site's netdaemon starts, it asks
there first and receives the very same socket by SCM_RIGHTS: the port is never
closed, so there is no window in which a third process could bind it. The keeper
exits after the handover. With no keeper, netdaemon binds the port itself.
"""

import socket

HANDOVER_TIMEOUT = 2.0


def handover_endpoint(address, port):
    return "\0cjc-nqsportkpr-%s-%d" % (address, port)


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


def take_over(address, port):
    """The listening socket held by an ``nqsportkpr`` for (address, port), or None."""
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(HANDOVER_TIMEOUT)
    try:
        client.connect(handover_endpoint(address, port))
        _msg, fds, _flags, _addr = socket.recv_fds(client, 16, 1)
        if not fds:
            return None
        listener = socket.socket(fileno=fds[0])
        client.sendall(b"taken")
        return listener
    except (ConnectionRefusedError, FileNotFoundError, socket.timeout, OSError):
        return None
    finally:
        client.close()


def obtain_listener(address, port):
    """netdaemon's listening socket: taken over from nqsportkpr when one holds it, else bound."""
    return take_over(address, port) or listen_tcp(address, port)


def keeper_present(address, port):
    """True when an nqsportkpr already keeps (address, port) on this node."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(handover_endpoint(address, port))
        return True
    except OSError:
        return False
    finally:
        probe.close()


class PortKeeper:
    """Holds the port and its handover endpoint until a netdaemon takes the socket."""

    def __init__(self, address, port):
        self.address, self.port = address, port
        self.listener = listen_tcp(address, port)
        self.endpoint = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.endpoint.bind(handover_endpoint(address, port))
        self.endpoint.listen(4)

    def serve_until_taken(self):
        """Block until a taker confirms it holds the socket; then close ours and return."""
        while True:
            conn, _addr = self.endpoint.accept()
            with conn:
                conn.settimeout(HANDOVER_TIMEOUT)
                try:
                    socket.send_fds(conn, [b"port"], [self.listener.fileno()])
                    if conn.recv(16) == b"taken":
                        break
                except OSError:
                    continue  # a probe or a taker that died: keep holding the port
        self.listener.close()
        self.endpoint.close()
