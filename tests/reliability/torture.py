#!/usr/bin/env python3
"""Crash torture: SIGKILL the site at random moments while jobs flow; nothing lost or run twice.

``make torture N=200`` runs ``torture.py -n 200``; ``tests/engine/test_torture.py``
runs a few trials inside ``make test``.

A two-node lab (tests/lab) shares one disk; the cluster site lives on it. Each trial:

1. start the site on the current node (``cjcpw`` in the foreground, as a cluster would);
2. a submitter on that node submits jobs at random intervals (pipe queue ``guilb_def``
   -> ``guibs_1`` with restart RESTART, and ``tpurge`` with restart PURGE; each job
   ENABLE or DISABLE at random);
3. at a random moment one kill, by mode:
   ``nqsdaemon`` SIGKILL of nqsdaemon;  ``cjcpw`` SIGKILL of the supervisor;
   ``site`` SIGKILL of every process of the site (cjcpw, daemons, jobs) at once;
   ``commit`` nqsdaemon SIGKILLs itself between a write and its COMMIT (the store's
   ``CJC_STORE_FAULT`` hook, armed by the trial);  ``node`` the whole node dies
   (``Lab.kill_node``: every process of it, link down);  ``unmount`` the shared disk is
   unmounted lazily (``umount -l``) under the running site on its node, then the OCF agent's
   monitor must report a failure (never "not running" while the site's processes live) and
   its stop must end them all (``monitor-lied`` otherwise), and the disk is mounted again;
   ``diskfull`` the shared disk (a tmpfs, see :func:`mount_small_disk`) is filled for a
   moment while jobs flow: nqsdaemon must live through it (``disk-full-died`` otherwise);
   once space is back, an orderly stop;
4. once every process of the old incarnation is gone, the site starts again -- on
   the other node every second trial (the address moves with it) -- and more jobs
   are submitted there;
5. when every job of the trial has ended, an orderly stop, then the checks:

* corrupt:    ``PRAGMA integrity_check`` is not ``ok``;
* lost:       a job the submitter was told exists is missing, never ends, says EXITED
              without its run having finished, or is DELETED without a reason;
* double-run: two runs of one job alive at once (each run holds an exclusive flock
              on a per-job file on the shared disk and logs start/end with pid and
              time; a run that cannot take the lock at once logs ``double``; runs'
              intervals are also compared), a run the database does not know of, or
              more re-runs than the restart rules re-queued;
* orphans:    processes of the site left after the orderly stop
              (``siteprocs.site_processes``).

Finished jobs that ran again because the site died after the job's last line but
before its end was committed are re-runs *per the restart rules* (the site cannot
know); they are counted (``rerun_after_finish``), not failures.

``--route`` (:class:`RouteTorture`) tortures routing between two sites instead: site A
(machine 100) hands jobs to site B (machine 200) and its nqsdaemon SIGKILLs itself
after B took a job but before A committed that (the store's hook, armed for the
``confirm_routed`` transaction of a pipe queue or the ``settle_recovery`` one of a
migration at start). A starts again; each trial then checks: every job of A is
MIGRATED naming its job at B (else *lost*), and B holds exactly one job for it (else
*duplicate*).
"""

import argparse
import collections
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
REPO = os.path.dirname(TESTS)
ENGINE = os.path.join(REPO, "plugins", "module_utils")
for _path in (TESTS, ENGINE, os.path.join(TESTS, "engine")):  # the lab; the engine; jobsite (test support)
    if _path not in sys.path:
        sys.path.insert(0, _path)

from cjc.site.pidrecords import pid_exists  # noqa: E402
from cjc.site.processes import site_processes  # noqa: E402
from cjc.jobs.store import FAULT_ENV  # noqa: E402
from jobsite import wait_until  # noqa: E402

