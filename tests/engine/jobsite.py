"""Helpers for the job-engine tests: a node root others can read, test users, a running site.

Roots live in a world-traversable directory under /tmp (pytest's tmp_path is 0700,
and job users must reach the job script and the engine). Every process a helper
starts is ended by pid when the test ends.

Also the one place of the test support shared with the standalone scripts
(bench/, tests/reliability/, tests/failover/): polling to a deadline, a free port,
network namespaces. Those put ``plugins/module_utils`` and this directory on
``sys.path`` and import from here.
"""

import fcntl
import grp
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from cjc.site import pidrecords as runstate
from cjc.plan.install import install_engine
from cjc.config.layout import Layout
from cjc.site.cgroup import SiteGroup
from cjc.site.processes import end_processes, site_processes
from cjc.site.registry import local_site

USERS = {"cjct1": 23001, "cjct2": 23002}
GROUP, GID = "cjctgrp", 23100  # a supplementary group of cjct1
USER_PYTHON = "/usr/bin/python3"
#: the cluster key every test node gets (net/credential.py): the same on all nodes, as the engine role makes it
CLUSTER_KEY = "cjc-test-cluster-key-0123456789abcdef0123456789abcdef"


def wait_until(predicate, seconds, what, interval=0.02, error=AssertionError):
    """Call ``predicate`` every ``interval`` s until it returns a true value, and return that.

    Raises ``error`` naming ``what`` when ``seconds`` have passed (monotonic clock).
    """
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise error("timed out after %.1f s waiting for %s" % (seconds, what))
        time.sleep(interval)


def free_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def make_netns(name, addresses=(), hosts="127.0.0.1 localhost\n"):
    """Make network namespace ``name``: loopback up, ``addresses`` (``"10.192.18.10/24"``) on
    one end of a veth pair inside it (this kernel has no ``dummy`` module), ``hosts`` as its
    /etc/hosts (``/etc/netns/<name>/hosts``). Raises CalledProcessError; on any error what was
    made is removed. Undo with :func:`remove_netns`.
    """
    try:
        _ip("netns", "add", name)
        _ip("-n", name, "link", "set", "lo", "up")
        if addresses:
            _ip("link", "add", "site0", "netns", name, "type", "veth", "peer", "name", "peer0", "netns", name)
            for address in addresses:
                _ip("-n", name, "addr", "add", address, "dev", "site0")
            for dev in ("site0", "peer0"):
                _ip("-n", name, "link", "set", dev, "up")
        os.makedirs("/etc/netns/" + name, exist_ok=True)
        with open("/etc/netns/%s/hosts" % name, "w") as handle:
            handle.write(hosts)
    except BaseException:
        remove_netns(name)
        raise
    return name


def remove_netns(name):
    """SIGKILL every process in network namespace ``name``, then delete it and its /etc/netns
    directory. A namespace that is (partly) gone already is fine."""
    pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    shutil.rmtree("/etc/netns/" + name, ignore_errors=True)


def _ip(*args):
    subprocess.run(["ip"] + list(args), check=True, capture_output=True)


USERS_LOCK = "/tmp/cjct-users.lock"
_users_lock = None  # open while this process uses the test users (a shared flock on USERS_LOCK)


def make_users():
    """Create the test users with fixed UIDs (and cjct1's supplementary group) if missing.

    Two test runs on one machine share them: creation happens under an exclusive lock,
    then each run holds a shared lock until remove_users(), and only the last run out
    deletes them.
    """
    global _users_lock
    if _users_lock is None:
        _users_lock = open(USERS_LOCK, "a")
    fcntl.flock(_users_lock, fcntl.LOCK_SH)
    if _users_as_wanted():
        return
    fcntl.flock(_users_lock, fcntl.LOCK_EX)  # not atomic: the shared lock is dropped first
    try:
        if not _users_as_wanted():
            _delete_users()
            subprocess.run(["groupadd", "-g", str(GID), GROUP], check=True, capture_output=True)
            for name, uid in USERS.items():
                argv = ["useradd", "-u", str(uid), "-U", "-m", "-d", "/tmp/cjct-home-%s" % name, "-s", "/bin/sh",
                        name]
                if name == "cjct1":
                    argv[1:1] = ["-G", GROUP]
                subprocess.run(argv, check=True, capture_output=True)
    finally:
        fcntl.flock(_users_lock, fcntl.LOCK_SH)


def remove_users():
    """Delete the test users unless another test run still uses them."""
    global _users_lock
    if _users_lock is None:
        return
    try:
        fcntl.flock(_users_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        _delete_users()
    except BlockingIOError:
        pass  # another run holds them
    finally:
        _users_lock.close()
        _users_lock = None


def _users_as_wanted():
    try:
        return (all(pwd.getpwnam(name).pw_uid == uid for name, uid in USERS.items())
                and grp.getgrnam(GROUP).gr_gid == GID and "cjct1" in grp.getgrnam(GROUP).gr_mem)
    except KeyError:
        return False


def _delete_users():
    for name in USERS:
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        subprocess.run(["userdel", "-r", name], capture_output=True)
    try:
        grp.getgrnam(GROUP)
        subprocess.run(["groupdel", GROUP], capture_output=True)
    except KeyError:
        pass


def make_root(machine_id=100):
    root = tempfile.mkdtemp(prefix="cjc-jobs-", dir="/tmp")
    os.chmod(root, 0o755)
    layout = Layout(root)
    install_engine(layout, sys.executable, machine_id)
    write_cluster_key(layout)
    return layout


def write_cluster_key(layout, *keys):
    """Provision the node's cluster key file (root, 0400) with ``keys`` (default: CLUSTER_KEY), first signs."""
    path = layout.cluster_key
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o400)
    with os.fdopen(fd, "w") as handle:
        handle.write("".join(key + "\n" for key in (keys or (CLUSTER_KEY,))))
    os.replace(tmp, path)


