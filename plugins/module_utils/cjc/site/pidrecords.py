"""Pid records: which process of a site runs where, told truthfully.

A record is a small JSON file in the site's ``run/`` directory. Cluster sites keep
it on the shared disk, so it names the host that wrote it; a record is *alive* only
on that host, while the very process it names (same pid and start time, not a
zombie) still exists. Stale records from a crashed node therefore never count.
"""

import json
import os
import socket
import time

from ..config.fileio import write_atomic


def this_host():
    """The node identity written into records: the UTS host name."""
    return socket.gethostname()


def start_ticks(pid):
    """The start time of process ``pid`` (clock ticks since boot), or None when it is
    gone or a zombie (a zombie holds nothing, and this machine's PID 1 reaps late).

    Read straight from ``/proc/<pid>/stat``: every daemon writes a record when it
    starts, so this is on the boot path, where importing psutil would cost more
    than the rest of the record.
    """
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            stat = handle.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = stat[stat.rindex(b")") + 2:].split()  # the command name may hold blanks
    if fields[0] == b"Z":
        return None
    return int(fields[19])  # field 22 of stat(5): starttime


def write_record(path, pid, **extra):
    """Record that ``pid`` (running on this host) holds the role named by ``path``."""
    record = dict(extra, pid=pid, host=this_host(), start=start_ticks(pid),
                  since=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    write_atomic(path, json.dumps(record, sort_keys=True) + "\n")
    return record


def read_record(path):
    """The record at ``path`` as a dict, or None when missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("pid"), int) else None


def record_is_alive(record):
    """True when ``record`` names a live, non-zombie process of this host."""
    if not record or record.get("host") != this_host():
        return False
    return record.get("start") is not None and start_ticks(record["pid"]) == record["start"]


def live_pid(path):
    """The pid recorded at ``path`` if that process is alive here, else None."""
    record = read_record(path)
    return record["pid"] if record_is_alive(record) else None


def remove_record(path, pid=None):
    """Delete the record at ``path`` (only if it still names ``pid``, when given)."""
    if pid is not None:
        record = read_record(path)
        if not record or record.get("pid") != pid:
            return
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def pid_exists(pid):
    """True when a (non-zombie) process ``pid`` exists on this machine."""
    return start_ticks(pid) is not None
