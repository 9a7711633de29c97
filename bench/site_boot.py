#!/usr/bin/env python3
"""Site boot: `cjcpw -c` start -> every daemon serving (target: <= 0.5 s).

`cjcpw -c` returns only once every daemon's pid record says it serves, so the
command's wall time is the boot time (interpreter start included). Median of RUNS.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import SITE, bench_site, median, result, timed  # noqa: E402

RUNS = int(os.environ.get("RUNS", "7"))


def main():
    samples = []
    with bench_site() as site:
        for run in range(RUNS):
            seconds = timed(lambda: site.run("/usr/lib/nqs/cluster/cjcpw", "-c", SITE, site.db))
            site.run("/usr/lib/nqs/cluster/cjcpw", "-stop", SITE)
            samples.append(seconds)
            print("run %d: boot %.3f s" % (run + 1, seconds))
    value = median(samples)
    result("site boot (cjcpw -c until every daemon serves)", value, "s", "<= 0.5", value <= 0.5)


if __name__ == "__main__":
    main()
