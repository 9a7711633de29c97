#!/usr/bin/env python3
"""qsub from concurrent clients: 1, 2 and 8 users' qsub at once over nqsdaemon's socket.

Each client is a thread running the installed qsub (its ``#!`` line, as a useradd user)
one call after the other; the figure is submits per second at 8 clients. Target: 8 clients
submit at least as fast as one (the daemon serves calls side by side: a client waits for
its own call only). Run as root. Last line: BENCH.
"""

import argparse
import concurrent.futures
import os
import time

from benchlib import median, result, users_site

from jobsite import USERS


def rate(site, clients, calls):
    """(submits/s, median seconds of one call) with ``clients`` submitting ``calls`` each."""
    users = sorted(USERS)

    def client(number):
        return [site.user_command("/usr/bin/qsub", "-q", "guibs_1", user=users[number % len(users)], stdin=b"true\n")
                for _ in range(calls)]
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        took = [t for times in pool.map(client, range(clients)) for t in times]
    return clients * calls / (time.monotonic() - started), median(took)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=40, help="calls per client")
    args = parser.parse_args()
    with users_site() as site:
        rates = {}
        for clients in (1, 2, 8):
            rates[clients], call = rate(site, clients, args.calls)
            print("%d client(s): %.0f submits/s, median call %.1f ms" % (clients, rates[clients], call * 1000))
    print("load average %.2f %.2f %.2f on %d CPUs" % (os.getloadavg() + (os.cpu_count(),)))
    result("qsub from 8 concurrent users (1 client %.0f/s, 2 clients %.0f/s)" % (rates[1], rates[2]), rates[8],
           "submits/s", ">= 1 client's rate", rates[8] >= rates[1])


if __name__ == "__main__":
    main()
