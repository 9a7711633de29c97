#!/usr/bin/env python3
"""Recovery time: N jobs (default 10000) recorded RUNNING when nqsdaemon starts.

The jobs are spread over queues of every restart attribute, half of them restart
DISABLE. Reported: the restart rules alone (``restart.recover``, one transaction),
and a whole nqsdaemon start (leftover scan, rules, netdaemon, pid record).
Target: recovery of 10 000 jobs <= 1 s. Run as root. Last line: the figure as a BENCH line.
"""

import argparse
import os
import shutil
import time

from benchlib import LocalBenchSite, result

from cjc.jobs.requests import Caller, qmgr
from cjc.jobs.restart import recover
from cjc.jobs.store import open_store

ATTRIBUTES = ("RESTART", "PURGE", "STOP", "MIGRATION_PURGE", "MIGRATION_STOP")


def mark_running(spool, count):
    root = Caller(0, "root")
    with open_store(spool) as store:
        for attribute in ATTRIBUTES:
            extra = " migration=guibs_1" if attribute.startswith("MIGRATION") else ""
            qmgr(store, root, "create batch_queue q_%s run_limit=1 restart=%s%s" % (attribute.lower(), attribute, extra))
        now = time.time()
        with store.transaction() as db:
            db.executemany(
                "INSERT INTO jobs (name, queue, owner, uid, state, restart, script, submitted, started, runs, pid, host) "
                "VALUES ('bench', ?, 'root', 0, 'RUNNING', ?, x'7472756500', ?, ?, 1, NULL, 'gone')",
                [("q_%s" % ATTRIBUTES[i % 5].lower(), "ENABLE" if i % 2 else "DISABLE", now, now)
                 for i in range(count)])
    # a real crash leaves output files of the interrupted runs: one in ten here
    out = os.path.join(spool, "output")
    with open_store(spool) as store:
        for (job_id,) in store.db.execute("SELECT id FROM jobs WHERE id % 10 = 0"):
            with open(os.path.join(out, "%d.o" % job_id), "w") as handle:
                handle.write("partial output\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10000)
    args = parser.parse_args()
    with LocalBenchSite() as site:
        mark_running(site.spool, args.count)
        copy = site.spool + ".copy"
        shutil.copytree(site.spool, copy)
        with open_store(site.spool) as store:
            started = time.monotonic()
            outcome = recover(store, site.spool)
            rules = time.monotonic() - started
        print("restart rules: %d jobs in %.3f s (%d re-queued, %d deleted, %d migrated)"
              % (args.count, rules, outcome.requeued, outcome.deleted, outcome.migrated))
        shutil.rmtree(site.spool)
        os.rename(copy, site.spool)
        ready = site.start()
        with open_store(site.spool) as store:
            left = store.db.execute("SELECT count(*) FROM jobs WHERE state = 'RUNNING' AND host = 'gone'").fetchone()[0]
        assert left == 0, "%d jobs not recovered" % left
        print("nqsdaemon start with %d interrupted jobs until it serves: %.3f s" % (args.count, ready))
    result("recovery of %d interrupted jobs (restart rules)" % args.count, rules, "s", "<= 1", rules <= 1)


if __name__ == "__main__":
    main()
