"""The processes of a site: every process started from it carries ``CJC_SITE_SPOOL``.

Daemons and job processes of a site (and whatever the jobs start in the
background) have ``CJC_SITE_SPOOL=<site spool>`` in their environment, so a stop
can find them all, even those that left the job's session (SPEC §2.13: nothing
started from the site may keep the shared disk busy).
"""

import os
import time

SPOOL_ENV = "CJC_SITE_SPOOL"
JOB_ENV = "QSUB_REQID"  # set in every job's environment (NQS), inherited by its children


def _environ(process):
    import psutil
    try:
        return process.environ()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
        return None


# Inode of the machine's initial network namespace: PROC_NET_INIT_INO of the kernel
# (include/linux/proc_ns.h), used when PID 1's namespace cannot be read.
_INIT_NET_INO = 0xEFFFFFF9


def _net_namespace(pid):
    """Inode of the network namespace of ``pid`` ("self" for this process), or None."""
    try:
        return os.stat("/proc/%s/ns/net" % pid).st_ino
    except OSError:
        return None


def site_processes(spool, jobs_only=False):
    """[psutil.Process] whose environment has ``CJC_SITE_SPOOL=<spool>`` (not this process),
    in this process's network namespace.

    A site serves on its node's addresses, so its daemons and jobs share the node's
    network namespace; processes of the same spool path in another network namespace
    are another node's (lab nodes on one machine share one process table, and every
    node mounts the shared disk at the same path) and are never this node's to end.
    From the machine's initial network namespace (PID 1's: a real node, or tests and
    tools looking at lab nodes from the host) every namespace is seen.
    ``jobs_only``: only job processes and their descendants (``QSUB_REQID`` set).
    Zombies are left out: they hold nothing and cannot be killed.
    """
    import psutil
    found = []
    me = os.getpid()
    here = _net_namespace("self")
    if here is not None and here in (_net_namespace(1), _INIT_NET_INO):
        here = None  # the machine's own view: every namespace
    for process in psutil.process_iter():
        if process.pid == me:
            continue
        if here is not None and _net_namespace(process.pid) != here:
            continue
        environ = _environ(process)
        if not environ or environ.get(SPOOL_ENV) != spool:
            continue
        if jobs_only and JOB_ENV not in environ:
            continue
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
        except psutil.NoSuchProcess:
            continue
        found.append(process)
    return found


def kill_processes(processes, sig):
    """Send ``sig`` to each process; gone ones are fine. Returns those signalled."""
    import psutil
    sent = []
    for process in processes:
        try:
            process.send_signal(sig)
            sent.append(process)
        except (psutil.NoSuchProcess, ProcessLookupError):
            pass
    return sent


def _gone(process):
    """True when the process no longer exists or is a zombie (ended, not yet reaped by init)."""
    import psutil
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_gone(processes, timeout):
    """Wait up to ``timeout`` seconds until every process has ended; returns those still alive.

    A zombie counts as ended: its parent may be init, which reaps orphans late.
    """
    deadline = time.monotonic() + timeout
    alive = [p for p in processes if not _gone(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.01)
        alive = [p for p in alive if not _gone(p)]
    return alive


def end_processes(processes, grace, sigterm=15, sigkill=9):
    """SIGTERM, wait up to ``grace`` seconds, then SIGKILL the rest and wait for them to end."""
    alive = kill_processes(processes, sigterm)
    if grace > 0 and alive:
        alive = wait_gone(alive, grace)
    if alive:
        kill_processes(alive, sigkill)
        wait_gone(alive, 5)
