"""Start, watch and stop the daemons of one site (SPEC §2.4, §2.5, §2.13).

One ``SiteSupervisor`` belongs to the site's owner process (``cjcpw``). Boot starts
the daemons of :mod:`daemonset` in order and returns once every pid record says
"serving", all within ``BOOT_TIMEOUT`` -- or stops whatever it started and raises.
Stop goes in reverse order, SIGTERM and wait for each, until the orderly phase
(``STOP_TIMEOUT - FORCEKILL_TIME``) runs out; then SIGKILL to every process of the
site -- daemons, jobs and what jobs left behind -- for the last ``FORCEKILL_TIME``
seconds. It reports what it had to force.
"""

import collections
import enum
import os
import signal
import subprocess
import time

from ..site import pidrecords, processes
from ..site.cgroup import SiteGroup
from ..site.daemonset import SITE_DAEMONS, daemon_argv
from ..errors import CjcError

POLL = 0.02  # seconds between readiness / exit checks


class BootError(CjcError):
    """The site did not come up within BOOT_TIMEOUT (cjcpw exit status 4)."""

    exit_status = 4


class State(enum.Enum):
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    EXITED = "exited"


_ALLOWED = {
    State.STARTING: (State.STOPPED, State.EXITED),
    State.RUNNING: (State.STARTING,),
    State.STOPPING: (State.STARTING, State.RUNNING),
    State.EXITED: (State.STARTING, State.RUNNING, State.STOPPING),
    State.STOPPED: (State.STOPPING, State.EXITED),
}

StopReport = collections.namedtuple("StopReport", "reason seconds forced leftovers")


def _die_with_parent():
    """In the child before exec: SIGTERM when the owner dies, so no daemon outlives it unwatched."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class DaemonProcess:
    """One daemon of the site, as the supervisor sees it."""

    def __init__(self, spec, site, log):
        self.spec, self.site, self.log = spec, site, log
        self.state = State.STOPPED
        self.popen = None

    @property
    def pid(self):
        return self.popen.pid if self.popen else None

    def set_state(self, new, reason=""):
        if self.state not in _ALLOWED[new]:
            raise RuntimeError("%s: %s -> %s is not a transition" % (self.spec.name, self.state, new))
        self.log.info("%s pid %s: %s -> %s%s" % (self.spec.name, self.pid, self.state.value, new.value,
                                                 " (%s)" % reason if reason else ""))
        self.state = new

    def spawn(self, layout):
        env = dict(os.environ, **{processes.SPOOL_ENV: self.site.spool})
        self.popen = subprocess.Popen(daemon_argv(layout, self.spec, self.site), env=env,
                                      stdin=subprocess.DEVNULL, start_new_session=True,
                                      preexec_fn=_die_with_parent)
        self.set_state(State.STARTING)  # STOPPED -> STARTING

    def exited(self):
        """The exit status if our child ended, else None (reaps it)."""
        return None if self.popen is None else self.popen.poll()

    def records_alive(self):
        return all(pidrecords.live_pid(self.site.record_path(name)) for name in self.spec.records)

    def describe_death(self):
        dead = [name[:-len(".pid")] for name in self.spec.records
                if not pidrecords.live_pid(self.site.record_path(name))]
        status = self.exited()
        if status is None:
            return "%s no longer running" % ", ".join(dead)
        how = "killed by signal %d" % -status if status < 0 else "exited with status %d" % status
        others = [name for name in dead if name != self.spec.name]
        return "%s (pid %s) %s%s" % (self.spec.name, self.pid, how,
                                     " (%s no longer running)" % ", ".join(others) if others else "")


class SiteSupervisor:
    """The daemons of one site under one owner."""

    def __init__(self, layout, site, timings, log, clock=time.monotonic):
        self.layout, self.site, self.timings, self.log = layout, site, timings, log
        self.clock = clock
        self.daemons = [DaemonProcess(spec, site, log) for spec in SITE_DAEMONS]

    def running(self):
        return any(d.state in (State.STARTING, State.RUNNING) for d in self.daemons)

    def boot(self):
        """Start every daemon; return once all serve. On failure stop them and raise BootError."""
        deadline = self.clock() + self.timings.boot_timeout
        for daemon in self.daemons:
            daemon.spawn(self.layout)
        waiting = list(self.daemons)
        while waiting:
            for daemon in list(waiting):
                status = daemon.exited()
                if status is not None:
                    daemon.set_state(State.EXITED, "during start")  # STARTING -> EXITED
                    problem = "%s during start" % daemon.describe_death()
                    self.stop("boot failed: " + problem)
                    raise BootError("site %s did not start: %s; see %s" % (self.site.name, problem,
                                                                           os.path.join(self.site.spool, "log")))
                if daemon.records_alive():
                    daemon.set_state(State.RUNNING, "serving")  # STARTING -> RUNNING
                    waiting.remove(daemon)
            if waiting and self.clock() >= deadline:
                names = ", ".join(d.spec.name for d in waiting)
                self.stop("boot timeout")
                raise BootError("site %s was not serving within BOOT_TIMEOUT=%d s (still waiting for %s); "
                                "everything started was stopped" % (self.site.name, self.timings.boot_timeout, names))
            if waiting:
                time.sleep(POLL)

    def dead_daemons(self):
        """Descriptions of RUNNING daemons that died (marks them EXITED)."""
        found = []
        for daemon in self.daemons:
            if daemon.state is State.RUNNING and (daemon.exited() is not None or not daemon.records_alive()):
                found.append(daemon.describe_death())
                daemon.set_state(State.EXITED, "unexpected")  # RUNNING -> EXITED
        return found

    def stop(self, reason):
        """Stop every daemon and every process of the site within STOP_TIMEOUT; a StopReport."""
        pids = []
        for daemon in reversed(self.daemons):
            if daemon.state in (State.STARTING, State.RUNNING):
                daemon.set_state(State.STOPPING, reason)  # RUNNING -> STOPPING
            if daemon.popen is not None and daemon.exited() is None:
                pids.append((daemon.spec.name, daemon.pid))
        report = stop_site_processes(pids, self.site, self.timings, self.log, reason, self.clock)
        for daemon in self.daemons:
            if daemon.popen is not None:
                daemon.exited()
            if daemon.state in (State.STOPPING, State.EXITED):
                daemon.set_state(State.STOPPED)  # STOPPING -> STOPPED
            daemon.popen = None
        return report


def _wait_gone(pids, deadline, clock):
    while True:
        alive = [pid for pid in pids if pidrecords.pid_exists(pid)]
        if not alive or clock() >= deadline:
            return alive
        time.sleep(POLL)


def _signal(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass  # ESRCH: already gone, which is what we want


def _left(group, daemon_pids):
    """Pids of the site still alive here: its group's members and the recorded daemons."""
    return sorted(set(group.members()) | {pid for _name, pid in daemon_pids if pidrecords.pid_exists(pid)})


