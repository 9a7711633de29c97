"""Daemon log lines, sent to the site's logdaemon (which writes ``<spool>/log/``).

Each daemon holds a :class:`DaemonLog`; a line goes as one datagram to the
logdaemon's socket. While no logdaemon listens (start, stop, crash), the line goes
to the daemon's stderr instead, so nothing is lost silently.

The local sockets of a site live in the abstract namespace, named after the real
path of the site's spool: no path-length limit, no file left behind, and (being per
network namespace) two test "nodes" never see each other's.
"""

import os
import socket
import sys
import time
import zlib

MAX_LINE = 4000


def endpoint(spool, kind):
    """The abstract socket name of the site's ``kind`` endpoint (``log``, ``nqs``, ``wake``)."""
    path = os.path.realpath(spool).encode("utf-8")
    digest = "%08x%08x" % (zlib.crc32(path), zlib.adler32(path))  # zlib: no OpenSSL load at start
    return "\0cjc-%s-%s" % (kind, digest)


def format_line(name, pid, level, message, at=None):
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() if at is None else at))
    text = "%s %s[%d] %s: %s" % (stamp, name, pid, level, message)
    return text.replace("\n", " | ")[:MAX_LINE]


class DaemonLog:
    """``log.info(...)``, ``log.warning(...)``, ``log.error(...)`` for one daemon."""

    def __init__(self, spool, name, stream=None, tee=False):
        """``tee``: write every line to ``stream`` too (a foreground cjcpw, whose stderr
        the cluster software keeps)."""
        self.name, self.tee = name, tee
        self.address = endpoint(spool, "log")
        self.stream = stream or sys.stderr
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        # A burst fills the receiver's small datagram queue: wait a little for room
        # rather than divert lines to stderr; a missing logdaemon fails at once.
        self.sock.settimeout(1.0)

    def log(self, level, message):
        line = format_line(self.name, os.getpid(), level, message)
        try:
            self.sock.sendto(line.encode("utf-8", "replace"), self.address)
            sent = True
        except OSError:
            sent = False
        if self.tee or not sent:
            try:
                self.stream.write(line + "\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass

    def info(self, message):
        self.log("INFO", message)

    def warning(self, message):
        self.log("WARNING", message)

    def error(self, message):
        self.log("ERROR", message)

    def close(self):
        self.sock.close()
