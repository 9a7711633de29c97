#!/usr/bin/env python3
"""qsub start: one submit as a non-root user, the command as users run it, over nqsdaemon's socket.

Measures ``qsub`` (the installed file, run through its ``#!`` line, as a useradd user) and
``python3 -S -c pass`` in the same run, alternately, so the machine's load weighs on both.
Targets: a qsub <= 20 ms and <= 2x the bare interpreter. Run as root. Last line: BENCH.
"""

import argparse
import os
import pwd
import subprocess
import time

from benchlib import NODE_PYTHON, median, result, users_site


USER = "cjct1"


def bare_interpreter():
    """Seconds of ``python3 -S -c pass`` as the test user."""
    entry = pwd.getpwnam(USER)
    started = time.monotonic()
    subprocess.run([NODE_PYTHON, "-S", "-c", "pass"], check=True, user=entry.pw_uid, group=entry.pw_gid)
    return time.monotonic() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    with users_site() as site:
        bare, qsub = [], []
        for _ in range(args.runs):
            bare.append(bare_interpreter())
            qsub.append(site.user_command("/usr/bin/qsub", "-q", "guibs_1", user=USER, stdin=b"true\n"))
    bare_ms, qsub_ms = median(bare) * 1000, median(qsub) * 1000
    print("load average %.2f %.2f %.2f" % os.getloadavg())
    print("python3 -S -c pass: median %.1f ms; qsub as %s: median %.1f ms (%.2fx), fastest %.1f ms (%d runs each)"
          % (bare_ms, USER, qsub_ms, qsub_ms / bare_ms, min(qsub) * 1000, args.runs))
    result("qsub as a user over the socket (median; python3 -S -c pass %.1f ms)" % bare_ms, qsub_ms, "ms",
           "<= 20 ms and <= 2x python3 -S", qsub_ms <= 20 and qsub_ms <= 2 * bare_ms)


if __name__ == "__main__":
    main()
