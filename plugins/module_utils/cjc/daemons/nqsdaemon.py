"""nqsdaemon: queues and job execution of one site (guide §2.1.4, §2.5.4).

``nqsdaemon --root ROOT --site local|DB-PATH``

Start, in this order (the pid record is written only at the end, when it serves):
  1. take the node-local lock of the site (one nqsdaemon per site and node);
  2. open the site database (upgrading its schema once when older);
  3. end job processes left by a previous incarnation (SIGKILLed daemon): every member
     of the site's jobs control group, so that no job can ever run twice at once; then
     enter that group, where every job is born (site/cgroup.py);
  4. apply the failover restart rules (:mod:`..restart`) to every job recorded RUNNING;
  5. bind the local request and wake sockets, start netdaemon (its child) and
     wait until it listens;
  6. write ``run/nqsdaemon.pid``.

Then loop: act on recorded signals, reap children, route pipe queues, dispatch
batch jobs within run limits, signal jobs asked to be deleted, purge finished
requests past the site's retention (a few short batches, :mod:`..jobs.retention`),
answer local requests; sleep until a signal, a poke or the next tick.

SIGTERM is an orderly stop (exit 0): dispatching stops, every running job's
process group gets SIGTERM, the daemon waits for them (the supervisor's deadline
bounds this) and leaves them recorded RUNNING so the restart rules apply at the
next start; then background processes the jobs left are ended (guide §2.6.3),
netdaemon is stopped and the record removed. If netdaemon dies, nqsdaemon exits 1.

A full site disk (ENOSPC, SQLITE_FULL) stops no daemon: a write the disk refuses
is recorded nowhere (its transaction rolled back), users get "site disk full"; the
records the loop owes (job ends, job starts) wait in memory, in order, and are
written as soon as the disk takes them; dispatch and routing pause until then and
until the disk has DISK_ROOM bytes free (docs/security.md "Disks that fill up or vanish").
"""

import base64
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
from ..jobs.jobstore import JobStore, RunEnd
from ..config.daemonconf import history_retention, job_output_limit
from ..jobs.retention import purge_expired
from ..jobs.spawn import JobStartError, cap_output, describe_status, read_output, remove_run_files, spawn_job
from ..net.credential import node_credentials
from ..net.peers import remote_call
from ..jobs.requests import Caller, poke, serve_request
from ..net.client import WRITES
from ..net.server import LOCAL_LIMITS, Server, per_thread
from ..site.cgroup import JOBS, SiteGroup
from ..site.ownership import open_lock_file
from ..jobs.restart import recover
from ..site.processes import end_processes
from ..jobs.store import SiteDiskFull, disk_full, open_store
from . import DaemonArgs, SignalReceiver, daemon_command, site_environment

NAME = "nqsdaemon"
TICK = 1.0
DISPATCH_BATCH = 256
SPAWN_THREADS = 4
ROUTE_RETRY = 10
LEFTOVER_GRACE = 1.0
DISK_ROOM = 4 * 1024 * 1024  # free bytes on the site disk before dispatch resumes after it was full


class DaemonExit(Exception):
    """Leave the main loop with this exit status."""

    def __init__(self, status):
        super().__init__(status)
        self.status = status


