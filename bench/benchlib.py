"""Shared by the bench/ scripts: a real site in a network namespace, a local site under a
temp root, medians, one result line.

Every script prints human-readable lines and, as its **last line**, one result:

    BENCH {"figure": "...", "value": 0.31, "unit": "s", "target": "<= 0.5", "pass": true}

which `make bench` collects into one table. Timings never decide a test: they are
measured here, on demand.

Importing this module puts the engine (``plugins/module_utils``) and the test support
(``tests/engine``: jobsite) on ``sys.path``, so each script runs as ``python bench/x.py``.
"""

import contextlib
import json
import os
import pwd
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _path in (os.path.join(REPO, "tests", "engine"), os.path.join(REPO, "plugins", "module_utils")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from cjc.site import pidrecords as runstate  # noqa: E402
from cjc.plan.install import install_engine  # noqa: E402
from cjc.config.layout import Layout  # noqa: E402
from jobsite import free_port, make_netns, make_users, remove_netns, remove_users  # noqa: E402

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
        make_netns(self.netns, [ADDRESS + "/24"], "127.0.0.1 localhost\n%s %s\n" % (ADDRESS, SITE))
        os.makedirs(os.path.dirname(self.db))
        install_engine(self.layout, NODE_PYTHON, 100)
        self.run("/usr/lib/nqs/cluster/cjcmksite", SITE, 200, self.db)

    def down(self):
        remove_netns(self.netns)


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


class LocalBenchSite:
    """``with LocalBenchSite() as site:`` a local site under a temp root, removed afterwards.

    ``python``: the interpreter the commands are installed with (``NODE_PYTHON`` for a site
    whose commands a test user runs: users cannot reach the venv's).
    """

    def __init__(self, python=sys.executable):
        self.python = python

    def __enter__(self):
        self.root = tempfile.mkdtemp(prefix="cjc-bench-", dir="/tmp")
        os.chmod(self.root, 0o755)
        self.layout = Layout(self.root)
        install_engine(self.layout, self.python, 100)
        with open(self.layout.local_daemon_conf, "w") as handle:
            handle.write("ipaddress=127.0.0.1\nnqs_port=%d\n" % free_port())
        self.spool = self.layout.spool
        self.daemon = None
        return self

    def command(self, documented):
        return [self.python, self.layout.path(documented)]

    def env(self):
        return dict(os.environ, CJC_ROOT=self.root)

    def user_command(self, documented, *args, user, stdin=b""):
        """Run an installed command the way a user does (the file itself, its ``#!`` line, as ``user``,
        a test user of tests/engine/jobsite.py); seconds it took. SystemExit when it fails."""
        entry = pwd.getpwnam(user)
        started = time.monotonic()
        done = subprocess.run([self.layout.path(documented)] + list(args), input=stdin, capture_output=True,
                              env={"CJC_ROOT": self.root, "PATH": "/usr/bin:/bin", "LANG": "C"},
                              user=entry.pw_uid, group=entry.pw_gid)
        took = time.monotonic() - started
        if done.returncode != 0:
            raise SystemExit("%s %s failed: %s" % (documented, " ".join(args), done.stderr.decode(errors="replace")))
        return took

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


@contextlib.contextmanager
def users_site():
    """A started LocalBenchSite for the test users' commands (the users made for it and removed
    after), its batch queue guibs_1 stopped: submitted requests stay queued, so only submitting
    (and listing) is measured."""
    make_users()
    try:
        with LocalBenchSite(NODE_PYTHON) as site:
            site.start()
            subprocess.run(site.command("/usr/bin/qmgr") + ["-c", "stop queue guibs_1"], env=site.env(), check=True,
                           capture_output=True)
            yield site
    finally:
        remove_users()


def timed(function):
    started = time.monotonic()
    function()
    return time.monotonic() - started
