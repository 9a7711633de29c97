"""nqsdaemon: queues and job execution of one site (guide §2.1.4, SPEC §2.10).

``nqsdaemon --root ROOT --site local|DB-PATH``

Start, in this order (the pid record is written only at the end, when it serves):
  1. take the node-local lock of the site (one nqsdaemon per site and node);
  2. open the site database (upgrading its schema once when older);
  3. end job processes left by a previous incarnation (SIGKILLed daemon), so that
     no job can ever run twice at once;
  4. apply the failover restart rules (:mod:`..restart`) to every job recorded RUNNING;
  5. bind the local request and wake sockets, start netdaemon (its child) and
     wait until it listens;
  6. write ``run/nqsdaemon.pid``.

Then loop: act on recorded signals, reap children, route pipe queues, dispatch
batch jobs within run limits, signal jobs asked to be deleted, answer local
requests; sleep until a signal, a poke or the next tick.

SIGTERM is an orderly stop (exit 0): dispatching stops, every running job's
process group gets SIGTERM, the daemon waits for them (the supervisor's deadline
bounds this) and leaves them recorded RUNNING so the restart rules apply at the
next start; then background processes the jobs left are ended (SPEC §2.13),
netdaemon is stopped and the record removed. If netdaemon dies, nqsdaemon exits 1.
"""

import concurrent.futures
import fcntl
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time

from ..site import pidrecords
from ..net import wire
from ..site import endpoints
from ..site.log import DaemonLog
from ..errors import CjcError
from ..jobs.spawn import JobStartError, describe_status, remove_run_files, spawn_job, store_output
from ..net.peers import remote_call
from ..jobs.requests import Caller, poke, serve_request
from ..net.client import WRITES
from ..net.server import LOCAL_LIMITS, Server, per_thread
from ..site.ownership import OWNER_FD_ENV
from ..jobs.restart import recover
from ..site.processes import end_processes, site_processes
from ..jobs.store import BATCH, DELETED, EXITED, MIGRATED, PIPE, QUEUED, RUNNING, add_event, open_store
from . import DaemonArgs, SignalReceiver, daemon_command, site_environment

NAME = "nqsdaemon"
TICK = 1.0
DISPATCH_BATCH = 256
SPAWN_THREADS = 4
ROUTE_RETRY = 10
LEFTOVER_GRACE = 1.0


def owner_lock_fd():
    """(fd,) of the ownership lock cjcpw handed over (see ownership.py), or () without one."""
    text = os.environ.get(OWNER_FD_ENV, "")
    if text.isdigit():
        try:
            os.fstat(int(text))
            return (int(text),)
        except OSError:
            pass
    return ()


class DaemonExit(Exception):
    """Leave the main loop with this exit status."""

    def __init__(self, status):
        super().__init__(status)
        self.status = status