MODES = ("nqsdaemon", "cjcpw", "site", "commit", "node", "unmount")
SMALL_DISK_MODES = ("diskfull",)  # only on the small shared disk main() mounts (mount_small_disk)
DISK_SIZE = "96m"
AGENT = "/usr/lib/ocf/resource.d/cjc/cjcsite"
MARKS = "/run/cjctort-marks"  # HA_RSCTMP of the agent on the nodes: node-local, like Pacemaker's
CJCPW = "/usr/lib/nqs/cluster/cjcpw"
MKSITE = "/usr/lib/nqs/cluster/cjcmksite"
TERMINAL = ("EXITED", "DELETED", "MIGRATED")

# A line the full disk refuses is written again until it takes it (mode diskfull).
JOB_SCRIPT = r"""T=@DIR@
ID=${QSUB_REQID%%.*}
log() { until echo "$1 $ID $$ $(date +%s.%N)" >> "$T/runs.log"; do sleep 0.05; done 2>/dev/null; }
exec 9>>"$T/locks/$ID"
if ! flock -n 9; then log double; flock 9; fi
log start
sleep @SLEEP@
log end
"""

# Runs on a node with the node's own engine: submits, prints "<id> <name>" once committed.
SUBMITTER = r"""
import json, random, sys, time
sys.path.insert(0, "/usr/lib/nqs/lib")
from cjc.config.layout import layout_from
from cjc.jobs.requests import Caller, poke, submit_job
from cjc.jobs.store import open_store
spool, spec = sys.argv[1], json.loads(sys.argv[2])
rng = random.Random(spec["seed"])
root = Caller(0, "root")
for k in range(spec["count"]):
    queue = rng.choice(["guilb_def", "guilb_def", "guibs_1", "tpurge"])
    restart = "DISABLE" if rng.random() < 0.2 else "ENABLE"
    script = spec["script"].replace("@SLEEP@", "%.2f" % rng.uniform(0.0, spec["max_sleep"]))
    name = "%s_%d" % (spec["prefix"], k)
    while True:
        try:
            with open_store(spool) as store:
                job_id = submit_job(store, root, script, queue=queue, name=name, restart=restart)
            break
        except Exception as err:  # the disk is shared with a crashing site: retry, never give up silently
            sys.stderr.write("retry %s: %s\n" % (name, err))
            time.sleep(0.05)
    print(job_id, name, flush=True)
    poke(layout_from(), spool)
    time.sleep(rng.uniform(0, spec["max_gap"]))
"""


class TortureError(Exception):
    """The harness itself could not do its work (not a finding about the engine)."""


