#!/usr/bin/env python3
"""Orderly stop with 100 running jobs (target: <= 2 s; the guide's product: 1-2 min).

Each run makes a fresh site, starts it, submits 100 `sleep 600` jobs into a batch
queue with run limit 100, waits until all 100 run, then times `cjcpw -stop`.
Median of RUNS.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import SITE, bench_site, median, result, timed  # noqa: E402

RUNS = int(os.environ.get("RUNS", "5"))
JOBS = 100


def one_run(number):
    with bench_site() as site:
        site.run("/usr/lib/nqs/cluster/cjcpw", "-c", SITE, site.db)
        site.run("/usr/bin/qmgr", "-c", "create batch_queue bench run_limit=%d" % JOBS)
        for _ in range(JOBS):
            site.run("/usr/bin/qsub", "-q", "bench", input="sleep 600\n")
        deadline = time.monotonic() + 60
        while len((site.status() or {}).get("running_jobs", [])) < JOBS:
            if time.monotonic() > deadline:
                raise SystemExit("not all %d jobs running after 60 s" % JOBS)
            time.sleep(0.1)
        out = {}
        seconds = timed(lambda: out.update(text=site.run("/usr/lib/nqs/cluster/cjcpw", "-stop", SITE).stdout))
        print("run %d: %s" % (number, out["text"].strip()))
        return seconds


def main():
    samples = [one_run(n + 1) for n in range(RUNS)]
    value = median(samples)
    result("orderly stop with %d running jobs (cjcpw -stop)" % JOBS, value, "s", "<= 2", value <= 2)


if __name__ == "__main__":
    main()
