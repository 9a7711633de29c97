"""Attacks on the site's processes and its ownership lock by a real unprivileged user.

A cluster site made with cjcmksite and owned by a real cjcpw in a network namespace
(a node); jobs submitted by the test user cjct1 (useradd, tests/engine/jobsite.py).
What must hold (docs/security.md, "Site processes and the ownership lock"):

* no job holds a descriptor of the lock or of any site file, and no user can open
  the lock file: a job cannot release, take or block the lock;
* a stop ends every process of the site's control group -- also one that left the
  job's session with an empty environment, and one forking as fast as it can -- and
  reports success only once they are gone (one it cannot end: exit 1, naming it);
* an orphan of an owner killed with all its daemons keeps a second owner out (on this
  node and on another node sharing the disk) until a stop has ended it;
* a user process that calls itself nqsdaemon and carries ``CJC_SITE_SPOOL`` neither
  makes the site look running (cjcls, the OCF probe) nor is ended by its stop.
"""

import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import pytest

from cjc.site import pidrecords
from cjc.site.cgroup import FREEZER, JOBS, SiteGroup, find_mounts
from cjc.site.ownership import is_owned
from cjc.site.registry import cluster_site

from jobsite import USERS, make_netns, make_root, remove_netns, remove_root, wait_until

pytestmark = [pytest.mark.netns, pytest.mark.root]

SITE = "testsite.example.com"
ADDRESS = "10.192.18.10"
HOSTS = "127.0.0.1 localhost\n%s %s testsite\n" % (ADDRESS, SITE)
CJCPW = "/usr/lib/nqs/cluster/cjcpw"
USER = "cjct1"


class Node:
    """One node (network namespace) of the site; every node shares the layout and the disk."""

    def __init__(self, rig, name):
        self.rig, self.ns = rig, make_netns(name, ["%s/24" % ADDRESS], HOSTS)

    def run(self, argv, user=None, env=None, timeout=60, **kwargs):
        prefix = ["ip", "netns", "exec", self.ns]
        if user:
            entry = pwd.getpwnam(user)
            prefix += ["setpriv", "--reuid", str(entry.pw_uid), "--regid", str(entry.pw_gid), "--init-groups"]
        return subprocess.run(prefix + list(argv), env=dict(self.rig.env, **(env or {})), capture_output=True,
                              text=True, timeout=timeout, **kwargs)

    def cjcpw(self, *args):
        return self.run([self.rig.layout.path(CJCPW)] + list(args))

    def qsub(self, script):
        done = self.run(["/usr/bin/python3", self.rig.layout.path("/usr/bin/qsub")], user=USER,
                        env={"NQS_SITE": SITE}, input=script)
        assert done.returncode == 0, done.stderr
        return int(done.stdout.split()[1].split(".")[0])

    def pids(self):
        """The site's processes as this node sees them."""
        probe = ("import json, sys; sys.path.insert(0, %r); from cjc.site.processes import site_pids; "
                 "print(json.dumps(site_pids(%r)))" % (self.rig.engine, self.rig.site.spool))
        return json.loads(self.run(["/usr/bin/python3", "-c", probe], check=True).stdout)


