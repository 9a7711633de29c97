"""Failover continuation: what happens at site start to jobs that were running (SPEC §2.10, guide §2.5.4).

When nqsdaemon starts, every job still recorded as RUNNING was interrupted (the
daemon ended leftover job processes first, so none runs). Each is handled by its
queue's restart attribute and its own restart flag:

=================  ======================  ==================  ==================
queue attribute    job ENABLE              job DISABLE         queue afterwards
=================  ======================  ==================  ==================
RESTART            re-queued (runs again)  deleted             unchanged
PURGE              deleted                 deleted             unchanged
STOP               re-queued               deleted             STOPPED
MIGRATION_PURGE    to the destination;     deleted             unchanged
                   none reachable: deleted
MIGRATION_STOP     to the destination;     deleted             STOPPED when no
                   none reachable: re-queued                   destination reachable
=================  ======================  ==================  ==================

A job whose deletion was requested (qdel) while it ran is deleted whatever the
attributes. "Deleted" keeps the record: the output of the interrupted run and
the reason stay in the job's tracker. All of it is one transaction.
"""

import collections
import os
import time

from .spawn import OUTPUT_DIR, SCRIPT_DIR, remove_run_files, store_output
from .store import DELETED, MIGRATED, QUEUED, RUNNING

Outcome = collections.namedtuple("Outcome", "requeued deleted migrated stopped_queues")


def decide(attribute, flag, reachable):
    """(action, stop queue?) for one job: action is ``requeue``, ``delete`` or ``migrate``."""
    if attribute == "RESTART":
        return ("requeue" if flag == "ENABLE" else "delete"), False
    if attribute == "STOP":
        return ("requeue" if flag == "ENABLE" else "delete"), True
    if attribute in ("MIGRATION_PURGE", "MIGRATION_STOP"):
        if flag != "ENABLE":
            return "delete", False
        if reachable:
            return "migrate", False
        if attribute == "MIGRATION_PURGE":
            return "delete", False
        return "requeue", True
    return "delete", False  # PURGE, and any unknown attribute: never run a job twice by guessing


def recover(store, spool, migrate=None, log=None):
    """Apply the restart rules to every RUNNING job; returns an Outcome.

    ``migrate(queue_row, job_row, db)`` moves one job (a full jobs row) to the
    queue's migration destination when that is another machine and returns a
    description, or raises an exception when it is unreachable; ``db`` is the open
    transaction. Local destinations are handled here.
    """
    now = time.time()
    outdir = os.path.join(spool, OUTPUT_DIR)
    try:
        present = set(os.listdir(outdir))
    except FileNotFoundError:
        present = set()
    counts = collections.Counter()
    stopped = set()
    with store.transaction() as db:
        queues = {q["name"]: q for q in db.execute("SELECT * FROM queues")}
        jobs = db.execute("SELECT id, queue, restart, runs, started, delete_reason FROM jobs WHERE state = ?",
                          (RUNNING,)).fetchall()
        if not jobs:
            _remove_run_files_present(spool, present)
            return Outcome(0, 0, 0, [])
        reachable = {}
        updates, events, outputs = [], [], []
        for job in jobs:
            if "%d.o" % job["id"] in present or "%d.e" % job["id"] in present:
                store_output(db, spool, job, None, now, "interrupted")
            else:
                outputs.append((job["id"], job["runs"], b"", b"", None, job["started"], now, "interrupted"))
            queue = queues.get(job["queue"])
            attribute = queue["restart"] if queue else "PURGE"
            why = "interrupted while running (site stopped, crashed or failed over); queue %s restart " \
                  "attribute %s, job restart %s" % (job["queue"], attribute, job["restart"])
            if job["delete_reason"]:
                action, stop = "delete", False
                why = "%s; %s while running" % (why, job["delete_reason"])
            else:
                destination = queue["migration_dest"] if queue else None
                if attribute.startswith("MIGRATION") and destination not in reachable:
                    reachable[destination] = _reachable(db, queues, destination, migrate is not None)
                action, stop = decide(attribute, job["restart"], reachable.get(destination))
            if action == "migrate":
                target = queue["migration_dest"]
                if "@" not in target:
                    updates.append((QUEUED, target, None, job["id"]))
                    events.append((job["id"], now, QUEUED, "%s: migrated to queue %s to run again" % (why, target)))
                else:
                    try:
                        full = db.execute("SELECT * FROM jobs WHERE id = ?", (job["id"],)).fetchone()
                        where = migrate(queue, full, db)
                    except Exception as err:  # unreachable after all: behave as PURGE / STOP
                        reachable[target] = False  # and do not wait for it again for the next job
                        action, stop = decide(attribute, job["restart"], False)
                        why = "%s; migration to %s failed (%s)" % (why, target, err)
                    else:
                        updates.append((MIGRATED, job["queue"], "migrated to %s" % where, job["id"]))
                        events.append((job["id"], now, MIGRATED, "%s: migrated to %s" % (why, where)))
            if action == "requeue":
                updates.append((QUEUED, job["queue"], None, job["id"]))
                events.append((job["id"], now, QUEUED, "%s: re-queued to run again from the beginning" % why))
            elif action == "delete":
                updates.append((DELETED, job["queue"], why, job["id"]))
                events.append((job["id"], now, DELETED, "%s: deleted" % why))
            counts[action] += 1
            if stop:
                stopped.add(job["queue"])
        db.executemany("INSERT OR REPLACE INTO outputs (job_id, run, stdout, stderr, exit_status, started, ended, "
                       "how) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", outputs)
        db.executemany("UPDATE jobs SET state = ?, queue = ?, reason = ?, ended = ?, pid = NULL, "
                       "delete_reason = NULL, kill_signal = NULL WHERE id = ?",
                       [(s, q, r, None if s == QUEUED else now, i) for s, q, r, i in updates])
        db.executemany("INSERT INTO events (job_id, at, state, message) VALUES (?, ?, ?, ?)", events)
        for name in sorted(stopped):
            db.execute("UPDATE queues SET started = 0 WHERE name = ?", (name,))
    # only now that the outputs are committed: remove the files of the interrupted runs,
    # and any left by a crash between an earlier commit and its clean-up
    _remove_run_files_present(spool, present)
    outcome = Outcome(counts["requeue"], counts["delete"], counts["migrate"], sorted(stopped))
    if log:
        log.info("restart rules applied to %d interrupted job(s): %d re-queued, %d deleted, %d migrated%s"
                 % (len(jobs), outcome.requeued, outcome.deleted, outcome.migrated,
                    "; queue(s) left STOPPED: %s" % ", ".join(outcome.stopped_queues) if stopped else ""))
    return outcome


def _reachable(db, queues, destination, can_migrate_remote):
    if not destination:
        return False
    if "@" in destination:
        return can_migrate_remote
    target = queues.get(destination)
    return bool(target and target["enabled"])


def _remove_run_files_present(spool, present):
    """Remove every run file found at start: nothing runs while the rules apply, and the
    output of each interrupted run is in the database by now."""
    ids = {int(entry.split(".", 1)[0]) for entry in present if entry.split(".", 1)[0].isdigit()}
    try:
        ids.update(int(entry.split(".", 1)[0]) for entry in os.listdir(os.path.join(spool, SCRIPT_DIR))
                   if entry.split(".", 1)[0].isdigit())
    except FileNotFoundError:
        pass
    remove_run_files(spool, sorted(ids))
