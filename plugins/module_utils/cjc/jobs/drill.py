"""Failover drill with jobs in flight: the queues, the jobs and the documented fate of each.

Shared by the drill playbook's node-side helper (``playbooks/files/cjc_failover_drill.py``)
and the lab tests (``tests/failover``). Pure functions over rows read from the site
database; nothing here starts, stops or kills anything.

One job of each restart flag (ENABLE, and DISABLE = ``qsub -nr``) goes into a queue of
each restart attribute; after the site moved, each job's fate must be the one of
guide §2.5.4 (:data:`EXPECTED`).
"""

#: queue -> (restart attribute, extra qmgr attributes); q_dest is the migration destination
QUEUES = {
    "q_restart": ("RESTART", ""),
    "q_purge": ("PURGE", ""),
    "q_stop": ("STOP", ""),
    "q_mpurge": ("MIGRATION_PURGE", "migration=q_dest"),
    "q_mstop": ("MIGRATION_STOP", ""),  # no destination: behaves as STOP
    "q_dest": ("RESTART", ""),
}
DRILL_QUEUES = ("q_restart", "q_purge", "q_stop", "q_mpurge", "q_mstop")
FLAGS = ("ENABLE", "DISABLE")
RERUN, DELETED, HELD = "re-run", "deleted", "queued, queue STOPPED"

#: (queue, restart flag) -> (fate, queue the job ends in) after a failover
EXPECTED = {
    ("q_restart", "ENABLE"): (RERUN, "q_restart"),
    ("q_restart", "DISABLE"): (DELETED, "q_restart"),
    ("q_purge", "ENABLE"): (DELETED, "q_purge"),
    ("q_purge", "DISABLE"): (DELETED, "q_purge"),
    ("q_stop", "ENABLE"): (HELD, "q_stop"),
    ("q_stop", "DISABLE"): (DELETED, "q_stop"),
    ("q_mpurge", "ENABLE"): (RERUN, "q_dest"),  # migrated to its (local) destination, runs there
    ("q_mpurge", "DISABLE"): (DELETED, "q_mpurge"),
    ("q_mstop", "ENABLE"): (HELD, "q_mstop"),  # no destination reachable: as STOP
    ("q_mstop", "DISABLE"): (DELETED, "q_mstop"),
}
JOB_SCRIPT = "echo started on $(hostname)\nsleep 3600\n"
STOPPED_AFTER = ["q_mstop", "q_stop"]  # queues the restart rules leave STOPPED


def queue_lines(existing, run_limit=10):
    """qmgr lines that create the drill's queues missing from ``existing`` (names)."""
    return ["create batch_queue %s run_limit=%d restart=%s %s" % (name, run_limit, attribute, extra)
            for name, (attribute, extra) in QUEUES.items() if name not in existing]


def job_name(queue, flag):
    return "%s-%s" % (queue, flag.lower())


def rerun_ids(submitted):
    """Ids of the jobs that must run again after the failover."""
    return sorted(i for i, key in submitted.items() if EXPECTED[tuple(key)][0] == RERUN)


def recovered(jobs, submitted, before_runs, host):
    """True when every job that must run again runs on ``host``, one run later than before."""
    rows = {j["id"]: j for j in jobs}
    return all(rows[i]["state"] == "RUNNING" and rows[i]["pid"] and rows[i]["host"] == host
               and rows[i]["runs"] == before_runs[i] + 1 for i in rerun_ids(submitted))


def fates(jobs, queues, submitted, host):
    """([row], all as documented) for the drill's jobs after the site moved to ``host``."""
    now = {j["id"]: j for j in jobs}
    stopped = {q["name"]: not q["started"] for q in queues}
    rows, ok = [], True
    for job_id, (queue, flag) in sorted(submitted.items()):
        job = now[job_id]
        want, want_queue = EXPECTED[(queue, flag)]
        if job["state"] == "RUNNING":
            got = RERUN if job["host"] == host and job["runs"] == 2 else "running (run %d on %s)" % (
                job["runs"], job["host"])
        elif job["state"] == "QUEUED":
            got = HELD if stopped.get(job["queue"]) else "queued"
        else:
            got = job["state"].lower()
        match = got == want and job["queue"] == want_queue
        ok = ok and match
        rows.append({"id": job_id, "queue": queue, "attribute": QUEUES[queue][0], "restart": flag,
                     "expected": want + ("" if want_queue == queue else " in " + want_queue),
                     "fate": got + ("" if job["queue"] == queue else " in " + job["queue"]),
                     "runs": job["runs"], "host": job["host"], "ok": match})
    return rows, ok


def overlapping_runs(jobs, outputs, submitted):
    """Ids of jobs whose current run started before an earlier run of theirs had ended."""
    ended = {}
    for out in outputs:
        if out["job_id"] in submitted and out["ended"] is not None:
            ended[out["job_id"]] = max(ended.get(out["job_id"], 0), out["ended"])
    return sorted(j["id"] for j in jobs if j["id"] in ended and j["state"] == "RUNNING"
                  and j["started"] is not None and j["started"] < ended[j["id"]])


def format_rows(rows):
    """The job table as text lines."""
    lines = ["%-4s %-10s %-16s %-8s %-24s %-24s %-4s %-6s %s" % (
        "job", "queue", "attribute", "restart", "expected", "fate", "runs", "host", "ok")]
    for r in rows:
        lines.append("%-4d %-10s %-16s %-8s %-24s %-24s %-4d %-6s %s" % (
            r["id"], r["queue"], r["attribute"], r["restart"], r["expected"], r["fate"], r["runs"],
            r["host"] or "-", "ok" if r["ok"] else "WRONG"))
    return lines


def read_jobs(store):
    """Rows (dicts) of every job and of every recorded run, from one snapshot."""
    with store.snapshot() as db:
        jobs = [dict(r) for r in db.execute("SELECT id, name, queue, restart, state, runs, host, pid, started, "
                                            "ended FROM jobs ORDER BY id")]
        outputs = [dict(r) for r in db.execute("SELECT job_id, run, started, ended FROM outputs")]
        queues = [dict(r) for r in db.execute("SELECT name, restart, started, enabled FROM queues")]
    return jobs, outputs, queues
