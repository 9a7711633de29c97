"""The owner process of a site: ``cjcpw`` and what talks to it (guide §2.3(4), §2.3(7), §2.5.5).

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
Signal handlers only record; the main loop acts: signals, reap, one step of the
supervisor, publish, then sleep until the step's deadline or the next signal -- so a
stop request is followed at once, also in the middle of a boot.

Exit statuses of the owner (documented for cluster products): 0 stopped on
request (also during the boot), 1 error, 2 usage, 3 a daemon died (site stopped), 4 boot failed or timed
out, 5 the site is owned by another live owner (refused).
"""

import json
import os
import signal
import socket

from ..site import pidrecords
from ..site import status as site_status
from ..config.daemonconf import COMMON, load_daemon_conf
from ..site.log import DaemonLog
from ..errors import CjcError, SiteError
from ..config.fileio import read_text, write_atomic
from ..site.ownership import Ownership, describe_owner, is_owned, wait_released
from ..config.siteconf import load_site_conf
from ..site.registry import CJCPW_RECORD
from ..site.daemonset import SITE_DAEMONS
from .oscalls import SYSTEM
from .supervisor import BOOT_FAILED, DIED, SERVING, STOPPED, BootError, SiteSupervisor, StopReport, stop_site_processes

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
    """The owner process of one site (create it in the process that will live as owner).

    ``ready`` (detached owners) is called once, when the first boot serves.
    """

    def __init__(self, layout, site, monitored, log, oscalls=SYSTEM, ready=None):
        self.layout, self.site, self.monitored, self.log = layout, site, monitored, log
        self.oscalls, self.ready = oscalls, ready
        self.ownership = Ownership(site)
        self.signals = []
        self.wake_fd = None  # readable once a signal arrived
        self.daemon_state = DOWN
        self.supervisor = None
        self.exit_status = None  # set once the owner is on its way out (after the stop)
        self.boot_error = None  # the BootError of the boot now being undone
        self.fatal_boot = False  # a failed boot ends the owner (its first boot, not nqsstart's)
        self.wanted_pending = False  # SIGUSR1 while a boot or stop was under way

    # -- signals: handlers only record ---------------------------------------------
    def _record_signal(self, signum, _frame):
        self.signals.append(signum)

    def _install_signals(self):
        self.wake_fd = self.oscalls.catch_signals((signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGCHLD),
                                                  self._record_signal)

    def _publish(self, state, **extra):
        self.daemon_state = state
        self.ownership.update(mode="cjcpw" if self.monitored else "detached", site=self.site.name,
                              daemons=state, maintenance=self.maintenance, **extra)

    # -- life ---------------------------------------------------------------------
    def start(self):
        """Take ownership and begin bringing the daemons up (unless in maintenance);
        :meth:`run` follows the boot. Raises CjcError (ownership not kept)."""
        self.maintenance = maintenance_on(self.layout)
        self.timings = site_timings(self.site, self.log)
        self.ownership.acquire(mode="cjcpw" if self.monitored else "detached", site=self.site.name,
                               daemons=DOWN, maintenance=self.maintenance)
        try:
            if self.monitored:
                pidrecords.write_record(self.site.record_path(CJCPW_RECORD), os.getpid())
            self._install_signals()
            self.supervisor = SiteSupervisor(self.layout, self.site, self.timings, self.log, self.oscalls)
            if self.maintenance:
                self.log.info("maintenance=ON: cjcpw starts alone; use nqsstart/nqsstop for the daemons")
                write_atomic(os.path.join(self.site.run_dir, WANTED), DOWN + "\n")
                self._publish(DOWN)
                return
            write_atomic(os.path.join(self.site.run_dir, WANTED), UP + "\n")
            self.fatal_boot = True
            self._bring_up()
        except BaseException:
            pidrecords.remove_record(self.site.record_path(CJCPW_RECORD), os.getpid())
            self.ownership.release()
            raise

    def _bring_up(self):
        self._publish(STARTING)
        self.supervisor.begin_boot(self.oscalls.monotonic())

    def _bring_down(self, reason):
        self._publish(STOPPING)
        self.supervisor.begin_stop(reason, self.oscalls.monotonic())

    def run(self):
        """The main loop; returns the exit status, or raises the BootError of a first boot
        that failed (everything started is stopped by then). Always releases ownership."""
        try:
            return self._loop()
        finally:
            pidrecords.remove_record(self.site.record_path(CJCPW_RECORD), os.getpid())
            self.ownership.release()

    def _loop(self):
        """Signals, reap, step, publish; then sleep until the step's deadline or a signal.

        Reaping before the step lets it see every exit so far; the wake-up pipe makes a
        signal that arrives after the signals were read end the sleep at once.
        """
        while True:
            self._act_on_signals()
            self.supervisor.reap()
            event, detail = self.supervisor.step(self.oscalls.monotonic())
            if event is not None:
                status = self._follow(event, detail)
                if status is not None:
                    return status
            deadline = self.supervisor.deadline
            self.oscalls.wait_readable(self.wake_fd, None if deadline is None else deadline - self.oscalls.monotonic())

    def _act_on_signals(self):
        while self.signals:
            signum = self.signals.pop(0)
            if signum in (signal.SIGTERM, signal.SIGINT) and self.exit_status is None:
                # also while booting: the cluster's stop must not wait for the boot (guide §2.3(7))
                self.log.info("%s: orderly stop" % signal.Signals(signum).name)
                self.exit_status = 0
                self._bring_down("stop requested (%s)" % signal.Signals(signum).name)
            elif signum == signal.SIGUSR1 and self.exit_status is None:
                self._follow_wanted()

    def _follow(self, event, detail):
        """Act on what a step reported; the exit status when the owner is done."""
        if event == SERVING:
            self._publish(UP)
            self.log.info("site %s serving (owner pid %d)" % (self.site.name, os.getpid()))
            self.fatal_boot = False
            if self.ready is not None:
                self.ready()
                self.ready = None
        elif event == BOOT_FAILED:
            self.boot_error = detail
        elif event == DIED:
            if self.monitored and not self.maintenance and self.exit_status is None:
                self.log.error("daemon died: %s; stopping the site" % "; ".join(detail))
                self.exit_status = EXIT_DAEMON_DIED
                self._bring_down("daemon died: " + "; ".join(detail))
            else:
                for line in detail:
                    self.log.warning("daemon died (not monitored): %s" % line)
        elif event == STOPPED:
            write_atomic(os.path.join(self.site.run_dir, LAST_STOP), json.dumps(detail._asdict()) + "\n")
            error, self.boot_error = self.boot_error, None
            self._publish(FAILED if error else DOWN)
            if self.exit_status is not None:
                return self.exit_status
            if error and self.fatal_boot:
                raise error
            if error:
                self.log.error(str(error))
        if self.wanted_pending and not self.supervisor.booting() and self.supervisor.stopping is None:
            self._follow_wanted()
        return None

    def _follow_wanted(self):
        """nqsstart / nqsstop asked (SIGUSR1): bring the daemons to the state in ``run/wanted``.

        A stop is followed at once, also during a boot; a start waits for a stop or boot
        under way to end (then the file is read again)."""
        wanted = (read_text(os.path.join(self.site.run_dir, WANTED)) or UP).strip()
        if self.supervisor.stopping is not None or (wanted == UP and self.supervisor.booting()):
            self.wanted_pending = True
            return
        self.wanted_pending = False
        if wanted == DOWN and self.supervisor.running():
            self._bring_down("nqsstop")
        elif wanted == UP and self.daemon_state in (DOWN, FAILED):
            self._bring_up()