class NqsDaemon:
    def __init__(self, layout, site, site_spec, log):
        self.layout, self.site, self.site_spec, self.log = layout, site, site_spec, log
        self.store = None
        self.children = {}       # pid -> (job id, Popen)
        self.signalled = set()   # job ids whose qdel signal was sent
        self.signals = None      # SignalReceiver: recorded signal numbers (handlers only append)
        self.stopping = False
        self.term_sent = False
        self.netdaemon = None
        self.netdaemon_status = None
        self.selector = selectors.DefaultSelector()
        self.record = site.record_path("nqsdaemon.pid")
        self.lock_fd = None
        self.host = pidrecords.this_host()
        self.spawner = concurrent.futures.ThreadPoolExecutor(SPAWN_THREADS, thread_name_prefix="spawn")
        self.devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        self.keep_fds = owner_lock_fd()
        self.route_retry = {}    # remote destination -> monotonic time of the next attempt
        self.bound = []          # the socket files this daemon made (removed at its end)

    # ------------------------------------------------------------ start

    def start(self):
        self._lock()
        self.store = open_store(self.site.spool)
        self._end_leftover_jobs("left by a previous nqsdaemon")
        recover(self.store, self.site.spool, self._migrate_remote, self.log)
        self._bind()
        self._install_signals()
        # only now: a netdaemon left by a SIGKILLed predecessor may still hold the port for a moment
        self._spawn_netdaemon()
        self._wait_netdaemon()
        pidrecords.write_record(self.record, os.getpid())
        self.log.info("site %s serving (pid %d, spool %s)" % (self.site.name, os.getpid(), self.site.spool))

    def _lock(self):
        os.makedirs(self.site.run_dir, exist_ok=True)
        self.lock_fd = os.open(os.path.join(self.site.run_dir, "nqsdaemon.lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CjcError("another nqsdaemon already runs site %s on this node (lock %s/nqsdaemon.lock)"
                           % (self.site.name, self.site.run_dir))

    def _end_leftover_jobs(self, why):
        leftovers = site_processes(self.site.spool, jobs_only=True)
        if leftovers:
            self.log.warning("ending %d job process(es) %s: %s"
                             % (len(leftovers), why, ", ".join(str(p.pid) for p in leftovers)))
            end_processes(leftovers, grace=0)

    def _migrate_remote(self, queue, row, db):
        """Re-submit an interrupted job at a remote migration destination; returns where it went."""
        target_queue, _, machine_name = queue["migration_dest"].partition("@")
        reply = remote_call(self.site, self.store, machine_name, {
            "op": "submit", "user": row["owner"], "queue": target_queue, "name": row["name"],
            "script": bytes(row["script"]).decode("utf-8", "replace"), "restart": row["restart"],
            "env": json.loads(row["env"])}, db=db)
        return "%s@%s as request %s" % (target_queue, machine_name, reply.get("id"))

    def _bind(self):
        """The local request and wake sockets (files of this node, :mod:`..site.endpoints`)."""
        self.requests = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.wake = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        for sock, kind, mode in ((self.requests, "nqs", endpoints.PUBLIC), (self.wake, "wake", endpoints.PRIVATE)):
            path = endpoints.endpoint(self.layout, self.site.spool, kind)
            endpoints.bind(sock, self.layout, path, mode)
            self.bound.append(path)
        self.requests.listen(128)
        self.wake.setblocking(False)
        self.selector.register(self.wake, selectors.EVENT_READ, "wake")
        # Users' requests are answered by a server thread of their own (its workers with their own
        # database connections): a slow, silent or flooding client delays no one, least of all
        # dispatch and reaping.
        self.local_store = per_thread(lambda: open_store(self.site.spool))
        self.local_server = Server([self.requests], wire.FrameProtocol, self._admit_local, self._serve_local,
                                   self.log, LOCAL_LIMITS, "local-requests").serve_in_thread()

    def _install_signals(self):
        # SIGCHLD only wakes the loop, which reaps
        self.signals = SignalReceiver(self.selector, (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD))

    def _spawn_netdaemon(self):
        stale = pidrecords.live_pid(self.site.record_path("netdaemon.pid"))
        if stale:  # the child of a SIGKILLed predecessor, still holding the NQS port
            import psutil
            self.log.warning("ending netdaemon pid %s left by a previous nqsdaemon" % stale)
            try:
                end_processes([psutil.Process(stale)], grace=2.0)
            except psutil.NoSuchProcess:
                pass
        argv = daemon_command(self.layout, "netdaemon", self.site_spec)
        self.netdaemon = subprocess.Popen(argv, env=site_environment(self.site.spool), stdin=subprocess.DEVNULL)

    def _wait_netdaemon(self):
        """Until netdaemon serves (its record names it); it dying first is a start failure."""
        record = self.site.record_path("netdaemon.pid")
        while pidrecords.live_pid(record) != self.netdaemon.pid:
            self._act_on_signals()
            self._reap()
            if self.netdaemon_status is not None:
                raise CjcError("netdaemon exited during start (%s); see the site log"
                               % describe_status(self.netdaemon_status)[1])
            if self.stopping:
                raise DaemonExit(0)
            time.sleep(0.02)

    # ------------------------------------------------------------ loop

    def run(self):
        while True:
            self._act_on_signals()
            self._reap()
            if self.netdaemon_status is not None:
                self.log.error("netdaemon (pid %d) died: %s; nqsdaemon exits so that the site is stopped"
                               % (self.netdaemon.pid, describe_status(self.netdaemon_status)[1]))
                self._signal_jobs(signal.SIGTERM)
                raise DaemonExit(1)
            if self.stopping:
                if not self.term_sent:
                    self.log.info("orderly stop: SIGTERM to %d running job(s)" % len(self.children))
                    self._signal_jobs(signal.SIGTERM)
                    self.term_sent = True
                if not self.children:
                    return
            else:
                self._signal_deletes()
                self._route()
                self._dispatch()
            self._wait(TICK)

    def _act_on_signals(self):
        while self.signals.pending:
            signum = self.signals.pending.pop(0)
            if signum in (signal.SIGTERM, signal.SIGINT) and not self.stopping:
                self.stopping = True  # RUNNING -> STOPPING

    def _wait(self, timeout):
        for key, _events in self.selector.select(timeout):
            if key.data == "signal":
                self.signals.drain()
            elif key.data == "wake":
                try:
                    while self.wake.recv(64):
                        pass
                except BlockingIOError:
                    pass

    @staticmethod
    def _admit_local(sock, _peer):
        """A local client is who the kernel says it is (SO_PEERCRED), never what it sends."""
        uid = endpoints.peer_uid(sock)
        return "uid %d" % uid, Caller.of_uid(uid)

    def _serve_local(self, caller, request):
        """One request of a non-root user's qsub/qstat/qdel/qmgr (in a worker thread)."""
        reply = serve_request(self.local_store(), caller, request)
        if reply.get("ok") and request.get("op") in WRITES:
            poke(self.layout, self.site.spool)  # new work for the main loop
        return reply

    def _reap(self):
        ended = []
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if self.netdaemon is not None and pid == self.netdaemon.pid:
                self.netdaemon.returncode = os.waitstatus_to_exitcode(status)
                self.netdaemon_status = status
                continue
            entry = self.children.pop(pid, None)
            if entry is None:
                self.log.warning("reaped unknown child pid %d (%s)" % (pid, describe_status(status)[1]))
                continue
            job_id, popen = entry
            popen.returncode = os.waitstatus_to_exitcode(status)
            self.signalled.discard(job_id)
            ended.append((job_id, status))
        if ended:
            self._record_ends(ended)

    def _record_ends(self, ended):
        now = time.time()
        finished = []
        with self.store.transaction() as db:
            for job_id, status in ended:
                job = db.execute("SELECT id, runs, started, delete_reason FROM jobs WHERE id = ?",
                                 (job_id,)).fetchone()
                code, words = describe_status(status)
                if self.term_sent and not job["delete_reason"] and not (os.WIFEXITED(status) and code == 0):
                    # Interrupted by the site stop: stays RUNNING for the restart rules of the next start;
                    # its output stays in its files until then.
                    db.execute("UPDATE jobs SET pid = NULL WHERE id = ?", (job_id,))
                    add_event(db, job_id, RUNNING, "interrupted by the stop of site %s (%s)"
                              % (self.site.name, words), now)
                    continue
                state = DELETED if job["delete_reason"] else EXITED
                reason = job["delete_reason"] and "%s while running (%s)" % (job["delete_reason"], words)
                store_output(db, self.site.spool, job, code, now, words)
                db.execute("UPDATE jobs SET state = ?, ended = ?, exit_status = ?, pid = NULL, reason = ? "
                           "WHERE id = ?", (state, now, code, reason, job_id))
                add_event(db, job_id, state, reason or "ended: %s" % words, now)
                finished.append(job_id)
        remove_run_files(self.site.spool, finished)  # after the COMMIT: a crash before it loses nothing

    def _signal_jobs(self, sig):
        for pid in list(self.children):
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                pass

    def _signal_deletes(self):
        with self.store.snapshot() as db:
            rows = db.execute("SELECT id, pid, kill_signal FROM jobs WHERE state = ? AND kill_signal IS NOT NULL",
                              (RUNNING,)).fetchall()
        for row in rows:
            if row["id"] in self.signalled or row["pid"] not in self.children:
                continue
            self.signalled.add(row["id"])
            try:
                os.killpg(row["pid"], row["kill_signal"])
            except ProcessLookupError:
                pass

    def _route(self):
        """Pipe queues: hand their queued jobs to the destination (local queue or queue@machine)."""
        now = time.time()
        remote = []
        with self.store.transaction() as db:
            pipes = db.execute("SELECT q.name, q.destination, d.enabled AS dest_enabled FROM queues q "
                               "LEFT JOIN queues d ON d.name = q.destination "
                               "WHERE q.type = ? AND q.started = 1 AND EXISTS "
                               "(SELECT 1 FROM jobs j WHERE j.queue = q.name AND j.state = ?)",
                               (PIPE, QUEUED)).fetchall()
            for pipe in pipes:
                if "@" in (pipe["destination"] or ""):
                    if self.route_retry.get(pipe["destination"], 0) > time.monotonic():
                        continue  # unreachable a moment ago: do not hold the loop up again yet
                    remote += db.execute("SELECT * FROM jobs WHERE queue = ? AND state = ? ORDER BY id",
                                         (pipe["name"], QUEUED)).fetchall()
                    continue
                if not pipe["dest_enabled"]:
                    continue  # destination missing or disabled: the jobs wait in the pipe queue
                db.execute("INSERT INTO events (job_id, at, state, message) SELECT id, ?, ?, ? FROM jobs "
                           "WHERE queue = ? AND state = ?",
                           (now, QUEUED, "routed from pipe queue %s to %s" % (pipe["name"], pipe["destination"]),
                            pipe["name"], QUEUED))
                db.execute("UPDATE jobs SET queue = ? WHERE queue = ? AND state = ?",
                           (pipe["destination"], pipe["name"], QUEUED))
        for job in remote:
            if not self._route_remote(job):
                break

    def _route_remote(self, job):
        """Send one job of a pipe queue to its remote destination; False when unreachable."""
        with self.store.snapshot() as db:
            destination = db.execute("SELECT destination FROM queues WHERE name = ?", (job["queue"],)).fetchone()[0]
        queue, _, machine_name = destination.partition("@")
        try:
            reply = remote_call(self.site, self.store, machine_name, {
                "op": "submit", "user": job["owner"], "queue": queue, "name": job["name"],
                "script": bytes(job["script"]).decode("utf-8", "replace"), "restart": job["restart"],
                "env": json.loads(job["env"])})
        except CjcError as err:
            self.log.warning("request %d waits in pipe queue %s (retry in %d s): %s"
                             % (job["id"], job["queue"], ROUTE_RETRY, err))
            self.route_retry[destination] = time.monotonic() + ROUTE_RETRY
            return False
        where = "%s as request %s" % (destination, reply.get("id"))
        with self.store.transaction() as db:
            db.execute("UPDATE jobs SET state = ?, reason = ?, ended = ? WHERE id = ? AND state = ?",
                       (MIGRATED, "routed to " + where, time.time(), job["id"], QUEUED))
            add_event(db, job["id"], MIGRATED, "routed from pipe queue %s to %s" % (job["queue"], where))
        return True

    def _dispatch(self):
        now = time.time()
        with self.store.transaction() as db:
            running = dict(db.execute("SELECT queue, count(*) FROM jobs WHERE state = ? GROUP BY queue",
                                      (RUNNING,)).fetchall())
            picked = []
            for queue in db.execute("SELECT name, run_limit FROM queues WHERE type = ? AND started = 1 "
                                    "ORDER BY priority DESC, name", (BATCH,)).fetchall():
                free = min(queue["run_limit"] - running.get(queue["name"], 0), DISPATCH_BATCH - len(picked))
                if free <= 0:
                    continue
                ids = [row[0] for row in db.execute(
                    "SELECT id FROM jobs WHERE queue = ? AND state = ? ORDER BY id LIMIT ?",
                    (queue["name"], QUEUED, free))]
                for job_id in ids:
                    db.execute("UPDATE jobs SET state = ?, runs = runs + 1, started = ?, host = ?, pid = NULL, "
                               "ended = NULL, exit_status = NULL WHERE id = ? AND state = ?",
                               (RUNNING, now, self.host, job_id, QUEUED))
                picked += ids
            if not picked:
                return
            jobs = db.execute("SELECT * FROM jobs WHERE id IN (%s)" % ",".join("?" * len(picked)),
                              picked).fetchall()
        started, failed = [], []
        for job, popen in zip(jobs, self.spawner.map(self._spawn, jobs)):
            if isinstance(popen, JobStartError):
                failed.append((job, str(popen)))
                continue
            self.children[popen.pid] = (job["id"], popen)
            started.append((popen.pid, job["id"], job["runs"]))
        with self.store.transaction() as db:
            db.executemany("UPDATE jobs SET pid = ? WHERE id = ?", [(pid, job_id) for pid, job_id, _r in started])
            db.executemany("INSERT INTO events (job_id, at, state, message) VALUES (?, ?, ?, ?)",
                           [(job_id, now, RUNNING, "run %d started on %s as process group %d"
                             % (runs, self.host, pid)) for pid, job_id, runs in started])
            for job, why in failed:
                store_output(db, self.site.spool, job, None, time.time(), "not started")
                db.execute("UPDATE jobs SET state = ?, ended = ?, reason = ? WHERE id = ?",
                           (EXITED, time.time(), why, job["id"]))
                add_event(db, job["id"], EXITED, "could not start: %s" % why)
                self.log.warning("request %d could not start: %s" % (job["id"], why))
        remove_run_files(self.site.spool, [job["id"] for job, _why in failed])

    def _spawn(self, job):
        """Start one job (in a spawner thread: the fork/exec latencies of a batch overlap)."""
        try:
            return spawn_job(self.site, job, self.devnull, self.keep_fds)
        except JobStartError as err:
            return err

    # ------------------------------------------------------------ stop

    def finish(self, status):
        """Stop netdaemon, end what the jobs left behind, remove the record."""
        if status == 0:
            self._end_leftover_jobs("left behind by jobs at site stop (§2.13)")
        if self.netdaemon is not None and self.netdaemon_status is None:
            try:
                self.netdaemon.terminate()
                self.netdaemon.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.netdaemon.kill()
                self.netdaemon.wait()
            except ProcessLookupError:
                pass
        pidrecords.remove_record(self.record, os.getpid())
        for path in self.bound:
            endpoints.unlink(path)
        self.spawner.shutdown()
        if self.store is not None:
            self.store.close()


def main(argv=None):
    parser = DaemonArgs(NAME, "Queues and job execution of one site.")
    try:
        args, layout, site = parser.parse_site(argv)
    except CjcError as err:
        print("%s: %s" % (NAME, err), file=sys.stderr)
        return err.exit_status
    log = DaemonLog(layout, site.spool, NAME)
    daemon = NqsDaemon(layout, site, args.site, log)
    status = 0
    try:
        daemon.start()
        daemon.run()
        log.info("stopped in order")
    except DaemonExit as done:
        status = done.status
    except CjcError as err:
        log.error(str(err))
        print("%s: %s" % (NAME, err), file=sys.stderr)
        status = 1
    finally:
        daemon.finish(status)
    return status


if __name__ == "__main__":
    sys.exit(main())
