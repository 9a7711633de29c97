"""logdaemon: collects the log lines of a site's daemons into ``<spool>/log/nqs.log``.

``logdaemon --root ROOT --site local|DB-PATH [--max-bytes N] [--keep N]``

Daemons send one datagram per line (:class:`..daemonlog.DaemonLog`). The file is
rotated by size: ``nqs.log`` -> ``nqs.log.1`` -> ... -> ``nqs.log.<keep>`` (the
oldest is dropped), so the site's disk never fills with logs. The log lives in
the site's spool: it moves with the site on failover. Its socket is the site's
node-local ``log`` endpoint, mode 0600 in a root-only directory (:mod:`..site.endpoints`);
a datagram whose sender the kernel does not name as root is dropped, and said so in the
log at most once per 10 s with a count.
"""

import errno
import os
import selectors
import socket
import sys

from ..site import pidrecords
from ..site import endpoints
from ..site.log import RateLimited, format_line
from ..errors import CjcError
from . import DaemonArgs, SignalReceiver

NAME = "logdaemon"
LOG_FILE = "nqs.log"


class LogFile:
    """An append-only log file with size rotation.

    Unbuffered, one write per line: on a full site disk a line is dropped whole (and
    counted, the count written once the disk takes lines again), never half-written
    later, and logdaemon keeps running.
    """

    def __init__(self, path, max_bytes, keep):
        self.path, self.max_bytes, self.keep = path, max_bytes, keep
        self.handle = open(path, "ab", buffering=0)
        self.dropped = 0

    def write(self, lines):
        """Append ``lines``; a file is rotated before a line would take it over ``max_bytes``."""
        for line in lines:
            line = line.rstrip(b"\n") + b"\n"
            if self.handle.tell() and self.handle.tell() + len(line) > self.max_bytes:
                self.rotate()
            if self.dropped and self._append(format_line(NAME, os.getpid(), "WARNING", "%d log line(s) lost: the site "
                                                         "disk was full" % self.dropped).encode() + b"\n"):
                self.dropped = 0
            if not self._append(line):
                self.dropped += 1

    def _append(self, line):
        try:
            self.handle.write(line)
            return True
        except OSError as err:
            if err.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            return False

    def rotate(self):
        self.handle.close()
        for number in range(self.keep - 1, 0, -1):
            older = "%s.%d" % (self.path, number)
            if os.path.exists(older):
                os.replace(older, "%s.%d" % (self.path, number + 1))
        if self.keep > 0:
            os.replace(self.path, self.path + ".1")
        else:
            os.unlink(self.path)
        self.handle = open(self.path, "ab", buffering=0)

    def close(self):
        self.handle.close()


def main(argv=None):
    parser = DaemonArgs(NAME, "Collect the daemon logs of one site into its spool.")
    parser.add_argument("--max-bytes", type=int, default=1024 * 1024, help="rotate above this size (default 1 MiB)")
    parser.add_argument("--keep", type=int, default=5, help="rotated files kept (default 5)")
    try:
        args, layout, site = parser.parse_site(argv)
    except CjcError as err:
        print("%s: %s" % (NAME, err), file=sys.stderr)
        return err.exit_status
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = endpoints.endpoint(layout, site.spool, "log")
    try:
        endpoints.bind(sock, layout, path, endpoints.PRIVATE)
    except CjcError as err:
        print("%s: cannot bind the log socket of site %s: %s" % (NAME, site.name, err), file=sys.stderr)
        return 1
    endpoints.accept_credentials(sock)
    sock.setblocking(False)
    log_dir = os.path.join(site.spool, "log")
    os.makedirs(log_dir, exist_ok=True)
    logfile = LogFile(os.path.join(log_dir, LOG_FILE), max(args.max_bytes, 1024), max(args.keep, 0))
    selector = selectors.DefaultSelector()
    signals = SignalReceiver(selector)
    selector.register(sock, selectors.EVENT_READ)
    record = site.record_path("logdaemon.pid")
    logfile.write([format_line(NAME, os.getpid(), "INFO", "collecting the logs of site %s" % site.name).encode()])
    pidrecords.write_record(record, os.getpid())
    refusals = RateLimited(lambda line: logfile.write([format_line(NAME, os.getpid(), "WARNING", line).encode()]))
    try:
        while not signals.pending:
            selector.select(5.0)
            _drain(sock, logfile, refusals)
            refusals.flush()
        _drain(sock, logfile, refusals)
        logfile.write([format_line(NAME, os.getpid(), "INFO", "stopped").encode()])
    finally:
        pidrecords.remove_record(record, os.getpid())
        endpoints.unlink(path)
        logfile.close()
        signals.drain()
    return 0


def _drain(sock, logfile, refusals):
    lines = []
    while True:
        try:
            line, uid = endpoints.recv_credentials(sock)
        except (BlockingIOError, InterruptedError):
            break
        if uid != 0:
            refusals("dropped a log line sent by uid %s: only the site's own (root) processes log here" % uid)
            continue
        lines.append(line)
        if len(lines) >= 512:
            logfile.write(lines)
            lines = []
    if lines:
        logfile.write(lines)


if __name__ == "__main__":
    sys.exit(main())