class Rig:
    def __init__(self):
        tag = uuid.uuid4().hex[:6]
        self.layout = make_root()
        self.db = tempfile.mkdtemp(prefix="cjc-attack-db-", dir="/tmp")
        os.chmod(self.db, 0o755)
        self.scratch = tempfile.mkdtemp(prefix="cjc-attack-", dir="/tmp")
        os.chmod(self.scratch, 0o777)
        self.env = {"CJC_ROOT": self.layout.root, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}
        self.engine = os.path.dirname(os.path.dirname(os.path.abspath(__import__("cjc").__file__)))
        self.nodes = []
        self.node1 = self.node("cjcat1-" + tag)
        made = self.node1.run([self.layout.path("/usr/lib/nqs/cluster/cjcmksite"), SITE, "200", self.db])
        assert made.returncode == 0, made.stderr

    def node(self, name):
        node = Node(self, name)
        self.nodes.append(node)
        return node

    @property
    def site(self):
        return cluster_site(self.db, address=ADDRESS)

    def start(self, node=None):
        done = (node or self.node1).cjcpw("-c", SITE, self.db)
        assert done.returncode == 0, done.stderr
        return pidrecords.read_record(os.path.join(self.site.run_dir, "owner.pid"))["pid"]

    def job_pids(self, seconds=15):
        """Pids of the job processes (the test user's members of the jobs group), once a job wrote ``started``."""
        wait_until(lambda: os.path.exists(os.path.join(self.scratch, "started")), seconds, "the job to start")
        members = SiteGroup(self.site.spool, self.node_key(self.node1)).members(JOBS)
        return [pid for pid in members if os.stat("/proc/%d" % pid).st_uid == USERS[USER]]

    def node_key(self, node):
        return "net%d" % os.stat("/run/netns/" + node.ns).st_ino

    def cleanup(self):
        groups = [SiteGroup(self.site.spool, self.node_key(node)) for node in self.nodes]
        for node in self.nodes:
            remove_netns(node.ns)  # SIGKILLs everything in it: daemons, jobs, keeper
        for group in groups:
            group.wait_empty(5)
            group.remove()
        shutil.rmtree(self.db, ignore_errors=True)
        shutil.rmtree(self.scratch, ignore_errors=True)
        remove_root(self.layout)


@pytest.fixture
def rig(users):
    rig = Rig()
    yield rig
    rig.cleanup()


def alive(pid):
    return pidrecords.pid_exists(pid)


def read_pid(path, seconds=15):
    wait_until(lambda: os.path.exists(path) and open(path).read().strip(), seconds, path)
    return int(open(path).read().strip())


# ------------------------------------------------------------------ the lock

_LOCK_ATTACK = r'''
import fcntl, json, os, struct
report = {"fds": sorted(int(n) for n in os.listdir("/proc/self/fd")), "by_path": {}, "fd_results": {}}
flock = lambda kind: struct.pack("hhqqi", kind, 0, 0, 0, 0).ljust(40, b"\0")
for fd in range(0, 256):
    for name, kind in (("unlock", fcntl.F_UNLCK), ("lock", fcntl.F_WRLCK), ("rdlock", fcntl.F_RDLCK)):
        try:
            fcntl.fcntl(fd, fcntl.F_OFD_SETLK, flock(kind))
            report["fd_results"][str(fd) + " " + name] = "done"
        except OSError:
            pass
for path in ("%(run)s/owner.lock", "%(run)s/nqsdaemon.lock"):
    for mode in (os.O_RDONLY, os.O_RDWR):
        try:
            fd = os.open(path, mode)
            report["by_path"][path] = "opened"
            fcntl.fcntl(fd, fcntl.F_OFD_SETLK, flock(fcntl.F_UNLCK))
            fcntl.fcntl(fd, fcntl.F_OFD_SETLK, flock(fcntl.F_RDLCK))
            report["by_path"][path] = "locked"
        except OSError as err:
            report["by_path"].setdefault(path, err.errno)
open("%(scratch)s/report.json", "w").write(json.dumps(report))
open("%(scratch)s/started", "w").close()
import time; time.sleep(300)
'''


def test_a_job_holds_no_site_descriptor_and_cannot_reach_the_lock(rig):
    rig.start()
    site = rig.site
    job = rig.node1.qsub("/usr/bin/python3 - <<'EOF'\n%s\nEOF\n" % (_LOCK_ATTACK % {
        "run": site.run_dir, "scratch": rig.scratch}))
    pids = rig.job_pids()
    assert pids, "the job's processes are members of the site's jobs group"
    report = json.load(open(os.path.join(rig.scratch, "report.json")))
    # by path: the lock files are root's, 0600
    assert report["by_path"] == {os.path.join(site.run_dir, "owner.lock"): 13,
                                 os.path.join(site.run_dir, "nqsdaemon.lock"): 13}
    for name in ("owner.lock", "nqsdaemon.lock"):
        assert os.stat(os.path.join(site.run_dir, name)).st_mode & 0o777 == 0o600
    # every descriptor of every job process: /dev/null, its own output files, its script, pipes of its own
    spool = os.path.realpath(site.spool)
    own = ("/dev/null", os.path.join(spool, "output", "%d.o" % job), os.path.join(spool, "output", "%d.e" % job),
           os.path.join(spool, "private", "scripts", "%d.sh" % job))
    for pid in pids:
        for name in os.listdir("/proc/%d/fd" % pid):
            target = os.readlink("/proc/%d/fd/%s" % (pid, name))
            assert target in own or target.startswith("pipe:"), (pid, name, target)
    # the attack changed nothing: the lock is held, a second owner is refused
    assert is_owned(site)
    refused = rig.node1.cjcpw("-c", SITE, rig.db)
    assert refused.returncode == 5, refused.stderr
    second = rig.node("cjcat2-" + uuid.uuid4().hex[:6])
    assert second.cjcpw("-c", SITE, rig.db).returncode == 5
    assert rig.node1.cjcpw("-stop", SITE).returncode == 0