# -- commands' side ------------------------------------------------------------------

def live_owner(site):
    """The owner record if the owner process lives on this node, else None (site/status.py)."""
    return site_status.live_owner(site_status.read_status(site))


def run_monitored(layout, site, log):
    """``cjcpw <site> <db>``: own and supervise in the foreground; returns the exit status."""
    owner = Owner(layout, site, True, log)
    owner.start()
    return owner.run()


def start_detached(layout, site, log_name="cjcpw"):
    """Fork a detached owner; return once the site serves (or raise its error)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the owner-to-be
        os.close(read_fd)
        status = 1

        def answer(text):
            os.write(write_fd, text.encode())
            os.close(write_fd)

        owner = None
        try:
            os.setsid()
            _redirect_output(site)
            owner = Owner(layout, site, False, DaemonLog(layout, site.spool, log_name), ready=lambda: answer("0 ok"))
            owner.start()
            status = owner.run()
            if owner.ready is not None:  # stopped before it served
                answer("1 site %s was stopped on request during its start" % site.name)
        except CjcError as err:
            if owner is None or owner.ready is not None:
                answer("%d %s" % (err.exit_status, err))
            status = err.exit_status
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


def _wait_for(predicate, seconds, what, oscalls=SYSTEM):
    deadline = oscalls.monotonic() + seconds
    while not predicate():
        if oscalls.monotonic() >= deadline:
            raise SiteError("timed out after %d s waiting for %s" % (seconds, what))
        oscalls.sleep(0.02)


def request_daemons(site, wanted, seconds, oscalls=SYSTEM):
    """Ask the live owner to bring the daemons ``up`` or ``down``; wait for it. Returns the record."""
    record = live_owner(site)
    write_atomic(os.path.join(site.run_dir, WANTED), wanted + "\n")
    oscalls.kill(record["pid"], signal.SIGUSR1)

    def settled():
        now = live_owner(site)
        return now is None or now.get("daemons") in (wanted, FAILED)
    _wait_for(settled, seconds, "the daemons of %s to be %s" % (site.name, wanted), oscalls)
    now = live_owner(site)
    if now is None:
        raise SiteError("the owner of site %s exited" % site.name)
    if now.get("daemons") == FAILED:
        raise BootError("the daemons of site %s failed to start; see %s/log" % (site.name, site.spool))
    return now


def recorded_daemon_pids(site):
    """[(name, pid)] of daemons recorded alive on this node (site/status.py), in stop order."""
    serving = site_status.serving_daemons(site_status.read_status(site))
    names = [record[:-len(".pid")] for spec in reversed(SITE_DAEMONS) for record in spec.records]
    return [(name, serving[name]) for name in names if name in serving]


def stop_site(site, log, oscalls=SYSTEM):
    """``cjcpw -stop``: stop the site's owner (or its orphans) orderly within site.conf bounds.

    Returns a StopReport, or None when nothing of the site was running here.
    """
    timings = site_timings(site, log)
    status = site_status.read_status(site)
    record = status["owner"]
    if site_status.live_owner(status):
        oscalls.kill(record["pid"], signal.SIGTERM)
        _wait_for(lambda: live_owner(site) is None, timings.total_stop_seconds + 15,
                  "the owner of %s (pid %d) to stop" % (site.name, record["pid"]), oscalls)
        report = json.loads(read_text(os.path.join(site.run_dir, LAST_STOP)) or "null")
        report = StopReport(**report) if report else None
        left = _site_pids_after(site, 1.0, oscalls)  # the owner's word, checked against the kernel's
        if report is not None and left:
            report = report._replace(leftovers=sorted(set(report.leftovers) | set(left)))
    else:
        if is_owned(site) and record and record.get("host") != status["host"]:
            raise SiteError("site %s runs on another node: owned by %s; stop it there"
                            % (site.name, describe_owner(record)))
        daemons = recorded_daemon_pids(site)
        if not daemons and not oscalls.site_pids(site.spool):
            return None
        report = stop_site_processes(daemons, site, timings, log, "cjcpw -stop without a live owner", oscalls)
    # the owner's keeper lets the lock go once the site's group here is empty: done means free
    if report is not None and not report.leftovers and not wait_released(site, 5):
        raise SiteError("site %s stopped, but its ownership lock is still held on this node" % site.name)
    return report


def _site_pids_after(site, seconds, oscalls):
    """The site's pids here once they are gone or ``seconds`` have passed (what is left)."""
    deadline = oscalls.monotonic() + seconds
    while True:
        left = oscalls.site_pids(site.spool)
        if not left or oscalls.monotonic() >= deadline:
            return left
        oscalls.sleep(0.02)
