#!/usr/bin/env python3
"""Submit throughput: N jobs (default 2000) through the qsub command and through the engine API.

Target: >= 500 submits/s through the API. Each submit is its own durable
transaction (fsynced before it returns). Run as root. Last line: the API figure as a BENCH line (bench/benchlib.py).
"""

import argparse
import concurrent.futures
import os
import subprocess
import time

from benchlib import LocalBenchSite, result

from cjc.jobs.requests import Caller, submit_job
from cjc.jobs.store import open_store


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--parallel", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    with LocalBenchSite() as site:
        site.start()  # submits wake a running daemon, as they would in production
        qsub = site.command("/usr/bin/qsub") + ["-q", "guibs_1"]
        site_env = site.env()
        subprocess.run(site.command("/usr/bin/qmgr") + ["-c", "stop queue guibs_1"], env=site_env, check=True,
                       capture_output=True)
        started = time.monotonic()
        # as many submitters at once as there are CPUs: a command's cost is mostly its interpreter start
        pool = concurrent.futures.ThreadPoolExecutor(args.parallel)
        try:
            list(pool.map(lambda _n: subprocess.run(qsub, input=b"true\n", env=site_env, check=True,
                                                    capture_output=True), range(args.count)))
        finally:
            pool.shutdown(cancel_futures=True)  # an interrupt must not wait for every queued qsub
        command_rate = args.count / (time.monotonic() - started)
        print("command: %d qsub runs (%d at a time) in %.1f s: %.1f submits/s"
              % (args.count, args.parallel, args.count / command_rate, command_rate))
        with open_store(site.spool) as store:
            caller = Caller(0, "root")
            started = time.monotonic()
            for _ in range(args.count):
                submit_job(store, caller, "true\n", "guibs_1")
            api_rate = args.count / (time.monotonic() - started)
        print("api: %d submits in %.2f s: %.0f submits/s, each its own durable transaction"
              % (args.count, args.count / api_rate, api_rate))
    result("submit throughput (API)", api_rate, "submits/s", ">= 500", api_rate >= 500)


if __name__ == "__main__":
    main()
