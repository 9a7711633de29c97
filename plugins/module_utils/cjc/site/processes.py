"""The processes of a site on this node, as the kernel tracks them (:mod:`.cgroup`).

A process belongs to a site when it is a member of the site's control group on this
node -- made by root, entered by ``cjcpw`` before it starts anything, inherited by
every daemon, job and background child, and impossible for a job to leave. Neither
the environment nor the process name counts: a user process that sets
``CJC_SITE_SPOOL`` or calls itself nqsdaemon is not the site's, is not ended by its
stop and does not make it look running. Where no cgroup is usable the weaker
environment scan stands in (see :mod:`.cgroup`). A stop must end every one of them
(guide §2.6.3: nothing started from the site may keep the shared disk busy).
"""

import time

from .cgroup import JOB_ENV, JOBS, SPOOL_ENV, SiteGroup, machine_view

__all__ = ("JOB_ENV", "SPOOL_ENV", "site_processes", "site_pids", "kill_site", "forget_site", "kill_processes",
           "wait_gone", "end_processes")


def site_pids(spool, jobs_only=False):
    """Sorted pids of the site's live processes on this node (not this process).

    ``jobs_only``: the jobs group -- every job and what it started (with nqsdaemon and
    netdaemon while they run). From the machine's initial network namespace every
    node's group of the site is seen (tests and tools looking at lab nodes).
    """
    sub = JOBS if jobs_only else None
    group = SiteGroup(spool)
    if not group.tracked or not machine_view():
        return group.members(sub)
    return sorted({pid for node in group.nodes() for pid in SiteGroup(spool, node).members(sub)})


def kill_site(spool):
    """SIGKILL every process of the site's group on this node at once (the caller excepted);
    returns the pids it had."""
    group = SiteGroup(spool)
    pids = group.members()
    group.end()
    return pids


def forget_site(spool):
    """Remove the site's emptied groups on this node (a populated one stays)."""
    SiteGroup(spool).remove()


def site_processes(spool, jobs_only=False):
    """[psutil.Process] of :func:`site_pids` (gone ones left out)."""
    import psutil
    found = []
    for pid in site_pids(spool, jobs_only):
        try:
            found.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            pass
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
