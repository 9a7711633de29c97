#!/usr/bin/env python3
"""Remote submit throughput: N jobs (default 300) routed by site A's nqsdaemon to site B through B's netdaemon.

Two local sites on one machine (A: machine ID 100 on 127.0.0.1, B: machine ID 200 on
127.0.0.2). N jobs are submitted into A's pipe queue ``to_b`` (destination
``guibs_1@node_b``, B's batch queue stopped so nothing runs); the figure is N over the
time until all N are MIGRATED at A. Each one is a frame with its credential
(docs/security.md "Peer machines"), verified and its nonce recorded at B in the same
durable transaction as the job, then A's own durable transaction. Run as root.
"""

import argparse
import time

from benchlib import result
from jobsite import Node, make_root, remove_root, wait_until

from cjc.jobs.requests import Caller, poke, submit_job
from cjc.jobs.store import MIGRATED, open_store


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=300)
    args = parser.parse_args()
    a = Node(make_root(100), address="127.0.0.1")
    b = Node(make_root(200), address="127.0.0.2")
    try:
        for node in (a, b):
            node.start_daemon("logdaemon")  # the daemons log there, not into a pipe no one reads
            node.daemon = node.start()
        assert b.qmgr("add mid 100 node_a 127.0.0.1 %d" % a.port, "add map 100 root root",
                      "stop queue guibs_1").returncode == 0
        assert a.qmgr("add mid 200 node_b 127.0.0.2 %d" % b.port,
                      "create pipe_queue to_b destination=guibs_1@node_b").returncode == 0
        with open_store(a.spool) as store:
            started = time.monotonic()
            for _ in range(args.count):
                submit_job(store, Caller(0, "root"), "true\n", "to_b")
            poke(a.layout, a.spool)

            def routed():
                with store.snapshot() as db:
                    return db.execute("SELECT count(*) FROM jobs WHERE state = ?", (MIGRATED,)).fetchone()[0] \
                        >= args.count
            wait_until(routed, 600, "%d jobs to be routed" % args.count, interval=0.01)
            rate = args.count / (time.monotonic() - started)
        with open_store(b.spool) as store:
            arrived = store.db.execute("SELECT count(*) FROM jobs WHERE origin = 'machine 100 user root'").fetchone()[0]
        print("remote: %d jobs routed A -> B (%d arrived) in %.2f s: %.0f submits/s"
              % (args.count, arrived, args.count / rate, rate))
    finally:
        for node in (a, b):
            node.cleanup()
            remove_root(node.layout)
    result("remote submit throughput (netdaemon)", rate, "submits/s", ">= 50", rate >= 50)


if __name__ == "__main__":
    main()
