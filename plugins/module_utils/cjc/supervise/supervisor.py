"""Start, watch and stop the daemons of one site (guide §2.1.4, §2.3(7); docs/engine.md).

One ``SiteSupervisor`` belongs to the site's owner process (``cjcpw``). It never
sleeps: :meth:`SiteSupervisor.step` advances boot, watch and stop at a given
monotonic time and says when it wants the next step; the owner's loop sleeps until
then or until a signal arrives. So a stop request (SIGTERM from the cluster) is
acted on at once, also while the daemons are still coming up.

Boot starts the daemons of :mod:`daemonset` in order and is done once every pid
record says "serving", all within ``BOOT_TIMEOUT`` -- or it stops whatever it
started and reports a :class:`BootError`. Stop (:class:`SiteStop`) goes in reverse
order, SIGTERM and wait for each, until the orderly phase (``STOP_TIMEOUT -
FORCEKILL_TIME``) runs out; then SIGKILL to every process of the site -- daemons,
jobs and what jobs left behind -- for the last ``FORCEKILL_TIME`` seconds. It
reports what it had to force. Every OS call goes through :mod:`oscalls`.
"""

import collections
import enum
import os
import signal

from ..site.daemonset import SITE_DAEMONS, daemon_argv
from ..site.processes import SPOOL_ENV
from ..errors import CjcError
from .oscalls import SYSTEM

POLL = 0.02  # seconds between readiness / exit checks while booting or stopping
WATCH = 0.2  # seconds between liveness checks of serving daemons
LEFTOVER_GRACE = 1.0  # seconds the orderly phase waits for what jobs left behind
KILL_ROUND = 0.5  # seconds between SIGKILL rounds of the forced phase

# what a step reports to the owner
SERVING, BOOT_FAILED, DIED, STOPPED = "serving", "boot failed", "died", "stopped"


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


class DaemonProcess:
    """One daemon of the site, as the supervisor sees it: its pid, state and, once
    reaped, its exit status (``Popen.returncode`` style)."""

    def __init__(self, spec, site, log, oscalls):
        self.spec, self.site, self.log, self.oscalls = spec, site, log, oscalls
        self.state = State.STOPPED
        self.pid = self.status = None

    def set_state(self, new, reason=""):
        if self.state not in _ALLOWED[new]:
            raise RuntimeError("%s: %s -> %s is not a transition" % (self.spec.name, self.state, new))
        self.log.info("%s pid %s: %s -> %s%s" % (self.spec.name, self.pid, self.state.value, new.value,
                                                 " (%s)" % reason if reason else ""))
        self.state = new

    def spawn(self, layout):
        """Start the daemon (STOPPED -> STARTING). Raises OSError when it cannot be executed.

        It inherits no descriptor of the ownership lock (the owner's keeper holds it) and is
        born in the site's control group, which the owner entered (:mod:`..site.cgroup`)."""
        env = dict(os.environ, **{SPOOL_ENV: self.site.spool})
        self.pid = self.oscalls.spawn(daemon_argv(layout, self.spec, self.site), env)
        self.status = None
        self.set_state(State.STARTING)  # STOPPED -> STARTING

    def records_alive(self):
        return all(self.oscalls.record_alive(self.site.record_path(name)) for name in self.spec.records)

    def describe_death(self):
        dead = [name[:-len(".pid")] for name in self.spec.records
                if not self.oscalls.record_alive(self.site.record_path(name))]
        if self.status is None:
            return "%s no longer running" % ", ".join(dead)
        others = [name for name in dead if name != self.spec.name]
        return "%s (pid %s) %s%s" % (self.spec.name, self.pid, _how_it_ended(self.status),
                                     " (%s no longer running)" % ", ".join(others) if others else "")


def _how_it_ended(status):
    """An exit status (``Popen.returncode``: minus the signal number when killed) in words."""
    return "killed by signal %d" % -status if status < 0 else "exited with status %d" % status


