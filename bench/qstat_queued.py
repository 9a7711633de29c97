#!/usr/bin/env python3
"""qstat on a site with 10 000 queued requests, as a useradd user over nqsdaemon's socket.

``qstat`` (the queues with their counts) and ``qstat -a`` (every request, paged: one round
trip per 1 000) are both measured; the figure is plain ``qstat``. Target: <= 50 ms
(median of --runs). Run as root. Last line: BENCH.
"""

import argparse
import os

from benchlib import median, result, users_site


USER = "cjct1"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--queued", type=int, default=10000)
    args = parser.parse_args()
    with users_site() as site:
        for first in range(1, args.queued + 1, 1000):
            site.user_command("/usr/bin/qsub", "-q", "guibs_1", "-t", "%d-%d" % (first, min(first + 999, args.queued)),
                              user=USER, stdin=b"true\n")
        queues = [site.user_command("/usr/bin/qstat", user=USER) for _ in range(args.runs)]
        every = [site.user_command("/usr/bin/qstat", "-a", user=USER) for _ in range(max(3, args.runs // 5))]
    print("%d queued: qstat median %.1f ms; qstat -a median %.0f ms (%d pages); load average %.2f %.2f %.2f"
          % ((args.queued, median(queues) * 1000, median(every) * 1000, (args.queued + 999) // 1000)
             + os.getloadavg()))
    result("qstat with %d queued requests (as a user; qstat -a %.0f ms)" % (args.queued, median(every) * 1000),
           median(queues) * 1000, "ms", "<= 50", median(queues) * 1000 <= 50)


if __name__ == "__main__":
    main()