# ------------------------------------------------------------------ stop ends everything

def test_a_process_that_left_the_job_with_an_empty_environment_is_ended_before_stop_succeeds(rig):
    rig.start()
    pidfile = os.path.join(rig.scratch, "escaped.pid")
    rig.node1.qsub("setsid env -i /bin/sh -c 'trap \"\" TERM; sleep 1000 & echo $! > %s' </dev/null >/dev/null 2>&1\n"
                   "touch %s/started\nsleep 600\n" % (pidfile, rig.scratch))
    escaped = read_pid(pidfile)
    with open("/proc/%d/environ" % escaped, "rb") as handle:
        assert b"CJC_SITE_SPOOL" not in handle.read()
    assert os.getsid(escaped) != os.getsid(rig.job_pids()[0])
    assert escaped in rig.node1.pids()
    stopped = rig.node1.cjcpw("-stop", SITE)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert not alive(escaped)
    assert rig.node1.pids() == []
    assert not is_owned(rig.site)


def test_a_job_forking_as_fast_as_it_can_is_ended_by_the_stop(rig):
    rig.start()
    sleeper = os.path.join(rig.scratch, "sleep-" + uuid.uuid4().hex[:8])
    shutil.copy("/bin/sleep", sleeper)
    os.chmod(sleeper, 0o755)
    rig.node1.qsub("touch %s/started\ni=0\nwhile [ $i -lt 5000 ]; do (%s 120 &); i=$((i+1)); done\nsleep 600\n"
                   % (rig.scratch, sleeper))
    rig.job_pids()
    wait_until(lambda: len(_running(sleeper)) > 50, 20, "the job to fork")
    started = time.monotonic()
    stopped = rig.node1.cjcpw("-stop", SITE)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert _running(sleeper) == []
    assert rig.node1.pids() == []
    assert time.monotonic() - started < 30


def _running(executable):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink("/proc/%s/exe" % entry) == executable and alive(int(entry)):
                    found.append(int(entry))
            except OSError:
                pass
    return found


# ------------------------------------------------------------------ orphans block a takeover

def test_an_orphan_of_a_killed_owner_blocks_a_second_owner_here_and_elsewhere_until_it_is_ended(rig):
    owner = rig.start()
    pidfile = os.path.join(rig.scratch, "orphan.pid")
    rig.node1.qsub("setsid env -i /bin/sh -c 'sleep 1000 & echo $! > %s' </dev/null >/dev/null 2>&1\n"
                   "touch %s/started\nsleep 600\n" % (pidfile, rig.scratch))
    orphan = read_pid(pidfile)
    site = rig.site
    daemons = [pidrecords.live_pid(site.record_path(n)) for n in
               ("nqsdaemon.pid", "netdaemon.pid", "logdaemon.pid", "comagent.pid")]
    for pid in daemons + [owner]:
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not any(alive(p) for p in daemons + [owner]), 5, "the kills")
    time.sleep(0.5)
    assert alive(orphan)
    refused = rig.node1.cjcpw("-c", SITE, rig.db)
    assert refused.returncode == 5
    assert "still held by processes its last owner (cjcpw pid %d, now gone)" % owner in refused.stderr
    assert str(orphan) in refused.stderr
    other = rig.node("cjcat2-" + uuid.uuid4().hex[:6])
    assert other.cjcpw("-c", SITE, rig.db).returncode == 5  # the keeper holds the lock for the orphan
    assert is_owned(site)
    stopped = rig.node1.cjcpw("-stop", SITE)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert not alive(orphan)
    assert not is_owned(site)
    taken = other.cjcpw("-c", SITE, rig.db)
    assert taken.returncode == 0, taken.stderr
    assert other.cjcpw("-stop", SITE).returncode == 0