class Node:
    """One node root with its local site; start/stop its daemons, run its commands."""

    def __init__(self, layout, address="127.0.0.1", port=None, site_spec="local", spool=None, ns=None):
        self.layout = layout
        self.site_spec = site_spec
        self.ns = ns
        self.spool = spool or layout.spool
        self.procs = []
        if site_spec == "local":
            self.port = port or free_port()
            with open(layout.local_daemon_conf, "w") as handle:
                handle.write("ipaddress=%s\nnqs_port=%d\n" % (address, self.port))
        self.env = {"CJC_ROOT": layout.root, "PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C"}

    @property
    def site(self):
        return local_site(self.layout)

    def _prefix(self):
        return ["ip", "netns", "exec", self.ns] if self.ns else []

    def start_daemon(self, name, *extra, wait=True):
        argv = self._prefix() + [sys.executable, self.layout.path("/usr/lib/nqs/" + name), "--root",
                                 self.layout.root, "--site", self.site_spec] + list(extra)
        proc = subprocess.Popen(argv, env=dict(self.env, CJC_SITE_SPOOL=self.spool), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        self.procs.append(proc)
        if wait:
            record = os.path.join(self.spool, "run", name + ".pid")
            wait_until(lambda: self.record_pid(name) or proc.poll() is not None, 20, name + " to serve")
            assert proc.poll() is None, proc.communicate()
            assert runstate.live_pid(record)
        return proc

    def record_pid(self, name):
        return runstate.live_pid(os.path.join(self.spool, "run", name + ".pid"))

    def start(self):
        return self.start_daemon("nqsdaemon")

    def stop(self, proc, timeout=20):
        """SIGTERM to a daemon we started; its exit status."""
        proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout)

    def kill9(self, name):
        pid = self.record_pid(name)
        os.kill(pid, signal.SIGKILL)
        return pid

    def cleanup(self):
        """SIGKILL our daemons, then every process still marked with this site's spool (jobs)."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for stream in (proc.stdout, proc.stderr):
                if stream:
                    stream.close()
        end_processes(site_processes(self.spool), grace=0)
        for node in SiteGroup(self.spool).nodes():  # the site's empty control groups
            SiteGroup(self.spool, node).remove()

    def run(self, documented, *args, user=None, env=None, stdin=None, timeout=30):
        """Run an installed command (as ``user``, a name, when given); CompletedProcess."""
        kwargs = {}
        if user:
            entry = pwd.getpwnam(user)
            kwargs = {"user": entry.pw_uid, "group": entry.pw_gid,
                      "extra_groups": os.getgrouplist(user, entry.pw_gid)}
        # Users cannot reach the venv's interpreter (under /root); the commands need only the stdlib.
        python = USER_PYTHON if user else sys.executable
        argv = self._prefix() + [python, self.layout.path(documented)] + [str(a) for a in args]
        return subprocess.run(argv, env=dict(self.env, **(env or {})), input=stdin, capture_output=True,
                              text=True, timeout=timeout, **kwargs)

    def qsub(self, script, *args, user=None, env=None):
        done = self.run("/usr/bin/qsub", *args, user=user, env=env, stdin=script)
        assert done.returncode == 0, done.stderr
        return int(done.stdout.split()[1].split(".")[0])

    def qmgr(self, *lines, user=None):
        args = []
        for line in lines:
            args += ["-c", line]
        return self.run("/usr/bin/qmgr", *args, user=user)

    def tracker(self, job_id):
        from cjc.jobs.requests import job_tracker
        from cjc.jobs.store import open_store
        with open_store(self.spool) as store:
            return job_tracker(store, job_id)

    def job(self, job_id):
        return self.tracker(job_id)["job"]

    def wait_state(self, job_id, states, seconds=20):
        states = (states,) if isinstance(states, str) else states
        return wait_until(lambda: self.job(job_id)["state"] in states and self.job(job_id),
                          seconds, "request %d to be %s" % (job_id, "/".join(states)))

    def queues(self):
        from cjc.jobs.requests import queue_status
        from cjc.jobs.store import open_store
        with open_store(self.spool) as store:
            return {q.name: q for q in queue_status(store)}


def job_pgids(node, job_ids):
    return [node.job(job_id)["pid"] for job_id in job_ids]


def read_json(path):
    with open(path) as handle:
        return json.load(handle)


def remove_root(layout):
    shutil.rmtree(layout.root, ignore_errors=True)
