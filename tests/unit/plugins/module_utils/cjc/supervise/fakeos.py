"""A fake of the supervisor's OS seam (``oscalls.SystemOs``): a clock the test moves,
children that serve and exit on command, every call recorded.

The unit-test counterpart of supervisor's ``DummyOptions``: the supervision code runs
unchanged, without root, processes or sleeping.
"""

import os

from ansible_collections.cjc.cluster.plugins.module_utils.cjc.config.siteconf import SiteTimings
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.site.registry import Site

SITE = Site("testsite.example.com", 200, "/jobdb", False, None, "10.192.18.10", "/jobdb/nqs",
            "/jobdb/nqs/daemon.conf", "/jobdb/etc/site.conf", True)
TIMINGS = SiteTimings(30, 30, 10)  # orderly phase 20 s, forced phase 10 s


class FakeOs:
    """Processes are pids in sets; a process "exits" on SIGTERM or SIGKILL unless told to
    ignore it; our children stay zombies (not alive, status waiting) until reaped."""

    def __init__(self, site=SITE, now=1000.0):
        self.site, self.now = site, now
        self.handler = None  # the owner's signal handler
        self.on_wait = None  # called with the turn number at each wait of the owner's loop
        self.turns = 0
        self.calls = []  # ("spawn", name), ("kill", pid, sig), ("killpg", pid, sig), ("sleep", s)
        self.alive = set()
        self.zombies = {}  # pid -> status, for children
        self.children = set()
        self.names = {}  # pid -> daemon name
        self.records = {}  # pid record path -> pid
        self.ignores = {}  # pid -> signals it survives
        self.cannot_spawn = {}  # daemon name -> OSError
        self._next_pid = 100

    # -- what a test does -------------------------------------------------------------
    def pid_of(self, name):
        """The pid of the newest process called ``name``."""
        return max(pid for pid, known in self.names.items() if known == name)

    def serve(self, name, *records):
        """Daemon ``name`` writes its pid records (default: ``<name>.pid``)."""
        for record in records or (name + ".pid",):
            self.records[self.site.record_path(record)] = self.pid_of(name)

    def exit(self, pid, status):
        """Process ``pid`` ends with ``status`` (Popen style: -N for signal N)."""
        self.alive.discard(pid)
        if pid in self.children:
            self.zombies[pid] = status

    def start_process(self, name, ignores=()):
        """A process of the site that is not our child (a job, netdaemon)."""
        pid = self._new_pid(name)
        self.ignores[pid] = set(ignores)
        return pid

    def advance(self, seconds):
        self.now += seconds
        return self.now

    def signals_sent(self):
        return [(self.names.get(call[1], call[1]), call[2]) for call in self.calls if call[0] in ("kill", "killpg")]

    def _new_pid(self, name):
        self._next_pid += 1
        self.alive.add(self._next_pid)
        self.names[self._next_pid] = name
        return self._next_pid

    # -- the seam ---------------------------------------------------------------------
    def spawn(self, argv, env):
        name = os.path.basename(argv[0])
        self.calls.append(("spawn", name))
        if name in self.cannot_spawn:
            raise self.cannot_spawn[name]
        assert env["CJC_SITE_SPOOL"] == self.site.spool
        pid = self._new_pid(name)
        self.children.add(pid)
        return pid

    def waitpid_nohang(self, pid):
        if pid not in self.zombies:
            return None
        self.children.discard(pid)
        return pid, self.zombies.pop(pid)

    def _deliver(self, pid, sig):
        if pid not in self.alive:
            return False
        if sig not in self.ignores.get(pid, ()):
            self.exit(pid, -sig)
        return True

    def kill(self, pid, sig):
        self.calls.append(("kill", pid, sig))
        return self._deliver(pid, sig)

    def killpg(self, pgid, sig):
        self.calls.append(("killpg", pgid, sig))
        return self._deliver(pgid, sig)

    def pid_alive(self, pid):
        return pid in self.alive

    def record_alive(self, path):
        return self.records.get(path) in self.alive

    def site_pids(self, spool):
        assert spool == self.site.spool
        return sorted(self.alive)

    def signal_site(self, spool, sig):
        return [pid for pid in self.site_pids(spool) if self.kill(pid, sig)]

    def site_stopped(self, spool):
        assert spool == self.site.spool
        self.calls.append(("site_stopped",))

    def catch_signals(self, signums, handler):
        """Nothing is installed in the test process: ``deliver`` calls the handler."""
        self.handler, self.caught = handler, set(signums)
        return -1

    def deliver(self, signum):
        """A signal arrives (the handler runs, as the kernel would have it run)."""
        self.handler(signum, None)

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.calls.append(("sleep", seconds))
        self.now += max(0.0, seconds)

    def wait_readable(self, fd, seconds):
        """The owner's sleep: the test's script acts (a daemon serves, a signal arrives),
        then the clock moves on by ``seconds`` (1 s when the owner has no deadline)."""
        self.calls.append(("wait", seconds))
        assert self.turns < 100000, "the owner's loop does not end"
        if self.on_wait is not None:
            self.on_wait(self.turns)
        self.turns += 1
        self.now += 1.0 if seconds is None else max(0.0, seconds)


class ListLog:
    """The site log, as a list of (level, line)."""

    def __init__(self):
        self.lines = []

    def info(self, message):
        self.lines.append(("info", message))

    def warning(self, message):
        self.lines.append(("warning", message))

    def error(self, message):
        self.lines.append(("error", message))

    def text(self):
        return "\n".join(line for _level, line in self.lines)