class SiteSupervisor:
    """The daemons of one site under one owner, as a step machine.

    ``begin_boot`` and ``begin_stop`` start a phase; ``reap`` collects exit statuses;
    ``step(now)`` advances and returns ``(event, detail)``: ``(SERVING, None)`` when
    boot completed, ``(BOOT_FAILED, BootError)`` when it failed (the stop of what was
    started has begun), ``(DIED, [description])`` when serving daemons died (the
    caller decides whether to stop), ``(STOPPED, StopReport)`` when a stop ended, else
    ``(None, None)``. After each step ``deadline`` is the monotonic time by which the
    next step is due (None: nothing is in progress).
    """

    def __init__(self, layout, site, timings, log, oscalls=SYSTEM):
        self.layout, self.site, self.timings, self.log = layout, site, timings, log
        self.oscalls = oscalls
        self.daemons = [DaemonProcess(spec, site, log, oscalls) for spec in SITE_DAEMONS]
        self.unreaped = set()  # pids of our children not yet reaped
        self.boot_deadline = self.stopping = self.pending = self.deadline = None

    def running(self):
        return any(d.state in (State.STARTING, State.RUNNING) for d in self.daemons)

    def booting(self):
        return any(d.state is State.STARTING for d in self.daemons)

    def begin_boot(self, now):
        """Start every daemon; the steps that follow wait for them to serve."""
        self.boot_deadline = now + self.timings.boot_timeout
        self.deadline = now
        for daemon in self.daemons:
            try:
                daemon.spawn(self.layout)
            except OSError as err:
                problem = "cannot start %s: %s" % (daemon.spec.name, err)
                self.pending = self._fail_boot(now, "boot failed: " + problem,
                                               "site %s did not start: %s" % (self.site.name, problem))
                return
            self.unreaped.add(daemon.pid)

    def begin_stop(self, reason, now):
        """Begin the orderly stop of every daemon and every process of the site (a stop
        already under way just goes on)."""
        if self.stopping is not None:
            return
        pids = []
        for daemon in reversed(self.daemons):
            if daemon.state in (State.STARTING, State.RUNNING):
                daemon.set_state(State.STOPPING, reason)  # STARTING/RUNNING -> STOPPING
            if daemon.pid is not None and daemon.status is None:
                pids.append((daemon.spec.name, daemon.pid))
        self.boot_deadline = None
        self.stopping = SiteStop(self.oscalls, self.site, self.timings, self.log, reason, pids, now)
        self.deadline = now

    def reap(self):
        """Collect the exit status of every child that ended (never blocks). The owner's
        only children are its daemons; waiting for each pid leaves a host process's
        other children alone."""
        for pid in sorted(self.unreaped):
            reaped = self.oscalls.waitpid_nohang(pid)
            if reaped is None:
                continue
            self.unreaped.discard(pid)
            for daemon in self.daemons:
                if daemon.pid == pid and daemon.status is None:
                    daemon.status = reaped[1]

    def step(self, now):
        """Advance by one non-blocking step at monotonic time ``now``; ``(event, detail)``."""
        if self.pending is not None:
            event, self.pending = self.pending, None
            return event
        if self.stopping is not None:
            return self._step_stop(now)
        if self.booting():
            return self._step_boot(now)
        if any(d.state is State.RUNNING for d in self.daemons):
            self.deadline = now + WATCH
            dead = self._dead_daemons()
            return (DIED, dead) if dead else (None, None)
        self.deadline = None
        return None, None

    def _step_boot(self, now):
        waiting = []
        for daemon in self.daemons:
            if daemon.state is not State.STARTING:
                continue
            if daemon.status is not None:
                daemon.set_state(State.EXITED, "during start")  # STARTING -> EXITED
                problem = "%s during start" % daemon.describe_death()
                return self._fail_boot(now, "boot failed: " + problem, "site %s did not start: %s; see %s" % (
                    self.site.name, problem, os.path.join(self.site.spool, "log")))
            if daemon.records_alive():
                daemon.set_state(State.RUNNING, "serving")  # STARTING -> RUNNING
            else:
                waiting.append(daemon)
        if not waiting:
            self.boot_deadline = None
            self.deadline = now + WATCH
            return SERVING, None
        if now >= self.boot_deadline:
            names = ", ".join(d.spec.name for d in waiting)
            return self._fail_boot(now, "boot timeout", "site %s was not serving within BOOT_TIMEOUT=%d s "
                                   "(still waiting for %s); everything started was stopped"
                                   % (self.site.name, self.timings.boot_timeout, names))
        self.deadline = min(self.boot_deadline, now + POLL)
        return None, None

    def _fail_boot(self, now, stop_reason, message):
        """Boot failed: stop what was started; the event that says so."""
        self.begin_stop(stop_reason, now)
        return BOOT_FAILED, BootError(message)

    def _dead_daemons(self):
        """Descriptions of RUNNING daemons that died (marks them EXITED)."""
        found = []
        for daemon in self.daemons:
            if daemon.state is State.RUNNING and (daemon.status is not None or not daemon.records_alive()):
                found.append(daemon.describe_death())
                daemon.set_state(State.EXITED, "unexpected")  # RUNNING -> EXITED
        return found

    def _step_stop(self, now):
        self.deadline = self.stopping.step(now)
        if self.stopping.report is None:
            return None, None
        report, self.stopping = self.stopping.report, None
        self.reap()
        for daemon in self.daemons:
            if daemon.state in (State.STOPPING, State.EXITED):
                daemon.set_state(State.STOPPED)  # STOPPING/EXITED -> STOPPED
            daemon.pid = daemon.status = None
        self.deadline = None
        return STOPPED, report


