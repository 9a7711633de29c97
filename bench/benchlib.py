"""Shared by the bench/ scripts: a real site in a network namespace, medians, one result line.

Every script prints human-readable lines and, as its **last line**, one result:

    BENCH {"figure": "...", "value": 0.31, "unit": "s", "target": "<= 0.5", "pass": true}

which `make bench` collects into one table. Timings never decide a test: they are
measured here, on demand.
"""

import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "plugins", "module_utils"))

from cjc.install import install_engine  # noqa: E402
from cjc.layout import Layout  # noqa: E402

SITE = "benchsite.example.com"
ADDRESS = "10.192.19.10"
# the interpreter a node runs the engine with (the engine role's engine_python, the lab's too)
NODE_PYTHON = "/usr/bin/python3"


def median(samples):
    return statistics.median(samples)


def result(figure, value, unit, target, passed):
    """Print the closing result line of a bench script."""
    print("BENCH " + json.dumps({"figure": figure, "value": round(value, 4), "unit": unit,
                                 "target": target, "pass": bool(passed)}))


class BenchSite:
    """A node root, a network namespace holding the site address, a made site."""

    def __init__(self, base):
        self.base = base
        self.layout = Layout(os.path.join(base, "root"))
        self.db = os.path.join(base, "disk", "jobdb")
        self.netns = "cjcb-" + uuid.uuid4().hex[:8]
        self.env = dict(os.environ, CJC_ROOT=self.layout.root, NQS_SITE=SITE)

    def command(self, documented):
        return ["ip", "netns", "exec", self.netns, self.layout.path(documented)]

    def run(self, documented, *args, input=None, check=True):
        return subprocess.run(self.command(documented) + [str(a) for a in args], env=self.env, input=input,
                              capture_output=True, text=True, check=check)

    def status(self):
        """The site's comagent /status, asked from inside the namespace."""
        probe = ("import sys,urllib.request;sys.stdout.write(urllib.request.urlopen("
                 "'http://%s:611/status',timeout=3).read().decode())" % ADDRESS)
        out = subprocess.run(["ip", "netns", "exec", self.netns, sys.executable, "-c", probe],
                             capture_output=True, text=True)
        return json.loads(out.stdout) if out.returncode == 0 else None

    def up(self):
        ip = ["ip"]
        subprocess.run(ip + ["netns", "add", self.netns], check=True)
        subprocess.run(ip + ["-n", self.netns, "link", "set", "lo", "up"], check=True)
        subprocess.run(ip + ["link", "add", "site0", "netns", self.netns, "type", "veth", "peer", "name",
                             "peer0", "netns", self.netns], check=True)
        subprocess.run(ip + ["-n", self.netns, "addr", "add", ADDRESS + "/24", "dev", "site0"], check=True)
        for dev in ("site0", "peer0"):
            subprocess.run(ip + ["-n", self.netns, "link", "set", dev, "up"], check=True)
        os.makedirs("/etc/netns/" + self.netns, exist_ok=True)
        with open("/etc/netns/%s/hosts" % self.netns, "w") as handle:
            handle.write("127.0.0.1 localhost\n%s %s\n" % (ADDRESS, SITE))
        os.makedirs(os.path.dirname(self.db))
        install_engine(self.layout, NODE_PYTHON, 100)
        self.run("/usr/lib/nqs/cluster/cjcmksite", SITE, 200, self.db)

    def down(self):
        pids = subprocess.run(["ip", "netns", "pids", self.netns], capture_output=True, text=True).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), 9)
            except ProcessLookupError:
                pass
        subprocess.run(["ip", "netns", "del", self.netns], capture_output=True)
        shutil.rmtree("/etc/netns/" + self.netns, ignore_errors=True)


@contextlib.contextmanager
def bench_site():
    base = tempfile.mkdtemp(prefix="cjc-bench-", dir="/tmp")
    os.chmod(base, 0o755)
    site = BenchSite(base)
    try:
        site.up()
        yield site
    finally:
        site.down()
        shutil.rmtree(base, ignore_errors=True)


def timed(function):
    started = time.monotonic()
    function()
    return time.monotonic() - started
