"""The owner process of a site: ``cjcpw`` and what talks to it (SPEC §2.4, §2.7).

The owner takes the site's ownership lock, starts the daemons through a
:class:`SiteSupervisor` and lives until it is told to stop:

* **monitored** (``cjcpw <site> <db>``, foreground): if a daemon dies, the owner
  stops the rest and exits with status 3 -- the exit the cluster software watches;
* **detached** (``cjcpw -c``, ``nqsstart`` with no owner): the same owner forked into
  the background, without monitoring; the command returns once the site serves;
* ``maintenance=ON`` in ``rc/daemon.conf``: the owner starts no daemon and does not
  monitor; ``nqsstart``/``nqsstop`` then start/stop the daemons under it.

``nqsstart``/``nqsstop`` talk to a live owner without disturbing it: they write the
wanted daemon state to ``run/wanted`` and send SIGUSR1; the owner acts and
publishes its daemon state in its owner record, which they wait for.
Signal handlers only record; the main loop acts.

Exit statuses of the owner (documented for cluster products): 0 stopped on
request, 1 error, 2 usage, 3 a daemon died (site stopped), 4 boot failed or timed
out, 5 the site is owned by another live owner (refused).
"""

import json
import os
import select
import signal
import socket
import time

from ..site import pidrecords
from ..config.daemonconf import COMMON, load_daemon_conf
from ..site.log import DaemonLog
from ..errors import CjcError, SiteError
from ..config.fileio import read_text, write_atomic
from ..site.ownership import OWNER_RECORD, Ownership, describe_owner, is_owned
from ..config.siteconf import load_site_conf
from ..site.registry import CJCPW_RECORD
from .supervisor import BootError, SiteSupervisor, StopReport, stop_site_processes
from ..site.daemonset import SITE_DAEMONS

EXIT_DAEMON_DIED = 3
WANTED = "wanted"
LAST_STOP = "laststop.json"
UP, DOWN, STARTING, STOPPING, FAILED = "up", "down", "starting", "stopping", "failed"


def maintenance_on(layout):
    settings, _diagnostics = load_daemon_conf(layout.common_daemon_conf, COMMON)
    return settings.get("maintenance") == "ON"


def site_timings(site, log):
    timings, diagnostics = load_site_conf(site.site_conf)
    for diagnostic in diagnostics:
        log.warning(str(diagnostic))
    return timings


class Owner:
    """The owner process of one site (create it in the process that will live as owner)."""

    def __init__(self, layout, site, monitored, log):
        self.layout, self.site, self.monitored, self.log = layout, site, monitored, log
        self.ownership = Ownership(site)
        self.signals = []
        self.wake_r = self.wake_w = None
        self.daemon_state = DOWN
        self.supervisor = None

    # -- signals: handlers only record ---------------------------------------------
    def _record_signal(self, signum, _frame):
        self.signals.append(signum)

    def _install_signals(self):
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(self.wake_w)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGCHLD):
            signal.signal(signum, self._record_signal)

    def _publish(self, state, **extra):
        self.daemon_state = state
        self.ownership.update(mode="cjcpw" if self.monitored else "detached", site=self.site.name,
                              daemons=state, maintenance=self.maintenance, **extra)

    # -- life ---------------------------------------------------------------------
    def start(self):
        """Take ownership and bring the daemons up (unless in maintenance). Raises CjcError."""
        self.maintenance = maintenance_on(self.layout)
        self.timings = site_timings(self.site, self.log)
        self.ownership.acquire(mode="cjcpw" if self.monitored else "detached", site=self.site.name,
                               daemons=DOWN, maintenance=self.maintenance)
        if self.monitored:
            pidrecords.write_record(self.site.record_path(CJCPW_RECORD), os.getpid())
        self._install_signals()
        self.supervisor = SiteSupervisor(self.layout, self.site, self.timings, self.log, self.ownership.fd)
        if self.maintenance:
            self.log.info("maintenance=ON: cjcpw starts alone; use nqsstart/nqsstop for the daemons")
            write_atomic(os.path.join(self.site.run_dir, WANTED), DOWN + "\n")
            self._publish(DOWN)
            return
        write_atomic(os.path.join(self.site.run_dir, WANTED), UP + "\n")
        self._bring_up()

    def _bring_up(self):
        self._publish(STARTING)
        try:
            self.supervisor.boot()
        except BootError:
            self._publish(FAILED)
            raise
        self._publish(UP)
        self.log.info("site %s serving (owner pid %d)" % (self.site.name, os.getpid()))

    def _bring_down(self, reason):
        self._publish(STOPPING)
        report = self.supervisor.stop(reason)
        write_atomic(os.path.join(self.site.run_dir, LAST_STOP), json.dumps(report._asdict()) + "\n")
        self._publish(DOWN)
        return report

    def run(self):
        """The main loop; returns the exit status. Always releases ownership."""
        try:
            return self._loop()
        finally:
            pidrecords.remove_record(self.site.record_path(CJCPW_RECORD), os.getpid())
            self.ownership.release()

    def _loop(self):
        while True:
            select.select([self.wake_r], [], [], 0.2)
            try:
                os.read(self.wake_r, 512)
            except BlockingIOError:
                pass
            while self.signals:
                signum = self.signals.pop(0)
                if signum in (signal.SIGTERM, signal.SIGINT):
                    self.log.info("%s: orderly stop" % signal.Signals(signum).name)
                    self._bring_down("stop requested (%s)" % signal.Signals(signum).name)
                    return 0
                if signum == signal.SIGUSR1:
                    self._follow_wanted()
            if self.daemon_state == UP:
                dead = self.supervisor.dead_daemons()
                if dead and self.monitored and not self.maintenance:
                    self.log.error("daemon died: %s; stopping the site" % "; ".join(dead))
                    self._bring_down("daemon died: " + "; ".join(dead))
                    return EXIT_DAEMON_DIED
                for line in dead:
                    self.log.warning("daemon died (not monitored): %s" % line)

    def _follow_wanted(self):
        wanted = (read_text(os.path.join(self.site.run_dir, WANTED)) or UP).strip()
        if wanted == DOWN and self.supervisor.running():
            self._bring_down("nqsstop")
        elif wanted == UP and self.daemon_state in (DOWN, FAILED):
            try:
                self._bring_up()
            except BootError as err:
                self.log.error(str(err))