def _read_json(path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


class Torture:
    def __init__(self, lab, seed=None, out=print, max_sleep=0.4, disk=None):
        self.lab = lab
        self.disk = disk or lab.shared_dir  # what the nodes mount as the shared disk (share_small_disk)
        self.rng = random.Random(seed)
        self.out = out
        self.max_sleep = max_sleep
        self.site = lab.site_fqdn
        self.db = lab.config.shared_path + "/jobdb"          # as the nodes see it
        self.spool = self.db + "/nqs"
        self.host_spool = os.path.join(lab.shared_dir, "jobdb", "nqs")
        self.tdir = lab.config.shared_path + "/torture"
        self.host_tdir = os.path.join(lab.shared_dir, "torture")
        self.fault = self.tdir + "/fault"
        self.host_fault = os.path.join(self.host_tdir, "fault")
        self.nodes = list(lab.node_names)[:2]
        self.current = self.nodes[0]
        self.cjcpw = None
        self.counts = collections.Counter()
        self.modes = collections.Counter()
        self.problems = []

    # ---------------------------------------------------------------- setup

    def setup(self):
        env = dict(os.environ, PYTHONPATH=ENGINE)
        for node in self.nodes:
            self.lab.nsx(node, sys.executable, "-m", "cjc.cli.install", "--root", "/", env=env)
        self.lab.move_vip(self.current)
        made = self.lab.nsx(self.current, MKSITE, self.site, "200", self.db, check=False)
        if made.returncode != 0:
            raise TortureError("cjcmksite failed: %s" % made.stderr)
        os.makedirs(os.path.join(self.host_tdir, "locks"), exist_ok=True)
        open(os.path.join(self.host_tdir, "runs.log"), "a").close()
        from cjc.jobs.requests import Caller, qmgr
        from cjc.jobs.store import open_store
        with open_store(self.host_spool) as store:
            for line in ("set queue guibs_1 run_limit=4",
                         "create batch_queue tpurge run_limit=2 restart=PURGE"):
                qmgr(store, Caller(0, "root"), line)

    # ---------------------------------------------------------------- site

    def start_site(self, node, seconds=40):
        """cjcpw in the foreground on node; retried while the old owner's lock is still held."""
        self.lab.move_vip(node)
        env = dict(os.environ, **{FAULT_ENV: self.fault})
        env.pop("NQS_SITE", None)
        deadline = time.monotonic() + seconds
        while True:
            proc = self.lab.spawn(node, CJCPW, self.site, self.db, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            while True:
                owner = _read_json(os.path.join(self.host_spool, "run", "owner.pid")) or {}
                if proc.poll() is not None:
                    break
                if owner.get("pid") == proc.pid and owner.get("daemons") == "up":
                    self.cjcpw, self.current = proc, node
                    return proc
                if time.monotonic() > deadline:
                    proc.kill()
                    proc.wait()
                    raise TortureError("site did not come up on %s" % node)
                time.sleep(0.02)
            err = proc.stderr.read().decode(errors="replace")
            proc.stderr.close()
            if proc.returncode != 5 or time.monotonic() > deadline:
                raise TortureError("cjcpw on %s exited %s: %s" % (node, proc.returncode, err.strip()))
            time.sleep(0.1)  # exit 5: the previous owner's daemons still hold the lock

    def nqsdaemon_pid(self):
        record = _read_json(os.path.join(self.host_spool, "run", "nqsdaemon.pid")) or {}
        return record.get("pid")

    def submit(self, node, prefix, count, max_gap):
        spec = {"seed": self.rng.random(), "count": count, "prefix": prefix, "max_gap": max_gap,
                "max_sleep": self.max_sleep, "script": JOB_SCRIPT.replace("@DIR@", self.tdir)}
        env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C"}
        return self.lab.spawn(node, sys.executable, "-c", SUBMITTER, self.spool, json.dumps(spec), env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    @staticmethod
    def submitted(proc):
        out, _err = proc.communicate(timeout=120)
        return {int(line.split()[0]): line.split()[1] for line in out.decode().splitlines() if line.strip()}

    def leftovers(self):
        # Only processes of this lab's nodes: site_processes() matches the spool path in the
        # environment of every host process, and another lab may use the same node-side path.
        mine = set()
        for node in self.nodes:
            mine.update(self.lab.pids(node))
        return [p for p in site_processes(self.spool) if p.pid in mine]

    def wait_old_gone(self, seconds=40):
        if self.cjcpw is not None:
            try:
                self.cjcpw.wait(timeout=seconds)
            except subprocess.TimeoutExpired:
                raise TortureError("cjcpw (pid %d) did not exit after the crash" % self.cjcpw.pid)
            self.cjcpw.stderr.close()
        wait_until(lambda: not self.leftovers(), seconds, "the processes of the crashed site to end",
                   error=TortureError)

    # ---------------------------------------------------------------- kills

    def kill(self, mode):
        if mode == "nqsdaemon":
            pid = self.nqsdaemon_pid()
            if pid:
                os.kill(pid, signal.SIGKILL)
        elif mode == "cjcpw":
            os.kill(self.cjcpw.pid, signal.SIGKILL)
        elif mode == "site":
            # every process of the site at once: stop them all first so none reacts, then SIGKILL
            for _round in range(3):
                victims = [p.pid for p in self.leftovers()] + [self.cjcpw.pid]
                for sig in (signal.SIGSTOP, signal.SIGKILL):
                    for pid in victims:
                        try:
                            os.kill(pid, sig)
                        except ProcessLookupError:
                            pass
        elif mode == "commit":
            with open(self.host_fault, "w") as handle:
                handle.write("nqsdaemon\n")
            pid = self.nqsdaemon_pid()
            try:
                wait_until(lambda: not os.path.exists(self.host_fault) or not pid or not pid_exists(pid), 5,
                           "nqsdaemon to reach a commit", error=TortureError)
            except TortureError:
                self.counts["commit_fault_not_reached"] += 1
                if pid:
                    os.kill(pid, signal.SIGKILL)
            if os.path.exists(self.host_fault):
                os.unlink(self.host_fault)
        elif mode == "node":
            self.lab.kill_node(self.current)
        elif mode == "unmount":
            self.unmount_under_site()
        elif mode == "diskfull":
            self.fill_disk()
        else:
            raise ValueError(mode)

    def fill_disk(self):
        """Fill the shared disk for a moment while jobs flow; nqsdaemon must live; then stop in order."""
        stat = os.statvfs(self.lab.shared_dir)
        if not os.path.ismount(self.lab.shared_dir) or stat.f_blocks * stat.f_frsize > 1 << 30:
            raise TortureError("mode diskfull needs the small shared disk of mount_small_disk()")
        pid = self.nqsdaemon_pid()
        filler = os.path.join(self.lab.shared_dir, "filler")
        chunk = b"\0" * (1 << 20)
        with open(filler, "wb", buffering=0) as handle:
            try:
                while True:
                    handle.write(chunk)
            except OSError:
                pass
        time.sleep(self.rng.uniform(1.0, 2.5))
        os.unlink(filler)
        if not pid or not pid_exists(pid) or self.nqsdaemon_pid() != pid or self.cjcpw.poll() is not None:
            self.counts["disk-full-died"] += 1
            self.problems.append("diskfull: nqsdaemon %s did not live through the full disk" % pid)
        time.sleep(1.5)  # the owed records are written, dispatch resumes
        self.cjcpw.send_signal(signal.SIGTERM)

    def unmount_under_site(self):
        """``umount -l`` of the shared disk under the running site; the agent must see it and end it."""
        node, shared = self.current, self.lab.config.shared_path
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "OCF_RESKEY_site": self.site, "OCF_RESKEY_db_path": self.db,
               "OCF_RESKEY_CRM_meta_interval": "10000", "HA_RSCTMP": MARKS, "OCF_RESOURCE_INSTANCE": "cjcsite"}
        # the mark the agent's start leaves: this cjcpw is the site's owner on this node
        self.lab.nsx(node, "sh", "-c", 'mkdir -p %s && echo %d > %s/cjcsite-cjcsite.serving'
                     % (MARKS, self.cjcpw.pid, MARKS))
        self.lab.nsx(node, "umount", "-l", shared)
        try:
            monitor = self.lab.nsx(node, AGENT, "monitor", check=False, env=env)
            # alive after the answer: alive during it (nothing of the site starts meanwhile). The site
            # may also have ended itself on losing its disk: then "not running" is the truth.
            alive = self.leftovers() or self.cjcpw.poll() is None
            if monitor.returncode == 7 and alive or monitor.returncode not in (1, 7):
                self.counts["monitor-lied"] += 1
                self.problems.append("unmount on %s: monitor rc=%d %s" % (node, monitor.returncode,
                                                                          monitor.stderr.strip()))
            stop = self.lab.nsx(node, AGENT, "stop", check=False, env=env, timeout=120)
            if stop.returncode != 0 or self.leftovers():
                self.counts["monitor-lied"] += 1
                self.problems.append("unmount on %s: stop rc=%d %s, left %s" % (
                    node, stop.returncode, stop.stderr.strip(), [p.pid for p in self.leftovers()]))
        finally:
            self.lab.nsx(node, "mount", "--bind", self.disk, shared)

    # ---------------------------------------------------------------- one trial

    def trial(self, number, mode):
        started = time.monotonic()
        prefix = "T%d" % number
        node = self.current
        if self.cjcpw is None:
            self.start_site(node)
        first = self.submit(node, prefix + "a", self.rng.randint(6, 14), 0.15)
        time.sleep(self.rng.uniform(0.2, 1.8))
        self.kill(mode)
        self.modes[mode] += 1
        if mode == "node":
            self.cjcpw.wait(timeout=10)
        self.wait_old_gone()
        gone_at = time.time()
        self.cjcpw = None
        ids = self.submitted(first)
        if mode == "node":
            self.lab.revive_node(node)
        target = node if number % 2 == 0 else self.other(node)
        self.start_site(target)
        second = self.submit(target, prefix + "b", self.rng.randint(2, 5), 0.1)
        ids.update(self.submitted(second))
        rows = self.wait_ended(ids)
        self.stop_site()
        orphans = self.leftovers()
        if orphans:
            self.problems.append("trial %d: %d orphan process(es) after stop: %s"
                                 % (number, len(orphans), " ".join(str(p.pid) for p in orphans)))
            self.counts["orphans"] += len(orphans)
            for process in orphans:
                try:
                    process.kill()
                except Exception:
                    pass
        found = self.check(number, ids, rows, gone_at)
        self.out("trial %3d %-9s %s -> %s  jobs %2d  %s  %.1f s"
                 % (number, mode, node, target, len(ids), found or "ok", time.monotonic() - started))

    def other(self, node):
        return self.nodes[1] if node == self.nodes[0] else self.nodes[0]

    def wait_ended(self, ids, seconds=90):
        deadline = time.monotonic() + seconds
        while True:
            rows = self.rows(ids)
            if all(r["state"] in TERMINAL for r in rows.values()) and len(rows) == len(ids):
                return rows
            if time.monotonic() > deadline:
                return rows
            time.sleep(0.1)

    def rows(self, ids):
        from cjc.jobs.store import open_store
        with open_store(self.host_spool) as store, store.snapshot() as db:
            marks = ",".join("?" * len(ids))
            rows = {r["id"]: dict(r) for r in db.execute(
                "SELECT id, name, queue, state, restart, runs, exit_status, reason FROM jobs WHERE id IN (%s)"
                % marks, list(ids))}
            for job_id, row in rows.items():
                row["events"] = [dict(e) for e in db.execute(
                    "SELECT state, message FROM events WHERE job_id = ? ORDER BY id", (job_id,))]
        return rows

    def stop_site(self):
        proc = self.cjcpw
        proc.send_signal(signal.SIGTERM)
        try:
            status = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise TortureError("cjcpw did not stop within 60 s")
        proc.stderr.close()
        self.cjcpw = None
        if status != 0:
            self.problems.append("orderly stop: cjcpw exited %d" % status)
        try:
            wait_until(lambda: not self.leftovers(), 5, "the site's processes to end", error=TortureError)
        except TortureError:
            pass

    # ---------------------------------------------------------------- checks

    def integrity(self):
        try:
            db = sqlite3.connect(os.path.join(self.host_spool, "private", "nqs.db"))  # the site is stopped
            try:
                return db.execute("PRAGMA integrity_check").fetchone()[0]
            finally:
                db.close()
        except sqlite3.DatabaseError as err:
            return "cannot open: %s" % err

    def runs_log(self, ids):
        runs = collections.defaultdict(list)   # id -> [[pid, start, end]]
        doubles = collections.Counter()
        with open(os.path.join(self.host_tdir, "runs.log")) as handle:
            for line in handle:
                words = line.split()
                if len(words) != 4 or not words[1].isdigit():
                    continue
                what, job_id, pid, at = words[0], int(words[1]), int(words[2]), float(words[3])
                if job_id not in ids:
                    continue
                if what == "double":
                    doubles[job_id] += 1
                elif what == "start":
                    runs[job_id].append([pid, at, None])
                elif what == "end":
                    for run in runs[job_id]:
                        if run[0] == pid and run[2] is None:
                            run[2] = at
        return runs, doubles

    def check(self, number, ids, rows, gone_at):
        found = collections.Counter()

        def problem(kind, text):
            found[kind] += 1
            self.counts[kind] += 1
            self.problems.append("trial %d: %s: %s" % (number, kind, text))

        verdict = self.integrity()
        if verdict != "ok":
            problem("corrupt", verdict)
        runs, doubles = self.runs_log(ids)
        for job_id, name in sorted(ids.items()):
            row = rows.get(job_id)
            if row is None or row["name"] != name:
                problem("lost", "request %d (%s) is not in the site database" % (job_id, name))
                continue
            mine = runs.get(job_id, [])
            finished = [r for r in mine if r[2] is not None]
            requeued = sum(1 for e in row["events"] if "re-queued" in e["message"])
            if row["state"] not in TERMINAL:
                problem("lost", "request %d never ended (state %s after the deadline)" % (job_id, row["state"]))
            elif row["state"] == "EXITED" and row["exit_status"] == 0 and not finished:
                problem("lost", "request %d is EXITED 0 but no run of it finished" % job_id)
            elif row["state"] == "DELETED" and not (row["reason"] and any(
                    e["state"] == "DELETED" for e in row["events"])):
                problem("lost", "request %d is DELETED without a reason in its tracker" % job_id)
            if doubles[job_id]:
                problem("double-run", "request %d: a run started while another held its lock" % job_id)
            if len(mine) > row["runs"]:
                problem("double-run", "request %d: %d runs logged, the database dispatched %d"
                        % (job_id, len(mine), row["runs"]))
            if row["runs"] > 1 + requeued:
                problem("double-run", "request %d ran %d times, re-queued %d times by the restart rules"
                        % (job_id, row["runs"], requeued))
            spans = sorted((r[1], r[2] if r[2] is not None else gone_at) for r in mine)
            for (_s1, e1), (s2, _e2) in zip(spans, spans[1:]):
                if s2 < e1:
                    problem("double-run", "request %d: runs overlap in time (%.3f < %.3f)" % (job_id, s2, e1))
            if len(finished) > 1:
                self.counts["rerun_after_finish"] += 1
            if row["state"] == "DELETED":
                self.counts["deleted"] += 1
            self.counts["reruns"] += max(0, row["runs"] - 1)
        self.counts["jobs"] += len(ids)
        return " ".join("%s=%d" % kv for kv in sorted(found.items()))

    # ---------------------------------------------------------------- run

    def run(self, trials, modes=MODES):
        self.setup()
        try:
            for number in range(trials):
                self.trial(number, modes[number % len(modes)] if number < len(modes)
                           else self.rng.choice(modes))
                self.counts["trials"] += 1
        finally:
            if self.cjcpw is not None and self.cjcpw.poll() is None:
                self.cjcpw.kill()
                self.cjcpw.wait()
            for process in self.leftovers():
                try:
                    process.kill()
                except Exception:
                    pass
        return self.summary()

    def summary(self):
        keys = ("trials", "corrupt", "lost", "double-run", "orphans", "monitor-lied", "disk-full-died")
        return {k: self.counts[k] for k in keys + ("jobs", "reruns", "rerun_after_finish", "deleted",
                                                   "commit_fault_not_reached")}

    def report(self):
        s = self.summary()
        for line in self.problems:
            self.out("  " + line)
        self.out("modes: " + " ".join("%s=%d" % kv for kv in sorted(self.modes.items())))
        self.out("TORTURE trials=%(trials)d corrupt=%(corrupt)d lost=%(lost)d double-run=%(double-run)d "
                 "orphans=%(orphans)d monitor-lied=%(monitor-lied)d disk-full-died=%(disk-full-died)d "
                 "(jobs=%(jobs)d re-runs=%(reruns)d rerun-after-finish=%(rerun_after_finish)d deleted=%(deleted)d)" % s)
        return s


class RouteTorture:
    """Routing between two local sites, SIGKILLed between the other site's answer and the commit."""

    MODES = ("confirm_routed", "settle_recovery")

    def __init__(self, seed=None, out=print):
        self.rng = random.Random(seed)
        self.out = out
        self.counts = collections.Counter()
        self.modes = collections.Counter()
        self.problems = []
        self.fault = None
        self.a = self.b = None

    def setup(self):
        from jobsite import Node, make_root
        self.a = Node(make_root(100), address="127.0.0.1")
        self.b = Node(make_root(200), address="127.0.0.2")
        self.fault = os.path.join(self.a.layout.root, "fault")
        self.a.env[FAULT_ENV] = self.fault
        self.b.daemon = self.b.start()
        self.a.daemon = self.a.start()
        self.qmgr(self.b, "add mid 100 node_a 127.0.0.1 %d" % self.a.port, "add map 100 root root")
        self.qmgr(self.a, "add mid 200 node_b 127.0.0.2 %d" % self.b.port,
                  "create pipe_queue to_b destination=guibs_1@node_b",
                  "create batch_queue q_mig run_limit=4 restart=MIGRATION_PURGE migration=guibs_1@node_b")

    @staticmethod
    def qmgr(node, *lines):
        from cjc.jobs.requests import Caller, qmgr
        from cjc.jobs.store import open_store
        with open_store(node.spool) as store:
            for line in lines:
                qmgr(store, Caller(0, "root"), line)

    @staticmethod
    def submit(node, queue, names):
        from cjc.jobs.requests import Caller, poke, submit_job
        from cjc.jobs.store import open_store
        # a job sleeps only in q_mig at A, so that it is RUNNING there when A dies; at B it ends at once
        script = '[ "$QSUB_QUEUE" = q_mig ] && sleep 1000\ntrue\n'
        with open_store(node.spool) as store:
            ids = {submit_job(store, Caller(0, "root"), script, queue=queue, name=name): name for name in names}
        poke(node.layout, node.spool)
        return ids

    def arm(self, operation):
        with open(self.fault, "w") as handle:
            handle.write("nqsdaemon %s\n" % operation)

    def wait_a_gone(self, seconds=15):
        """Until A's nqsdaemon (fired by the hook, or killed) and its netdaemon are gone."""
        try:
            self.a.daemon.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.counts["fault_not_reached"] += 1
            self.a.daemon.kill()
            self.a.daemon.wait()
        wait_until(lambda: self.a.record_pid("netdaemon") is None, 10, "A's netdaemon to exit", error=TortureError)
        if os.path.exists(self.fault):
            os.unlink(self.fault)

    def trial(self, number, mode):
        from jobsite import job_pgids
        started = time.monotonic()
        names = ["R%d_%d" % (number, k) for k in range(self.rng.randint(2, 5))]
        if mode == "confirm_routed":
            self.arm(mode)
            ids = self.submit(self.a, "to_b", names)
            self.wait_a_gone()
        else:
            ids = self.submit(self.a, "q_mig", names)
            wait_until(lambda: all(self.a.job(i)["state"] == "RUNNING" and self.a.job(i)["pid"] for i in ids), 20,
                       "the q_mig jobs to run", error=TortureError)
            pgids = job_pgids(self.a, list(ids))
            self.a.daemon.kill()
            for pgid in pgids:
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.wait_a_gone()
            self.arm(mode)  # the start that migrates them dies after B took the first one
            self.a.daemon = self.a.start_daemon("nqsdaemon", wait=False)
            self.wait_a_gone()
        self.a.daemon = self.a.start()
        found = self.check(number, ids)
        self.out("route trial %3d %-16s jobs %d  %s  %.1f s"
                 % (number, mode, len(ids), found or "ok", time.monotonic() - started))

    def check(self, number, ids, seconds=30):
        found = collections.Counter()

        def problem(kind, text):
            found[kind] += 1
            self.counts[kind] += 1
            self.problems.append("route trial %d: %s: %s" % (number, kind, text))

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and any(self.a.job(i)["state"] != "MIGRATED" for i in ids):
            time.sleep(0.05)
        from cjc.jobs.store import open_store
        with open_store(self.b.spool) as store, store.snapshot() as db:
            at_b = collections.defaultdict(list)
            for row in db.execute("SELECT id, name FROM jobs WHERE name IN (%s)" % ",".join("?" * len(ids)),
                                  list(ids.values())):
                at_b[row["name"]].append(row["id"])
        for job_id, name in sorted(ids.items()):
            job = self.a.job(job_id)
            if len(at_b[name]) > 1:
                problem("duplicate", "request %d (%s) is at B %d times: %s"
                        % (job_id, name, len(at_b[name]), at_b[name]))
            if job["state"] != "MIGRATED" or not at_b[name]:
                problem("lost", "request %d (%s) is %s at A, %d time(s) at B"
                        % (job_id, name, job["state"], len(at_b[name])))
            elif not job["reason"].endswith("as request %d" % at_b[name][0]):
                problem("lost", "request %d names another job at B: %s" % (job_id, job["reason"]))
        self.counts["jobs"] += len(ids)
        return " ".join("%s=%d" % kv for kv in sorted(found.items()))

    def run(self, trials):
        from jobsite import remove_root
        self.setup()
        try:
            for number in range(trials):
                mode = self.MODES[number % len(self.MODES)] if number < len(self.MODES) else self.rng.choice(self.MODES)
                self.modes[mode] += 1
                self.trial(number, mode)
                self.counts["trials"] += 1
        finally:
            for node in (self.a, self.b):
                if node is not None:
                    node.cleanup()
                    remove_root(node.layout)
        return self.summary()

    def summary(self):
        return {k: self.counts[k] for k in ("trials", "jobs", "lost", "duplicate", "fault_not_reached")}

    def report(self):
        for line in self.problems:
            self.out("  " + line)
        self.out("modes: " + " ".join("%s=%d" % kv for kv in sorted(self.modes.items())))
        self.out("ROUTE TORTURE trials=%(trials)d jobs=%(jobs)d lost=%(lost)d duplicate=%(duplicate)d "
                 "fault-not-reached=%(fault_not_reached)d" % self.summary())
        return self.summary()


def route_failed(summary):
    return any(summary[k] for k in ("lost", "duplicate", "fault_not_reached"))


def shared_path():
    """The disk's path on the nodes: our own, so that no engine stop of another lab (same host, no
    PID namespace: processes are found by the spool path in their environment) touches ours."""
    return "/mnt/cjctort%d" % os.getpid()


def failed(summary):
    return any(summary[k] for k in ("corrupt", "lost", "double-run", "orphans", "monitor-lied", "disk-full-died"))


def mount_small_disk(path):
    """A DISK_SIZE tmpfs at ``path`` (outside the lab's base, which its up() cleans), mounted before the
    lab is up so that the nodes' mount namespaces have it too; :func:`share_small_disk` then makes it the
    lab's shared disk."""
    os.makedirs(path, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % DISK_SIZE, "cjctort-disk", path], check=True)
    return path


def share_small_disk(lab, path):
    """The small disk at the lab's shared directory, on the host and on every node."""
    subprocess.run(["mount", "--bind", path, lab.shared_dir], check=True)
    for node in lab.node_names:
        lab.nsx(node, "mount", "--bind", path, lab.config.shared_path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("-n", "--trials", type=int, default=int(os.environ.get("N") or 10))
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--modes", default=",".join(MODES + SMALL_DISK_MODES),
                        help="comma-separated subset of %s" % ",".join(MODES + SMALL_DISK_MODES))
    parser.add_argument("--route", action="store_true", help="torture routing between two sites instead")
    args = parser.parse_args(argv)
    if args.route:
        route = RouteTorture(seed=args.seed, out=lambda text: print(text, flush=True))
        try:
            route.run(args.trials)
        except TortureError as err:
            route.problems.append("harness stopped: %s" % err)
            route.counts["harness_errors"] += 1
        return 1 if route_failed(route.report()) or route.counts["harness_errors"] else 0
    from lab import Lab, LabConfig
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    print("torture: %d trial(s), seed %d" % (args.trials, seed), flush=True)
    config = LabConfig(name="tort%d" % os.getpid(), shared_path=shared_path())
    disk = mount_small_disk(config.base + "-disk")
    lab = Lab(config)
    try:
        lab.up()
        share_small_disk(lab, disk)
        torture = Torture(lab, seed=seed, out=lambda text: print(text, flush=True), disk=disk)
        try:
            torture.run(args.trials, tuple(args.modes.split(",")))
        except TortureError as err:
            torture.problems.append("harness stopped: %s" % err)
            torture.counts["harness_errors"] += 1
        summary = torture.report()
    finally:
        lab.down()
        subprocess.run(["umount", "-l", disk], check=False)
        os.rmdir(disk)
    return 1 if failed(summary) or torture.counts["harness_errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