class NqsDaemon:
    def __init__(self, layout, site, site_spec, log):
        self.layout, self.site, self.site_spec, self.log = layout, site, site_spec, log
        self.credentials = node_credentials(layout)  # signs what this site sends to others
        self.store = None
        self.jobs = None         # JobStore of self.store: every job and queue change goes through it
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
        self.group = SiteGroup(site.spool)
        self.route_retry = {}    # remote destination -> monotonic time of the next attempt
        self.unwritten = []      # [(what, write)]: records the full disk refused, oldest first
        self.disk_full = None    # the SiteDiskFull of the current episode, or None
        self.output_limit = job_output_limit(site)
        self.retention = history_retention(site)  # (seconds or None: forever, export first?)
        self.export_failed = False  # the last purge could not export: logged once per episode
        self.bound = []          # the socket files this daemon made (removed at its end)

    # ------------------------------------------------------------ start

    def start(self):
        self._lock()
        self.store = open_store(self.site.spool)
        self.jobs = JobStore(self.store)
        self._end_leftover_jobs("left by a previous nqsdaemon")
        self.group.enter(JOBS)
        recover(self.store, self.site.spool, self._send_routed, self.log)
        self._bind()
        self._install_signals()
        # only now: a netdaemon left by a SIGKILLed predecessor may still hold the port for a moment
        self._spawn_netdaemon()
        self._wait_netdaemon()
        pidrecords.write_record(self.record, os.getpid())
        self.log.info("site %s serving (pid %d, spool %s)" % (self.site.name, os.getpid(), self.site.spool))

    def _lock(self):
        os.makedirs(self.site.run_dir, exist_ok=True)
        self.lock_fd = open_lock_file(os.path.join(self.site.run_dir, "nqsdaemon.lock"))  # root's: no user blocks it
        try:
            fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CjcError("another nqsdaemon already runs site %s on this node (lock %s/nqsdaemon.lock)"
                           % (self.site.name, self.site.run_dir))

    def _end_leftover_jobs(self, why):
        """End every member of the site's jobs group, then (at start) enter it: each job is
        born inside, so a job cannot run on past a stop or twice after a restart."""
        self.group.enter()  # out of the jobs group (at stop), or into the site's (started alone)
        leftovers = self.group.members(JOBS)
        if leftovers:
            self.log.warning("ending %d job process(es) %s: %s" % (len(leftovers), why, ", ".join(map(str, leftovers))))
            self.group.end(JOBS)
            left = self.group.wait_empty(5, JOBS)
            if left:
                self.log.error("job process(es) still alive: %s" % ", ".join(map(str, left)))

    def _send_routed(self, job):
        """Send a ROUTING job to its ``routed_to`` (``queue@machine``); its request number there.

        Called with no transaction open. The job goes with its key (this site's machine ID,
        which the peer knows as the sender, and its request number here): a re-send gets the
        job the first send made (docs/job-engine.md "Routing to another site").
        """
        target_queue, _, machine_name = job.routed_to.partition("@")
        reply = remote_call(self.site, self.store, machine_name, {
            "op": "submit", "queue": target_queue, "name": job.name,
            "script_base64": base64.b64encode(job.script).decode("ascii"), "restart": job.restart,
            "env": json.loads(job.env), "origin_job": job.id}, self.credentials, Caller(job.uid, job.owner))
        return reply.get("id")

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
            self._cap_outputs()
            if self.netdaemon_status is not None:
                self.log.error("netdaemon (pid %d) died: %s; nqsdaemon exits so that the site is stopped"
                               % (self.netdaemon.pid, describe_status(self.netdaemon_status)[1]))
                self._signal_jobs(signal.SIGTERM)
                raise DaemonExit(1)
            if self.stopping and not self.term_sent:
                self.log.info("orderly stop: SIGTERM to %d running job(s)" % len(self.children))
                self._signal_jobs(signal.SIGTERM)
                self.term_sent = True
            try:
                self._write_unwritten()
                if not self.stopping and self._disk_has_room():
                    self._signal_deletes()
                    self._route()
                    self._dispatch()
                    self._purge()
            except SiteDiskFull as err:
                self._disk_is_full(err, "dispatch and routing pause")
            if self.stopping and not self.children:
                return  # what the disk still refuses is logged by finish()
            self._wait(TICK)

    # ------------------------------------------------------------ a full site disk

    def _write(self, what, write):
        """Do ``write`` (a recording transaction) after every record owed before it, or owe it."""
        self.unwritten.append((what, write))
        try:
            self._write_unwritten()
        except SiteDiskFull as err:
            self._disk_is_full(err, "%s waits in memory" % what)

    def _write_unwritten(self):
        """Write the owed records, oldest first; SiteDiskFull stops at the first the disk refuses."""
        while self.unwritten:
            _what, write = self.unwritten[0]
            write()
            self.unwritten.pop(0)

    def _disk_is_full(self, err, consequence):
        if self.disk_full is None:
            self.log.error("%s; %s until the site disk has room (nqsdaemon keeps running)" % (err, consequence))
        self.disk_full = err

    def _disk_has_room(self):
        """False while the disk was full and has not DISK_ROOM bytes free again (nothing owed)."""
        if self.disk_full is None:
            return True
        if self.unwritten:
            return False
        try:
            stat = os.statvfs(self.site.spool)
        except OSError:
            return False
        if stat.f_bavail * stat.f_frsize < DISK_ROOM:
            return False
        self.log.info("site disk has room again: every record written; dispatch and routing resume")
        self.disk_full = None
        return True

    def _cap_outputs(self):
        """Bound the output files of running jobs (job_output_limit)."""
        for job_id, _popen in self.children.values():
            cap_output(self.site.spool, job_id, self.output_limit)

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
            ends = [RunEnd(job_id, *describe_status(status), during_stop=self.term_sent) for job_id, status in ended]
            self._write("the end of request(s) %s" % ", ".join(str(job_id) for job_id, _s in ended),
                        lambda: self._record_ends(ends))

    def _record_ends(self, ends):
        finished = self.jobs.record_ended(ends, self._output)
        remove_run_files(self.site.spool, finished)  # after the COMMIT: a crash before it loses nothing

    def _output(self, job_id):
        return read_output(self.site.spool, job_id, self.output_limit)

    def _signal_jobs(self, sig):
        for pid in list(self.children):
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                pass

    def _signal_deletes(self):
        for job_id, pid, sig in self.jobs.signals_to_send():
            if job_id in self.signalled or pid not in self.children:
                continue
            self.signalled.add(job_id)
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                pass

    def _route(self):
        """Pipe queues: hand their queued jobs to the destination (local queue or queue@machine)."""
        answering = {}  # queue@machine -> whether its site answered a ping in this round
        for pipe, destination in sorted(self.jobs.route_local().items()):
            for job in self.jobs.routing_jobs(pipe):
                target = job.routed_to or destination
                if self.route_retry.get(target, 0) > time.monotonic():
                    break  # unreachable a moment ago: do not hold the loop up again yet
                if target not in answering:
                    answering[target] = self._ping(target, job)
                if not answering[target] or not self._route_remote(job, destination):
                    break

    def _ping(self, target, job):
        """Whether the site of ``target`` answers: a job is marked ROUTING only when it can be
        sent, so one that waits for an unreachable site stays QUEUED all along."""
        try:
            remote_call(self.site, self.store, target.partition("@")[2], {"op": "ping"}, self.credentials,
                        Caller(job.uid, job.owner))
        except CjcError as err:
            self.log.warning("request %d waits in pipe queue %s (retry in %d s): %s"
                             % (job.id, job.queue, ROUTE_RETRY, err))
            self.route_retry[target] = time.monotonic() + ROUTE_RETRY
            return False
        return True

    def _route_remote(self, job, destination):
        """Send one job of a pipe queue to another site, exactly once; False when not taken.

        ROUTING is committed before the call and MIGRATED after it; a crash between the two
        leaves it ROUTING and the next round sends it again, to the same place, getting back
        the job the first send made.
        """
        job = self.jobs.route_out(job.id, destination)
        try:
            remote_id = self._send_routed(job)
        except CjcError as err:
            self.log.warning("request %d waits in pipe queue %s (retry in %d s): %s"
                             % (job.id, job.queue, ROUTE_RETRY, err))
            self.route_retry[job.routed_to] = time.monotonic() + ROUTE_RETRY
            self.jobs.release_route(job.id, str(err))
            return False
        where = "%s as request %s" % (job.routed_to, remote_id)
        self.jobs.confirm_routed(job.id, "routed to " + where, "routed from pipe queue %s to %s" % (job.queue, where))
        return True

    def _dispatch(self):
        claimed = self.jobs.claim_for_dispatch(self.host, DISPATCH_BATCH)
        if not claimed:
            return
        started, failed, no_room = [], [], []
        for job, popen in zip(claimed, self.spawner.map(self._spawn, claimed)):
            if isinstance(popen, SiteDiskFull):
                no_room.append((job.id, str(popen)))
            elif isinstance(popen, JobStartError):
                failed.append(RunEnd(job.id, None, str(popen)))
                self.log.warning("request %d could not start: %s" % (job.id, popen))
            else:
                self.children[popen.pid] = (job.id, popen)
                started.append((job.id, popen.pid))
        self._write("the start of request(s) %s" % ", ".join(str(job.id) for job in claimed),
                    lambda: self._record_starts(started, failed, no_room))
        if no_room:
            self._disk_is_full(SiteDiskFull(no_room[0][1]), "requests that could not start are queued again, "
                               "dispatch pauses")

    def _record_starts(self, started, failed, no_room):
        """Record the outcome of one dispatch: process groups, start failures, starts the disk refused."""
        if started:
            self.jobs.record_started(started)
        if no_room:
            self.jobs.unclaim(no_room)
        if failed or no_room:
            finished = self.jobs.record_ended(failed, self._output) if failed else []
            remove_run_files(self.site.spool, finished + [job_id for job_id, _why in no_room])

    def _purge(self):
        """Finished requests past the retention leave the database (after dispatch: never before it)."""
        try:
            purged = purge_expired(self.jobs, self.site.spool, self.retention)
        except OSError as err:  # the export file: its disk full or gone; nothing is purged unexported
            if disk_full(err):
                raise SiteDiskFull("site disk full: purged history could not be exported (%s)" % err.strerror)
            if not self.export_failed:
                self.log.error("purge of finished requests paused: history export failed: %s" % err)
            self.export_failed = True
            return
        self.export_failed = False
        if purged:
            self.log.info("purged %d finished request(s) older than the site's history_retention" % purged)

    def _spawn(self, job):
        """Start one job (in a spawner thread: the fork/exec latencies of a batch overlap)."""
        try:
            return spawn_job(self.site, job, self.devnull)
        except JobStartError as err:
            return err
        except OSError as err:  # its script or output files: the site disk
            if disk_full(err):
                return SiteDiskFull("site disk full: the files of request %d could not be written (%s)"
                                    % (job.id, err.strerror))
            return JobStartError("cannot write the files of the job: %s" % err)

    # ------------------------------------------------------------ stop

    def finish(self, status):
        """Stop netdaemon, end what the jobs left behind, remove the record."""
        if self.netdaemon is not None and self.netdaemon_status is None:
            try:
                self.netdaemon.terminate()
                self.netdaemon.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.netdaemon.kill()
                self.netdaemon.wait()
            except ProcessLookupError:
                pass
        if status == 0:  # after netdaemon: it runs in the jobs group too
            self._end_leftover_jobs("left behind by jobs at site stop (§2.6.3)")
        for what, _write in self.unwritten:
            self.log.error("site disk full at the stop: %s could not be recorded; those requests stay recorded "
                           "RUNNING and the restart rules apply to them at the next start" % what)
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
