"""Shared by the benchmarks (private): a throw-away node root with the engine installed."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "plugins", "module_utils"))

from cjc import runstate  # noqa: E402
from cjc.install import install_engine  # noqa: E402
from cjc.layout import Layout  # noqa: E402


def free_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


class BenchSite:
    """``with BenchSite() as site:`` a local site under a temp root, removed afterwards."""

    def __enter__(self):
        self.root = tempfile.mkdtemp(prefix="cjc-bench-", dir="/tmp")
        os.chmod(self.root, 0o755)
        self.layout = Layout(self.root)
        install_engine(self.layout, sys.executable, 100)
        with open(self.layout.local_daemon_conf, "w") as handle:
            handle.write("ipaddress=127.0.0.1\nnqs_port=%d\n" % free_port())
        self.spool = self.layout.spool
        self.daemon = None
        return self

    def command(self, documented):
        return [sys.executable, self.layout.path(documented)]

    def env(self):
        return dict(os.environ, CJC_ROOT=self.root)

    def start(self, timeout=60):
        """Start nqsdaemon; returns seconds until it serves (its pid record is alive)."""
        started = time.monotonic()
        self.daemon = subprocess.Popen(self.command("/usr/lib/nqs/nqsdaemon") + ["--site", "local"],
                                       env=dict(self.env(), CJC_SITE_SPOOL=self.spool))
        record = os.path.join(self.spool, "run", "nqsdaemon.pid")
        while runstate.live_pid(record) != self.daemon.pid:
            if self.daemon.poll() is not None or time.monotonic() - started > timeout:
                raise SystemExit("nqsdaemon did not start")
            time.sleep(0.005)
        return time.monotonic() - started

    def __exit__(self, *exc):
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(30)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        shutil.rmtree(self.root, ignore_errors=True)