# ------------------------------------------------------------------ impostors

def test_a_user_process_posing_as_the_site_is_neither_seen_running_nor_ended(rig):
    spool = rig.site.spool
    impostor = subprocess.Popen(
        ["ip", "netns", "exec", rig.node1.ns, "setpriv", "--reuid", str(USERS[USER]), "--regid", str(USERS[USER]),
         "--init-groups", "env", "CJC_SITE_SPOOL=%s" % spool, "QSUB_REQID=1.%s" % SITE,
         "/bin/bash", "-c", "exec -a nqsdaemon /bin/sleep 600"], start_new_session=True)
    try:
        wait_until(lambda: _argv0(impostor.pid) == "nqsdaemon", 10, "the impostor to run")
        assert rig.node1.pids() == []
        listing = rig.node1.run([rig.layout.path("/usr/lib/nqs/cluster/cjcls")]).stdout.splitlines()
        assert listing[3].split()[1:] == ["SHUT", rig.db, "OFF"]
        probe = rig.node1.run([rig.layout.path("/usr/lib/ocf/resource.d/cjc/cjcsite"), "monitor"], env={
            "OCF_RESKEY_site": SITE, "OCF_RESKEY_db_path": rig.db, "OCF_RESKEY_root": rig.layout.root,
            "OCF_RESKEY_CRM_meta_interval": "0"})
        assert probe.returncode == 7, probe.stderr
        rig.start()
        assert impostor.pid not in rig.node1.pids()
        assert rig.node1.cjcpw("-stop", SITE).returncode == 0
        assert impostor.poll() is None, "the stop ended a process that is not the site's"
    finally:
        impostor.kill()
        impostor.wait()


def _argv0(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            return handle.read().split(b"\0")[0].decode()
    except OSError:
        return None


@pytest.mark.slow
def test_a_process_the_stop_cannot_end_makes_it_fail_naming_it_and_keeps_the_lock(rig):
    """A job frozen in a cgroup v1 freezer group of the test's own (SIGKILL stays pending
    until it thaws): the stop runs out of STOP_TIMEOUT, exits 1 naming the pid, and the
    site's lock stays held until the process is really gone."""
    with open("/proc/self/mountinfo") as handle:
        point = find_mounts(handle.read()).get(FREEZER)
    if not point:
        pytest.skip("no cgroup v1 freezer mounted here")
    with open(os.path.join(rig.db, "etc", "site.conf"), "w") as handle:
        handle.write("STOP_TIMEOUT=30\nFORCEKILL_TIME=29\n")
    rig.start()
    rig.node1.qsub("touch %s/started\nsleep 600\n" % rig.scratch)
    job = rig.job_pids()[0]
    jail = os.path.join(point, "cjctest-" + uuid.uuid4().hex[:8])
    os.mkdir(jail)
    try:
        with open(os.path.join(jail, "cgroup.procs"), "w") as handle:
            handle.write(str(job))
        with open(os.path.join(jail, "freezer.state"), "w") as handle:
            handle.write("FROZEN")
        stopped = rig.node1.cjcpw("-stop", SITE)
        assert stopped.returncode == 1, stopped.stdout + stopped.stderr
        assert "still running after STOP_TIMEOUT: %d" % job in stopped.stderr + stopped.stdout
        assert alive(job) and is_owned(rig.site)
    finally:
        with open(os.path.join(jail, "freezer.state"), "w") as handle:
            handle.write("THAWED")
        wait_until(lambda: not alive(job), 10, "the thawed job to die of its pending SIGKILL")
        os.rmdir(jail)
    wait_until(lambda: not is_owned(rig.site), 10, "the keeper to let the lock go")