class SiteStop:
    """One stop of a site, as a step machine that never sleeps.

    ``daemon_pids`` [(name, pid)] in stop order. Orderly phase: SIGTERM each daemon
    and wait for it, in order, until ``timings.orderly_seconds`` are used; then
    SIGTERM what jobs left behind. Forced phase (the rest of STOP_TIMEOUT, or all of
    FORCEKILL_TIME when it is not below STOP_TIMEOUT): SIGKILL every remaining process
    of the site -- a daemon's whole process group, and every member of the site's
    control group on this node at once (:mod:`..site.cgroup`: a process forking meanwhile
    cannot outrun it) -- in rounds, until none is left or the time is up. ``leftovers``
    of the report are the pids still alive at the deadline. ``step(now)`` returns the
    next deadline; ``report`` is set when done.
    """

    def __init__(self, oscalls, site, timings, log, reason, daemon_pids, now):
        self.oscalls, self.site, self.log, self.reason = oscalls, site, log, reason
        self.start = now
        self.orderly_end = now + timings.orderly_seconds
        self.final_end = now + timings.total_stop_seconds
        self.daemon_pids = list(daemon_pids)
        self.queue = list(daemon_pids)
        self.current = None  # (name, pid) sent SIGTERM, waited for
        self.leftovers = []
        self.forced = []
        self.remaining = []
        self.wait_end = None
        self.report = None
        self._phase = self._daemons
        log.info("stopping site %s (%s): orderly %d s, forced %d s"
                 % (site.name, reason, timings.orderly_seconds, timings.total_stop_seconds - timings.orderly_seconds))

    def step(self, now):
        """Act at ``now``; the monotonic time of the next step, or None when done."""
        deadline = None
        while self.report is None and deadline is None:
            deadline = self._phase(now)
        return deadline

    def _alive(self, pids):
        return [pid for pid in pids if self.oscalls.pid_alive(pid)]

    def _daemons(self, now):
        """Orderly: one daemon after the other, SIGTERM and wait until it is gone."""
        if self.current is not None:
            name, pid = self.current
            if self.oscalls.pid_alive(pid):
                if now < self.orderly_end:
                    return min(self.orderly_end, now + POLL)
                self.log.warning("%s (pid %d) did not stop within the orderly phase" % (name, pid))
                self._phase = self._begin_leftovers
                return None
            self.current = None
        if self.queue and now < self.orderly_end:
            self.current = self.queue.pop(0)
            self.oscalls.kill(self.current[1], signal.SIGTERM)
            return None
        self._phase = self._begin_leftovers
        return None

    def _begin_leftovers(self, now):
        """Orderly, while time is left: SIGTERM what jobs left behind, for a short grace."""
        if now < self.orderly_end:
            self.leftovers = self.oscalls.signal_site(self.site.spool, signal.SIGTERM)
            if self.leftovers:
                self.log.info("ending %d leftover process(es) of the site: %s" % (len(self.leftovers), self.leftovers))
                self.wait_end = min(self.orderly_end, now + LEFTOVER_GRACE)
                self._phase = self._wait_leftovers
                return None
        else:
            self.leftovers = self.oscalls.site_pids(self.site.spool)
        self._phase = self._begin_forced
        return None

    def _wait_leftovers(self, now):
        if self._alive(self.leftovers) and now < self.wait_end:
            return min(self.wait_end, now + POLL)
        self._phase = self._begin_forced
        return None

    def _begin_forced(self, now):
        self.remaining = _merged(self._alive([pid for _name, pid in self.daemon_pids]), self._alive(self.leftovers))
        if not self.remaining:
            return self._finish(now)
        return self._kill_round(now)

    def _kill_round(self, now):
        """Forced: SIGKILL every remaining process and whatever else of the site runs (what
        the killed processes may have started meanwhile); wait a round for them to go."""
        if now >= self.final_end:
            return self._finish(now)
        daemons = {pid for _name, pid in self.daemon_pids}
        for pid in self.remaining:
            if pid in daemons:
                self.oscalls.killpg(pid, signal.SIGKILL)  # the daemon's session: netdaemon and the like
            self.oscalls.kill(pid, signal.SIGKILL)
        self.remaining = _merged(self.remaining, self.oscalls.signal_site(self.site.spool, signal.SIGKILL))
        if not self.remaining:
            return self._finish(now)
        self.forced = _merged(self.forced, self.remaining)
        self.wait_end = min(self.final_end, now + KILL_ROUND)
        self._phase = self._wait_killed
        return None

    def _wait_killed(self, now):
        self.remaining = _merged(self._alive(self.remaining), self.oscalls.site_pids(self.site.spool))
        if self.remaining and now < self.wait_end:
            return min(self.wait_end, now + POLL)
        self._phase = self._kill_round
        return None

    def _finish(self, now):
        seconds = now - self.start
        if self.forced:
            self.log.warning("forced: SIGKILL to %d process(es) of site %s: %s"
                             % (len(self.forced), self.site.name, self.forced))
        if self.remaining:
            self.log.error("site %s: still alive after STOP_TIMEOUT: %s" % (self.site.name, self.remaining))
        else:
            self.oscalls.site_stopped(self.site.spool)
        self.log.info("site %s stopped in %.2f s" % (self.site.name, seconds))
        self.report = StopReport(self.reason, seconds, self.forced, self.remaining)
        return None


def _merged(first, second):
    """``first`` then what of ``second`` it lacks, in order."""
    return list(first) + [pid for pid in second if pid not in first]


def stop_site_processes(daemon_pids, site, timings, log, reason, oscalls=SYSTEM):
    """Stop a site whose processes are not our children (``cjcpw -stop`` without a live
    owner): run a :class:`SiteStop` to its end, sleeping between steps. A StopReport."""
    stop = SiteStop(oscalls, site, timings, log, reason, daemon_pids, oscalls.monotonic())
    while True:
        deadline = stop.step(oscalls.monotonic())
        if stop.report is not None:
            return stop.report
        oscalls.sleep(deadline - oscalls.monotonic())
