"""Failover continuation: what happens at site start to jobs that were running (guide §2.5.4).

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
the reason stay in the job's tracker.

Three steps, so that no transaction waits on the network: the rules are decided
and applied in one transaction (a job for another site becomes ROUTING); the
other sites are called with no transaction open; their answers are recorded in a
second transaction (MIGRATED, or the rules' fallback when none was reachable). A
crash between the two leaves the job ROUTING, and the next start sends it again
to the same site, which answers with the job it already has (docs/job-engine.md).
"""

import collections
import dataclasses
import os

from .jobstore import JobStore, RecoveryDecision
from .spawn import OUTPUT_DIR, SCRIPT_DIR, read_output, remove_run_files
from .store import DELETED, MIGRATED, QUEUED, ROUTING

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


def _why(job, queue):
    return "interrupted while running (site stopped, crashed or failed over); queue %s restart " \
           "attribute %s, job restart %s" % (job.queue, queue.restart if queue else "PURGE", job.restart)


def _decision(job, queue, action, stop, why):
    """The RecoveryDecision of ``action`` (requeue, delete, migrate) for one job."""
    if action == "requeue":
        return RecoveryDecision(job.id, action, QUEUED, None, "%s: re-queued to run again from the beginning" % why,
                                job.queue, stop)
    if action == "delete":
        return RecoveryDecision(job.id, action, DELETED, why, "%s: deleted" % why, job.queue, stop)
    target = queue.migration_dest
    if "@" not in target:
        return RecoveryDecision(job.id, action, QUEUED, None, "%s: migrated to queue %s to run again" % (why, target),
                                target, stop)
    return RecoveryDecision(job.id, action, ROUTING, None, "%s: being migrated to %s" % (why, target), job.queue, stop,
                            routed_to=target)


def _rule(can_migrate_remote):
    """decide(run, queues) -> RecoveryDecision of an InterruptedRun, for :meth:`JobStore.apply_recovery` (pure).

    One rule serves one recovery, whose queues do not change: the decision of a job that no
    qdel marked depends only on its queue and restart flag, so it is worked out once per
    pair and copied for each job (a start may recover thousands: bench/recovery_time.py).
    """
    made = {}  # (queue name, restart flag) -> the fields of its decision but the job id

    def rule(job, queues):
        queue = queues.get(job.queue)
        if job.delete_reason:
            return _decision(job, queue, "delete", False,
                             "%s; %s while running" % (_why(job, queue), job.delete_reason))
        fields = made.get((job.queue, job.restart))
        if fields is None:
            attribute = queue.restart if queue else "PURGE"
            reachable = _reachable(queues, queue.migration_dest if queue else None, can_migrate_remote)
            action, stop = decide(attribute, job.restart, reachable)
            fields = made[(job.queue, job.restart)] = dataclasses.astuple(
                _decision(job, queue, action, stop, _why(job, queue)))[1:]
        return RecoveryDecision(job.id, *fields)
    return rule


def recover(store, spool, migrate=None, log=None):
    """Apply the restart rules to every RUNNING job (and finish migrations a crash left
    ROUTING); returns an Outcome.

    ``migrate(job)`` sends one :class:`~.jobstore.Job` to its ``routed_to`` (``queue@machine``)
    and returns the request number it has there, or raises an exception when that site is
    unreachable or refuses; it is called with no transaction open. Local destinations are
    handled here.
    """
    outdir = os.path.join(spool, OUTPUT_DIR)
    try:
        present = set(os.listdir(outdir))
    except FileNotFoundError:
        present = set()
    jobs = JobStore(store)
    decisions, routing = jobs.apply_recovery(_rule(migrate is not None), lambda job: _output(spool, present, job.id))
    final = {d.job_id: d for d in decisions}
    queues = jobs.queues() if routing else {}
    unreachable = {}
    outcomes = []
    for job in routing:
        queue = queues.get(job.queue)
        why = _why(job, queue)
        try:
            if job.routed_to in unreachable:
                raise unreachable[job.routed_to]
            remote_id = migrate(job)
        except Exception as err:  # unreachable after all: behave as PURGE / STOP
            unreachable[job.routed_to] = err  # and do not wait for it again for the next job
            action, stop = decide(queue.restart if queue else "PURGE", job.restart, False)
            outcome = _decision(job, queue, action, stop, "%s; migration to %s failed (%s)" % (why, job.routed_to, err))
        else:
            where = "%s as request %s" % (job.routed_to, remote_id)
            outcome = RecoveryDecision(job.id, "migrate", MIGRATED, "migrated to %s" % where, "%s: migrated to %s" % (why, where),
                                       job.queue, False, job.routed_to)
        outcomes.append(outcome)
        final[job.id] = outcome
    if outcomes:
        jobs.settle_recovery(outcomes)
    # only now that the outputs are committed: remove the files of the interrupted runs,
    # and any left by a crash between an earlier commit and its clean-up
    _remove_run_files_present(spool, present)
    counts = collections.Counter(d.action for d in final.values())
    stopped = sorted({d.queue for d in decisions + outcomes if d.stop_queue})
    outcome = Outcome(counts["requeue"], counts["delete"], counts["migrate"], stopped)
    if log and final:
        log.info("restart rules applied to %d interrupted job(s): %d re-queued, %d deleted, %d migrated%s"
                 % (len(final), outcome.requeued, outcome.deleted, outcome.migrated,
                    "; queue(s) left STOPPED: %s" % ", ".join(outcome.stopped_queues) if stopped else ""))
    return outcome


def _output(spool, present, job_id):
    """The interrupted run's output: from its files when they are there (most are not)."""
    if "%d.o" % job_id in present or "%d.e" % job_id in present:
        return read_output(spool, job_id)
    return b"", b""


def _reachable(queues, destination, can_migrate_remote):
    if not destination:
        return False
    if "@" in destination:
        return can_migrate_remote
    target = queues.get(destination)
    return bool(target and target.enabled)


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
