#!/usr/bin/env python3
"""Dispatch throughput: N `true` jobs (default 1000) run to completion by nqsdaemon.

The jobs are submitted to a stopped batch queue (run limit 64); the clock runs from
``qmgr start queue`` until the last job is recorded EXITED with its output in its
tracker. Target: >= 200 jobs/s. Run as root. Last line: the figure as a BENCH line.
"""

import argparse
import time

from benchlib import LocalBenchSite, result

from cjc.jobs.requests import Caller, poke, qmgr, submit_job
from cjc.jobs.store import open_store


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--run-limit", type=int, default=64)
    args = parser.parse_args()
    root = Caller(0, "root")
    with LocalBenchSite() as site:
        site.start()
        with open_store(site.spool) as store:
            qmgr(store, root, "create batch_queue bench run_limit=%d" % args.run_limit)
            qmgr(store, root, "stop queue bench")
            for _ in range(args.count):
                submit_job(store, root, "true\n", "bench")
            started = time.monotonic()
            qmgr(store, root, "start queue bench")
            poke(site.layout, site.spool)
            while True:
                done = store.db.execute("SELECT count(*) FROM jobs WHERE state = 'EXITED'").fetchone()[0]
                if done == args.count:
                    break
                if time.monotonic() - started > 300:
                    raise SystemExit("only %d of %d jobs ended in 300 s" % (done, args.count))
                time.sleep(0.01)
            elapsed = time.monotonic() - started
            failed = store.db.execute("SELECT count(*) FROM jobs WHERE exit_status != 0").fetchone()[0]
        print("%d jobs run to completion in %.2f s (run limit %d, %d failed)" % (args.count, elapsed, args.run_limit,
                                                                                 failed))
    rate = args.count / elapsed
    result("dispatch throughput (true jobs to completion)", rate, "jobs/s", ">= 200", rate >= 200 and not failed)


if __name__ == "__main__":
    main()
