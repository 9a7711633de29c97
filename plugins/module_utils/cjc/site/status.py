"""Is the site running here, who owns it, which daemons serve: one answer, read from the node.

:func:`read_status` reads the site's pid records (never the site database), so it
answers on a node where the site is down or its disk is not mounted, and costs no
SQLite open. Every reader asks it: ``cjcls``, comagent's ``/status`` (which adds the
queues and running jobs), the OCF agent, the node facts and ``cjc_site``; the functions
below it only pick answers out of one status, so no reader opens a pid record itself.

A record is root's and names a process by pid and start time; where the kernel tracks
the site (:mod:`.cgroup`, for root) the process must also be a member of the site's
group on this node. A process's name or environment never counts: a user process
that calls itself nqsdaemon or sets ``CJC_SITE_SPOOL`` does not make the site look
running.
"""

import os

from . import pidrecords
from .cgroup import SiteGroup
from .daemonset import SITE_DAEMONS
from .ownership import OWNER_RECORD
from .registry import CJCPW_RECORD


def _of_site(group, pid):
    """``pid`` when it is None or a process of the site here (see above), else None."""
    return pid if pid is None or not group.tracked or group.contains(pid) else None


def daemon_states(site, group=None):
    """{daemon name: {"pid": pid or None, "state": "running"|"stopped"}} on this node."""
    group = group or SiteGroup(site.spool)
    states = {}
    for spec in SITE_DAEMONS:
        for record in spec.records:
            pid = _of_site(group, pidrecords.live_pid(site.record_path(record)))
            states[record[:-len(".pid")]] = {"pid": pid, "state": "running" if pid else "stopped"}
    return states


def read_status(site):
    """{site, machine_id, db_path, host, owner (record + alive), cjcpw, daemons} of ``site`` here.

    ``cjcpw`` is the pid of a monitoring ``cjcpw`` of the site on this node (the CJCPW
    column of ``cjcls``: ON), or None -- also while a detached owner (``cjcpw -c``,
    ``nqsstart``) runs the daemons.
    """
    group = SiteGroup(site.spool)
    owner = pidrecords.read_record(os.path.join(site.run_dir, OWNER_RECORD))
    if owner is not None:
        owner = dict(owner, alive=pidrecords.record_is_alive(owner) and _of_site(group, owner["pid"]) is not None)
    return {
        "site": site.name,
        "machine_id": site.machine_id,
        "db_path": site.db_path,
        "host": pidrecords.this_host(),
        "owner": owner,
        "cjcpw": _of_site(group, pidrecords.live_pid(site.record_path(CJCPW_RECORD))),
        "daemons": daemon_states(site, group),
    }


def live_owner(status):
    """The owner record of ``status`` when that owner lives here (monitored or detached), else None."""
    owner = status["owner"]
    return owner if owner is not None and owner["alive"] else None


def owner_pid(status):
    """pid of whoever owns the site here: the live owner, else a monitoring cjcpw; None when nobody."""
    return (live_owner(status) or {}).get("pid") or status["cjcpw"]


def daemon_pid(status, name="nqsdaemon"):
    """pid of daemon ``name`` serving here (nqsdaemon: the DAEMON-PID column of ``cjcls``), or None."""
    return status["daemons"][name]["pid"]


def serving_daemons(status):
    """{daemon: pid} of the daemons of ``status`` that serve here."""
    return {name: state["pid"] for name, state in status["daemons"].items() if state["pid"]}