def stop_site_processes(daemon_pids, site, timings, log, reason, clock=time.monotonic):
    """Stop a site: ``daemon_pids`` [(name, pid)] in stop order, then everything of the site.

    Orderly phase: SIGTERM each daemon and wait for it, in order, until
    ``timings.orderly_seconds`` are used; then SIGTERM what jobs left behind.
    Forced phase (the rest of STOP_TIMEOUT, or all of FORCEKILL_TIME when it is not
    below STOP_TIMEOUT): SIGKILL every remaining member of the site's group on this
    node (:mod:`..site.cgroup`: all at once, so a process forking meanwhile cannot
    outrun it) and wait until the group is empty. ``leftovers`` of the report are
    the pids still alive at the deadline.
    """
    group = SiteGroup(site.spool)
    start = clock()
    orderly_end = start + timings.orderly_seconds
    final_end = start + timings.total_stop_seconds
    log.info("stopping site %s (%s): orderly %d s, forced %d s"
             % (site.name, reason, timings.orderly_seconds, timings.total_stop_seconds - timings.orderly_seconds))
    for name, pid in daemon_pids:
        if clock() >= orderly_end:
            break
        _signal(pid, signal.SIGTERM)
        if _wait_gone([pid], orderly_end, clock):
            log.warning("%s (pid %d) did not stop within the orderly phase" % (name, pid))
    leftovers = group.members()
    if leftovers and clock() < orderly_end:
        log.info("ending %d leftover process(es) of the site: %s" % (len(leftovers), leftovers))
        for pid in leftovers:
            _signal(pid, signal.SIGTERM)
        _wait_gone(leftovers, min(orderly_end, clock() + 1.0), clock)
    forced = []
    remaining = _left(group, daemon_pids)
    while remaining:
        group.end()
        for pid in remaining:
            _signal(pid, signal.SIGKILL)  # a recorded daemon outside the group, too
        forced.extend(pid for pid in remaining if pid not in forced)
        deadline = min(final_end, clock() + 0.5)
        while remaining and clock() < deadline:
            time.sleep(POLL)
            remaining = _left(group, daemon_pids)
        if clock() >= final_end:
            break
    group.remove()
    seconds = clock() - start
    if forced:
        log.warning("forced: SIGKILL to %d process(es) of site %s: %s" % (len(forced), site.name, forced))
    if remaining:
        log.error("site %s: still alive after STOP_TIMEOUT: %s" % (site.name, remaining))
    log.info("site %s stopped in %.2f s" % (site.name, seconds))
    return StopReport(reason, seconds, forced, remaining)
