#!/usr/bin/env python3
"""Dispatch as users run it: nqsdaemon running N jobs of a useradd user (a credential change per
job) and N root jobs, each beside a spawn floor measured in the same run.

The floor is a plain Python loop spawning the same job script (``true``, through ``/bin/sh``,
its own session, output to files) as the same user, waiting for each: one after another
(sequential), and from as many threads as nqsdaemon spawns with (threaded). A dispatch round
submits N jobs to a stopped batch queue (run limit 64) and times ``qmgr start queue`` to the
last one recorded EXITED. Target: each dispatch >= 0.6x the better of its two floors. Floors and
rounds alternate, so the machine's load weighs on all alike. Run as root. Last line: BENCH.
"""

import argparse
import concurrent.futures
import os
import pwd
import subprocess
import tempfile
import time

from benchlib import LocalBenchSite, median, result

from cjc.daemons.nqsdaemon import SPAWN_THREADS
from cjc.jobs.jobstore import JobStore
from cjc.jobs.requests import Caller, poke, qmgr
from cjc.jobs.store import open_store
from jobsite import make_users, remove_users

USER = "cjct1"
TARGET = 0.6
ROOT = Caller(0, "root")


def floor(user, count, threads, workdir):
    """Jobs/s of ``count`` spawns of the job script as ``user``, each waited for, from ``threads`` threads."""
    entry = pwd.getpwnam(user)
    credentials = {} if entry.pw_uid == 0 else {
        "user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": os.getgrouplist(user, entry.pw_gid)}
    script = os.path.join(workdir, "job.sh")
    with open(script, "w") as handle:
        handle.write("true\n")
    os.chmod(script, 0o755)

    def one(index):
        out = os.open(os.path.join(workdir, "%d.o" % index), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            subprocess.Popen(["/bin/sh", script], stdin=subprocess.DEVNULL, stdout=out, stderr=out, cwd=entry.pw_dir
                             if os.path.isdir(entry.pw_dir) else "/", env={"PATH": "/usr/bin:/bin"},
                             start_new_session=True, close_fds=True, **credentials).wait()
        finally:
            os.close(out)

    started = time.monotonic()
    if threads == 1:
        for index in range(count):
            one(index)
    else:
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            list(pool.map(one, range(count)))
    return count / (time.monotonic() - started)


def dispatch(site, owner, count):
    """Jobs/s of nqsdaemon running ``count`` ``true`` jobs of ``owner`` (qmgr start to the last EXITED)."""
    with open_store(site.spool) as store:
        queue = "q%s" % owner.name
        if queue not in JobStore(store).queues():
            qmgr(store, ROOT, "create batch_queue %s run_limit=64" % queue)
        qmgr(store, ROOT, "stop queue %s" % queue)
        JobStore(store).submit_many(ROOT, owner, [(queue, "d", "ENABLE", b"true\n", "/bin/sh", {})] * count)
        started = time.monotonic()
        qmgr(store, ROOT, "start queue %s" % queue)
        poke(site.layout, site.spool)
        while store.db.execute("SELECT count(*) FROM jobs WHERE queue = ? AND state IN ('QUEUED', 'RUNNING')",
                               (queue,)).fetchone()[0]:
            if time.monotonic() - started > 600:
                raise SystemExit("dispatch of %d jobs of %s took more than 600 s" % (count, owner.name))
            time.sleep(0.01)
        took = time.monotonic() - started
        failed = store.db.execute("SELECT count(*) FROM jobs WHERE queue = ? AND exit_status != 0",
                                  (queue,)).fetchone()[0]
    if failed:
        raise SystemExit("%d jobs of %s failed" % (failed, owner.name))
    return count / took


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=500, help="jobs of one round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    make_users()
    figures = {}
    try:
        with LocalBenchSite() as site, tempfile.TemporaryDirectory(prefix="cjc-bench-floor-") as workdir:
            os.chmod(workdir, 0o777)
            site.start()
            owners = {"user": Caller(pwd.getpwnam(USER).pw_uid, USER), "root": ROOT}
            for _ in range(args.rounds):
                for kind, owner in owners.items():
                    figures.setdefault((kind, "sequential"), []).append(floor(owner.name, args.count, 1, workdir))
                    figures.setdefault((kind, "threaded"), []).append(
                        floor(owner.name, args.count, SPAWN_THREADS, workdir))
                    figures.setdefault((kind, "dispatch"), []).append(dispatch(site, owner, args.count))
    finally:
        remove_users()
    print("load average %.2f %.2f %.2f (a shared machine: figures are noisy; floors and rounds alternate)"
          % os.getloadavg())
    ratios = {}
    for kind in ("user", "root"):
        seq, thr, got = (median(figures[(kind, what)]) for what in ("sequential", "threaded", "dispatch"))
        ratios[kind] = got / max(seq, thr)
        print("%-4s jobs: spawn floor sequential %6.0f/s, threaded (%d) %6.0f/s; nqsdaemon %6.0f/s = %.2fx the "
              "better floor (median of %d rounds of %d)" % (kind, seq, SPAWN_THREADS, thr, got, ratios[kind],
                                                            args.rounds, args.count))
    worst = min(ratios, key=ratios.get)
    result("dispatch of user jobs / spawn floor (root jobs %.2fx)" % ratios["root"], ratios["user"], "x floor",
           ">= %.1f each" % TARGET, ratios[worst] >= TARGET)


if __name__ == "__main__":
    main()