# -- commands' side ------------------------------------------------------------------

def live_owner(site):
    """The owner record if the owner process lives on this node, else None."""
    record = pidrecords.read_record(os.path.join(site.run_dir, OWNER_RECORD))
    return record if pidrecords.record_is_alive(record) else None


def run_monitored(layout, site, log):
    """``cjcpw <site> <db>``: own and supervise in the foreground; returns the exit status."""
    owner = Owner(layout, site, True, log)
    try:
        owner.start()
    except BootError:
        owner.ownership.release()
        raise
    return owner.run()


def start_detached(layout, site, log_name="cjcpw"):
    """Fork a detached owner; return once the site serves (or raise its error)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the owner-to-be
        os.close(read_fd)
        status = 1
        try:
            os.setsid()
            _redirect_output(site)
            log = DaemonLog(layout, site.spool, log_name)
            owner = Owner(layout, site, False, log)
            try:
                owner.start()
            except CjcError as err:
                owner.ownership.release()
                os.write(write_fd, ("%d %s" % (err.exit_status, err)).encode())
                os._exit(err.exit_status)
            os.write(write_fd, b"0 ok")
            os.close(write_fd)
            status = owner.run()
        finally:
            os._exit(status)
    os.close(write_fd)
    answer = b""
    while True:
        chunk = os.read(read_fd, 4096)
        if not chunk:
            break
        answer += chunk
    os.close(read_fd)
    if not answer:
        os.waitpid(pid, 0)
        raise SiteError("the owner process of site %s died during start" % site.name)
    status, _, message = answer.decode().partition(" ")
    if status != "0":
        os.waitpid(pid, 0)
        error = CjcError(message)
        error.exit_status = int(status)
        raise error
    return pid


def _redirect_output(site):
    null = os.open(os.devnull, os.O_RDWR)
    out = os.open(os.path.join(site.spool, "log", "cjcpw-%s.out" % socket.gethostname()),
                  os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(null)
    os.close(out)


def _wait_for(predicate, seconds, what):
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() >= deadline:
            raise SiteError("timed out after %d s waiting for %s" % (seconds, what))
        time.sleep(0.02)


def request_daemons(site, wanted, seconds):
    """Ask the live owner to bring the daemons ``up`` or ``down``; wait for it. Returns the record."""
    record = live_owner(site)
    write_atomic(os.path.join(site.run_dir, WANTED), wanted + "\n")
    os.kill(record["pid"], signal.SIGUSR1)

    def settled():
        now = live_owner(site)
        return now is None or now.get("daemons") in (wanted, FAILED)
    _wait_for(settled, seconds, "the daemons of %s to be %s" % (site.name, wanted))
    now = live_owner(site)
    if now is None:
        raise SiteError("the owner of site %s exited" % site.name)
    if now.get("daemons") == FAILED:
        raise BootError("the daemons of site %s failed to start; see %s/log" % (site.name, site.spool))
    return now


def recorded_daemon_pids(site):
    """[(name, pid)] of daemons recorded alive on this node, in stop order."""
    found = []
    for spec in reversed(SITE_DAEMONS):
        for record in spec.records:
            pid = pidrecords.live_pid(site.record_path(record))
            if pid:
                found.append((record.replace(".pid", ""), pid))
    return found


def stop_site(site, log, out=print):
    """``cjcpw -stop``: stop the site's owner (or its orphans) orderly within site.conf bounds.

    Returns a StopReport, or None when nothing of the site was running here.
    """
    timings = site_timings(site, log)
    record = pidrecords.read_record(os.path.join(site.run_dir, OWNER_RECORD))
    if pidrecords.record_is_alive(record):
        os.kill(record["pid"], signal.SIGTERM)
        _wait_for(lambda: live_owner(site) is None, timings.total_stop_seconds + 15,
                  "the owner of %s (pid %d) to stop" % (site.name, record["pid"]))
        report = json.loads(read_text(os.path.join(site.run_dir, LAST_STOP)) or "null")
        return StopReport(**report) if report else None
    if is_owned(site) and record and record.get("host") != pidrecords.this_host():
        raise SiteError("site %s runs on another node: owned by %s; stop it there"
                        % (site.name, describe_owner(record)))
    daemons = recorded_daemon_pids(site)
    from ..site.processes import site_processes
    if not daemons and not site_processes(site.spool):
        return None
    return stop_site_processes(daemons, site, timings, log, "cjcpw -stop without a live owner")
