"""Retention: finished requests leave the site database once their time is up (docs/job-engine.md
"Retention").

A finished request (EXITED, DELETED, MIGRATED) is kept with its tracker and output for the
site's ``history_retention`` after it ended, then purged by nqsdaemon in small batches, each one
short transaction, between its dispatch rounds: a site with years of work behind it keeps only
what the setting asks, and dispatch never waits long for the purge. With ``history_export=ON``
each batch is first appended, as JSON lines, to ``<spool>/history/purged-YYYYMMDD.jsonl`` and
fsynced; only then is it removed.
"""

import json
import os
import time

BATCH = 500          # requests per purge transaction: the write lock is held a few milliseconds
BUDGET = 0.05        # seconds of purging per round of the daemon's loop at most
EXPORT_DIR = "history"


def export_path(spool, now):
    """The JSON-lines file purged history goes to on the day (UTC) of ``now``."""
    return os.path.join(spool, EXPORT_DIR, time.strftime("purged-%Y%m%d.jsonl", time.gmtime(now)))


def export(spool, histories, now):
    """Append ``histories`` (JobStore.histories) to the day's export file, one JSON object a line,
    and fsync it: written before the purge, so an export is never lost, at worst repeated
    (a crash between the two exports the batch again; each line names its request)."""
    path = export_path(spool, now)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    text = "".join(json.dumps(history, sort_keys=True) + "\n" for history in histories)
    # scripts and output of every user: root only, like the site database
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(text.encode("utf-8"))
        handle.flush()
        os.fsync(fd)


def purge_expired(jobs, spool, retention, now=None, clock=time.monotonic):
    """Purge the finished requests of ``jobs`` (a JobStore) older than ``retention`` (seconds,
    exporting) = (seconds or None for forever, export or not), batch after batch for at most
    BUDGET seconds; the number purged."""
    seconds, exported = retention
    if seconds is None:
        return 0
    now = time.time() if now is None else now
    before = now - seconds
    purged = 0
    deadline = clock() + BUDGET
    while True:
        job_ids = jobs.expired(before, BATCH)
        if not job_ids:
            return purged
        if exported:
            export(spool, jobs.histories(job_ids), now)
        purged += len(jobs.purge(job_ids, before))
        if len(job_ids) < BATCH or clock() >= deadline:
            return purged
