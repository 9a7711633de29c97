"""Node-side helper of playbooks/failover_drill.yml (run with ansible.builtin.script).

    cjc_failover_drill.py ACTION --site SITE --db DB_PATH [--lib /usr/lib/nqs/lib] [...]

ACTION, each printing one JSON object:
  prepare   make the drill's queues if missing, start them, delete the jobs still queued
            or running (qdel), wait until none is left
  submit    one ENABLE and one DISABLE (qsub -nr) job into each drill queue; wait until all
            run on this node
  kill      --what cjcpw: SIGKILL the site's owner (its record must name this node);
            --what corosync: SIGKILL corosync of this node (same network namespace)
  wait      --jobs JSON --host NODE --since EPOCH: until every job that must run again runs
            on NODE; the seconds since EPOCH
  table     --jobs JSON --host NODE: every job's fate against the documented one, runs that
            overlap, queues left STOPPED, the owner record
Uses the engine installed on the node (cjc.jobs.drill, cjc.jobs.store, cjc.site.pidrecords) and its commands.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time


def _engine(lib):
    sys.path.insert(0, lib)
    from cjc.jobs import drill, store
    from cjc.site import pidrecords
    return drill, pidrecords, store


def _run(argv, site, data=None):
    env = dict(os.environ, NQS_SITE=site, LANG="C", LC_ALL="C")
    done = subprocess.run(argv, input=data, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit("%s failed (rc=%d): %s" % (" ".join(argv), done.returncode, done.stderr.strip()))
    return done.stdout


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=["prepare", "submit", "kill", "wait", "table"])
    parser.add_argument("--site", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--lib", default="/usr/lib/nqs/lib")
    parser.add_argument("--bin", default="/usr/bin")
    parser.add_argument("--what", choices=["cjcpw", "corosync"])
    parser.add_argument("--jobs", default="{}")
    parser.add_argument("--host")
    parser.add_argument("--since", type=float)
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args()
    drill, pidrecords, store = _engine(args.lib)
    spool = os.path.join(args.db, "nqs")
    submitted = {int(k): tuple(v) for k, v in json.loads(args.jobs).items()}

    def read():
        with store.open_store(spool) as db:
            return drill.read_jobs(db)

    def wait(predicate, what):
        deadline = time.monotonic() + args.timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise SystemExit("timed out after %.0f s waiting for %s" % (args.timeout, what))
            time.sleep(0.05)

    out = {}
    if args.action == "prepare":
        lines = drill.queue_lines({q["name"] for q in read()[2]})
        lines += ["start queue %s" % name for name in drill.QUEUES]
        _run([os.path.join(args.bin, "qmgr")] + [a for line in lines for a in ("-c", line)], args.site)
        live = [j["id"] for j in read()[0] if j["state"] in ("QUEUED", "RUNNING")]
        if live:
            _run([os.path.join(args.bin, "qdel")] + [str(i) for i in live], args.site)
        wait(lambda: not [j for j in read()[0] if j["state"] in ("QUEUED", "RUNNING")], "old jobs to end")
        out = {"deleted": live, "qmgr": lines}
    elif args.action == "submit":
        for queue in drill.DRILL_QUEUES:
            for flag in drill.FLAGS:
                argv = [os.path.join(args.bin, "qsub"), "-q", queue, "-r", drill.job_name(queue, flag)]
                reply = _run(argv + (["-nr"] if flag == "DISABLE" else []), args.site, drill.JOB_SCRIPT)
                submitted[int(reply.split()[1].split(".")[0])] = (queue, flag)
        host = pidrecords.this_host()
        wait(lambda: all(j["state"] == "RUNNING" and j["pid"] and j["host"] == host
                         for j in read()[0] if j["id"] in submitted), "the drill's jobs to run here")
        out = {"jobs": submitted, "runs": {j["id"]: j["runs"] for j in read()[0] if j["id"] in submitted},
               "host": host}
    elif args.action == "kill":
        if args.what == "cjcpw":
            record = pidrecords.read_record(os.path.join(spool, "run", "owner.pid"))
            if not pidrecords.record_is_alive(record):
                raise SystemExit("the owner of %s does not run on this node: %s" % (args.site, record))
            pids = [record["pid"]]
        else:
            mine = os.readlink("/proc/self/ns/net")
            pids = []
            for entry in os.listdir("/proc"):
                try:
                    with open("/proc/%s/comm" % entry) as fh:
                        if fh.read().strip() == "corosync" and os.readlink("/proc/%s/ns/net" % entry) == mine:
                            pids.append(int(entry))
                except OSError:
                    continue
        at = time.time()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        out = {"killed": pids, "at": at}
    elif args.action == "wait":
        wait(lambda: drill.recovered(read()[0], submitted, {i: 1 for i in submitted}, args.host),
             "the jobs to run again on %s" % args.host)
        out = {"recovery_s": round(time.time() - args.since, 2)}
    elif args.action == "table":
        jobs, outputs, queues = read()
        rows, ok = drill.fates(jobs, queues, submitted, args.host)
        record = pidrecords.read_record(os.path.join(spool, "run", "owner.pid"))
        out = {"rows": rows, "all_ok": ok, "text": drill.format_rows(rows),
               "overlapping_runs": drill.overlapping_runs(jobs, outputs, submitted),
               "stopped_queues": sorted(q["name"] for q in queues if not q["started"]),
               "owner": record, "owner_alive_here": pidrecords.record_is_alive(record),
               "runs": {j["id"]: j["runs"] for j in jobs if j["id"] in submitted},
               "running_on": sorted({j["host"] for j in jobs if j["id"] in submitted and j["state"] == "RUNNING"})}
    print(json.dumps(out, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
