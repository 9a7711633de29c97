"""Daemon log lines, sent to the site's logdaemon (which writes ``<spool>/log/``).

Each daemon holds a :class:`DaemonLog`; a line goes as one datagram to the
logdaemon's socket. While no logdaemon listens (start, stop, crash), the line goes
to the daemon's stderr instead, so nothing is lost silently. The socket is the
site's node-local, root-only ``log`` endpoint (:mod:`.endpoints`).
"""

import os
import socket
import sys
import time

from . import endpoints

MAX_LINE = 4000


def format_line(name, pid, level, message, at=None):
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() if at is None else at))
    text = "%s %s[%d] %s: %s" % (stamp, name, pid, level, message)
    return text.replace("\n", " | ")[:MAX_LINE]


class RateLimited:
    """Refusal lines, at most ``burst`` per ``every`` seconds: a flood of refused clients must
    not flood the log (nor the disk). Lines beyond the burst are counted, and the count is
    said in one line when the window is over (at the next line or :meth:`flush`)."""

    def __init__(self, emit, burst=20, every=10.0, clock=time.monotonic):
        self.emit, self.burst, self.every, self.clock = emit, burst, every, clock
        self.window_end = 0.0
        self.said = self.suppressed = 0

    def __call__(self, line):
        self.flush()
        if self.said >= self.burst:
            self.suppressed += 1
            return
        if not self.said:
            self.window_end = self.clock() + self.every
        self.said += 1
        self.emit(line)

    def flush(self):
        """End the window once its time is over, saying how many lines it left out."""
        if self.said and self.clock() >= self.window_end:
            if self.suppressed:
                self.emit("%d more refusal(s) not logged in %.0f s (at most %d lines per %.0f s)"
                          % (self.suppressed, self.every, self.burst, self.every))
            self.said = self.suppressed = 0


class DaemonLog:
    """``log.info(...)``, ``log.warning(...)``, ``log.error(...)`` for one daemon."""

    def __init__(self, layout, spool, name, stream=None, tee=False):
        """``layout``: the node's; ``tee``: write every line to ``stream`` too (a foreground
        cjcpw, whose stderr the cluster software keeps)."""
        self.name, self.tee = name, tee
        self.address = endpoints.endpoint(layout, spool, "log")
        self.stream = stream or sys.stderr
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        # A burst fills the receiver's small datagram queue: wait a little for room
        # rather than divert lines to stderr; a missing logdaemon fails at once.
        self.sock.settimeout(1.0)

    def log(self, level, message):
        line = format_line(self.name, os.getpid(), level, message)
        try:
            endpoints.sendto(self.sock, line.encode("utf-8", "replace"), self.address)
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
