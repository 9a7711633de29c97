#!/usr/bin/env python3
"""Bulk submission: ``qsub -t 1-1000`` as a useradd user, 1 000 requests in one call.

One transaction, one round trip over nqsdaemon's socket (docs/job-engine.md, "Bulk
submission"). Target: one call <= 0.2 s (median of --runs). Run as root. Last line: BENCH.
"""

import argparse
import os

from benchlib import median, result, users_site


USER = "cjct1"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    with users_site() as site:
        took = [site.user_command("/usr/bin/qsub", "-q", "guibs_1", "-t", "1-%d" % args.count, user=USER,
                                  stdin=b"true\n") for _ in range(args.runs)]
    print("qsub -t 1-%d as %s: median %.3f s, fastest %.3f s (%d runs); load average %.2f %.2f %.2f"
          % ((args.count, USER, median(took), min(took), args.runs) + os.getloadavg()))
    result("bulk submission: %d requests in one qsub call (as a user)" % args.count, median(took), "s", "<= 0.2",
           median(took) <= 0.2)


if __name__ == "__main__":
    main()
