#!/usr/bin/env python3
"""make bench-peer: this engine and stock Slurm, measured the same way in one run, side by side.

Both sites run on this machine at once (the engine's local site under a temp root, Slurm in a
network namespace: bench/peers/slurm.py), and every figure is taken alternately, sample by
sample or round by round, so the machine's load weighs on both alike. Every command is started
the same way: fork, the user's whole credential, exec (slurm.as_user), as the useradd user cjct1.

- submit: one ``qsub`` (queue stopped) against one ``sbatch --hold``: median seconds of a call;
- bulk: ``qsub -t 1-N`` against ``sbatch --array=1-N --hold``: median seconds of a call;
- dispatch: N ``true`` jobs of the user queued while nothing may start (a stopped queue, run limit
  64; a DOWN partition on a 64-CPU node), then released: jobs/s until the last one ended
  (recorded EXITED; its jobcomp line).

Prints each pair and the ratios qsub/sbatch, bulk/array (time: below 1 is faster) and
dispatch/dispatch (rate: above 1 is faster). Run as root; not part of make test or make bench.
"""

import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchlib import median, users_site  # noqa: E402
from slurm import SlurmPeer, as_user  # noqa: E402

from cjc.jobs.store import open_store  # noqa: E402

USER = "cjct1"
WAIT = 600  # seconds any dispatch may take at most


def qsub_timed(site, *args, stdin=b"true\n"):
    """Seconds of one installed ``qsub`` as USER; SystemExit when it fails."""
    started = time.monotonic()
    done = subprocess.run([site.layout.path("/usr/bin/qsub")] + list(args), input=stdin, capture_output=True,
                          env={"CJC_ROOT": site.root, "PATH": "/usr/bin:/bin", "LANG": "C"}, cwd="/tmp",
                          preexec_fn=as_user(USER))
    took = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit("qsub %s failed: %s" % (" ".join(args), done.stderr.decode(errors="replace")))
    return took


def alternate(runs, first, second):
    """([seconds of first], [seconds of second]), ``runs`` each, one after the other."""
    ones, twos = [], []
    for _ in range(runs):
        ones.append(first())
        twos.append(second())
    return ones, twos


def _wait(done, what):
    started = time.monotonic()
    while not done():
        if time.monotonic() - started > WAIT:
            raise SystemExit("%s: not done in %d s" % (what, WAIT))
        time.sleep(0.01)
    return time.monotonic() - started


def engine_dispatch(site, count):
    """Jobs/s of ``count`` user jobs from ``qmgr start queue`` to the last EXITED."""
    qmgr = site.command("/usr/bin/qmgr")
    subprocess.run(qmgr + ["-c", "create batch_queue peer run_limit=64", "-c", "stop queue peer"], env=site.env(),
                   capture_output=True)
    with open_store(site.spool) as store:
        before = store.db.execute("SELECT count(*) FROM jobs WHERE queue = 'peer'").fetchone()[0]
        qsub_timed(site, "-q", "peer", "-t", "1-%d" % count)
        subprocess.run(qmgr + ["-c", "start queue peer"], env=site.env(), check=True, capture_output=True)
        took = _wait(lambda: store.db.execute("SELECT count(*) FROM jobs WHERE queue = 'peer' AND state = 'EXITED'")
                     .fetchone()[0] == before + count, "engine dispatch")
        subprocess.run(qmgr + ["-c", "stop queue peer"], env=site.env(), check=True, capture_output=True)
    return count / took


def slurm_dispatch(slurm, count):
    """Jobs/s of ``count`` user jobs from the partition's State=UP to the last jobcomp line."""
    before = slurm.completed()
    slurm.run("scontrol", "update", "PartitionName=tp", "State=DOWN", check=True)
    slurm.timed("sbatch", "-Q", "-o", "/dev/null", "--array=1-%d" % count, "--wrap", "true", user=USER)
    time.sleep(1)  # the array is recorded pending
    started = time.monotonic()
    slurm.run("scontrol", "update", "PartitionName=tp", "State=UP", check=True)
    _wait(lambda: slurm.completed() >= before + count, "Slurm dispatch")
    return count / (time.monotonic() - started)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30, help="submit samples of each")
    parser.add_argument("--bulk-runs", type=int, default=5)
    parser.add_argument("--bulk", type=int, default=1000, help="requests of one bulk call")
    parser.add_argument("--dispatch", type=int, default=300, help="jobs of one dispatch round")
    parser.add_argument("--rounds", type=int, default=2, help="dispatch rounds of each")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with SlurmPeer() as slurm, users_site() as site:
        version = slurm.run("sbatch", "--version").stdout.strip()
        # warm-up: the first calls of each pay for cold caches
        alternate(3, lambda: qsub_timed(site, "-q", "guibs_1"),
                  lambda: slurm.timed("sbatch", "-Q", "--hold", "-o", "/dev/null", "--wrap", "true", user=USER))
        qsub, sbatch = alternate(args.runs, lambda: qsub_timed(site, "-q", "guibs_1"),
                                 lambda: slurm.timed("sbatch", "-Q", "--hold", "-o", "/dev/null", "--wrap", "true",
                                                     user=USER))
        bulk, array = alternate(args.bulk_runs, lambda: qsub_timed(site, "-q", "guibs_1", "-t", "1-%d" % args.bulk),
                                lambda: slurm.timed("sbatch", "-Q", "--hold", "-o", "/dev/null", "--array=1-%d"
                                                    % args.bulk, "--wrap", "true", user=USER))
        slurm.cancel_all()
        ours, theirs = [], []
        for _ in range(args.rounds):
            ours.append(engine_dispatch(site, args.dispatch))
            theirs.append(slurm_dispatch(slurm, args.dispatch))
    load_after = os.getloadavg()
    rows = [
        ("submit, one call as %s (median of %d)" % (USER, args.runs), "qsub", median(qsub) * 1000,
         "sbatch --hold", median(sbatch) * 1000, "ms"),
        ("bulk, %d requests in one call (median of %d)" % (args.bulk, args.bulk_runs), "qsub -t",
         median(bulk), "sbatch --array --hold", median(array), "s"),
        ("dispatch, %d user jobs to completion (median of %d)" % (args.dispatch, args.rounds), "nqsdaemon",
         median(ours), "slurmd", median(theirs), "jobs/s"),
    ]
    print("peer: %s (stock Debian packages); load average before %.2f %.2f %.2f, after %.2f %.2f %.2f"
          % ((version,) + load_before + load_after))
    print("figures are noisy on a shared machine: each pair was measured alternately, in one run")
    for what, ours_name, ours_value, theirs_name, theirs_value, unit in rows:
        print("%-52s %-10s %9.3f %-22s %9.3f %s" % (what, ours_name, ours_value, theirs_name, theirs_value, unit))
    print("ratio qsub/sbatch           %.2f  (time of a call: below 1, qsub is faster)" % (rows[0][2] / rows[0][4]))
    print("ratio bulk/array            %.2f  (time of a call: below 1, qsub -t is faster)" % (rows[1][2] / rows[1][4]))
    print("ratio dispatch/dispatch     %.2f  (jobs/s: above 1, nqsdaemon is faster)" % (rows[2][2] / rows[2][4]))


if __name__ == "__main__":
    main()
