"""The operating system as supervision sees it: one seam, so the state machine runs on a fake.

Every OS call the supervisor and the owner make -- start a daemon, signal, reap,
ask whether a process or a pid record lives, list and signal the site's
processes, catch signals, read the clock, wait -- goes through one :class:`SystemOs`. The unit
tests hand the same code a fake that records calls and whose children exit on
command (the ``options``/``DummyOptions`` pattern of supervisor). The site's
process listing and ending are one method each, delegating to
:mod:`..site.processes`, so how a site's processes are found stays in one place.
"""

import os
import select
import signal
import subprocess
import time

from ..site import pidrecords, processes


def _die_with_parent():
    """In the child before exec: SIGTERM when the owner dies, so no daemon outlives it unwatched."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class SystemOs:
    """The real OS. Signals to processes that are gone (``ESRCH``) are not errors: gone is
    what a stop wants."""

    def __init__(self):
        # Popen objects of children not yet reaped: kept so that subprocess never reaps
        # them behind our back (it polls collected Popen objects of running children).
        self._children = {}

    # -- children --------------------------------------------------------------------
    def spawn(self, argv, env):
        """Start ``argv`` in a new session (its own process group), stdin on /dev/null,
        no other inherited descriptor, SIGTERM to it when this process dies; returns its
        pid. Raises OSError when it cannot be executed."""
        child = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, start_new_session=True,
                                 preexec_fn=_die_with_parent)
        self._children[child.pid] = child
        return child.pid

    def waitpid_nohang(self, pid):
        """Reap child ``pid`` without blocking: ``(pid, status)`` with status as
        ``Popen.returncode`` (exit code, or minus the signal number), or None."""
        try:
            found, raw = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return None
        if found == 0:
            return None
        status = os.waitstatus_to_exitcode(raw)
        child = self._children.pop(found, None)
        if child is not None:
            child.returncode = status
        return found, status

    # -- signals ---------------------------------------------------------------------
    def kill(self, pid, sig):
        """Send ``sig`` to ``pid``; False when it was gone."""
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return False
        return True

    def killpg(self, pgid, sig):
        """Send ``sig`` to process group ``pgid``; False when no such group exists."""
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return False
        return True

    # -- what lives --------------------------------------------------------------------
    def pid_alive(self, pid):
        """True while a non-zombie process ``pid`` exists (a zombie holds nothing)."""
        return pidrecords.pid_exists(pid)

    def record_alive(self, path):
        """True when the pid record at ``path`` names a live process of this host."""
        return pidrecords.live_pid(path) is not None

    def site_pids(self, spool):
        """Pids of every process of the site here (daemons, jobs, what jobs left behind)."""
        return processes.site_pids(spool)

    def signal_site(self, spool, sig):
        """Send ``sig`` to every process of the site here; returns the pids signalled.
        SIGKILL ends the site's whole control group at once (no fork can outrun it)."""
        if sig == signal.SIGKILL:
            return processes.kill_site(spool)
        return [process.pid for process in processes.kill_processes(processes.site_processes(spool), sig)]

    def site_stopped(self, spool):
        """The site's processes here are all gone: remove its (empty) control group."""
        processes.forget_site(spool)

    # -- signals to us ----------------------------------------------------------------
    def catch_signals(self, signums, handler):
        """Have ``handler(signum, frame)`` called for each of ``signums``; returns a
        non-blocking fd that becomes readable when one arrives (the wake-up pipe, so a
        signal that comes just before a wait ends that wait at once)."""
        read_fd, write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(write_fd)
        for signum in signums:
            signal.signal(signum, handler)
        return read_fd

    # -- time ------------------------------------------------------------------------
    def monotonic(self):
        return time.monotonic()

    def sleep(self, seconds):
        time.sleep(max(0.0, seconds))

    def wait_readable(self, fd, seconds):
        """Wait until ``fd`` (a non-blocking wake-up pipe) is readable or ``seconds`` pass
        (None: no limit); drains it."""
        select.select([fd], [], [], None if seconds is None else max(0.0, seconds))
        try:
            while os.read(fd, 512):
                pass
        except BlockingIOError:
            pass


SYSTEM = SystemOs()
