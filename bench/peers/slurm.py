"""Stock Slurm on this machine, the peer of bench/peers/side_by_side.py: one slurmctld and one
slurmd in a network namespace of their own, munge on a private socket, everything under one
/tmp directory and ended by PID at the end.

What it installs and touches outside /tmp (the Slurm setup needs it; docs/job-engine.md "Benchmarks"): the Debian
packages slurmctld, slurmd, slurm-client and munge (apt-get, when missing), a network namespace
``cjcp-<hex>`` with its /etc/netns/<name>/hosts, both removed afterwards. The configuration is the
throughput configuration of the peer study (/work/shared/peers/slurm/README.md "Part 1"):
backfill, linuxproc tracking, no accounting, jobcomp/filetxt as the completion hook.

The daemons are started with ``nsenter --net`` (``ip netns exec`` remounts /sys and slurmd then
refuses to start without a cgroup file system), slurmctld under this host's name (it picks its
role by host name), slurmd as node ``n1`` (``-N``).
"""

import ctypes
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid

PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
CLONE_NEWNET = 0x40000000
NODE_CPUS = 64  # declared, more than the 2 real ones: many 1-CPU jobs run at once, like a run limit of 64

CONF = """\
ClusterName=cjcpeer
SlurmctldHost={host}(127.0.0.1)
SlurmUser=slurm
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={base}/munge-sock/munge.sock
StateSaveLocation={base}/state
SlurmdSpoolDir={base}/spool
SlurmctldPidFile={base}/run/slurmctld.pid
SlurmdPidFile={base}/run/slurmd.pid
SlurmctldLogFile={base}/run/slurmctld.log
SlurmdLogFile={base}/run/slurmd.log
SlurmctldDebug=error
SlurmdDebug=error
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={base}/state/jobcomp.txt
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
MailProg=/bin/true
SchedulerType=sched/backfill
SchedulerParameters=default_queue_depth=12000,partition_job_depth=0,sched_interval=10,sched_min_interval=100000,\
bf_interval=5,bf_max_job_test=12000,max_rpc_cnt=150
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
MaxJobCount=200000
MaxArraySize=100001
MinJobAge=30
KillWait=5
NodeName=n1 NodeAddr=127.0.0.1 CPUs={cpus} Sockets=1 CoresPerSocket={cpus} ThreadsPerCore=1 RealMemory=16000 \
State=UNKNOWN
PartitionName=tp Nodes=n1 Default=YES MaxTime=INFINITE State=UP
"""


def ensure_packages():
    """Install the Slurm packages when one is missing (Debian's own, stock)."""
    missing = [name for name in PACKAGES if subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", name], capture_output=True, text=True).stdout != "install ok installed"]
    if missing:
        subprocess.run(["apt-get", "install", "-y", "-q"] + missing, check=True, capture_output=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


def _setns(fd):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns")


def as_user(user, netns_fd=None):
    """A ``preexec_fn``: (enter the network namespace of ``netns_fd``, then) become ``user``, the
    whole credential (groups, gid, uid). Both peers' commands start through it, so both pay the
    same fork and credential change."""
    entry = pwd.getpwnam(user)
    groups = os.getgrouplist(user, entry.pw_gid)

    def become():
        if netns_fd is not None:
            _setns(netns_fd)
        os.setgroups(groups)
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)
    return become


class SlurmPeer:
    """``with SlurmPeer() as slurm:`` a running stock Slurm (slurmctld, slurmd, munged)."""

    def __init__(self, cpus=NODE_CPUS):
        self.cpus = cpus
        self.netns = "cjcp-" + uuid.uuid4().hex[:8]
        self.procs = []

    def __enter__(self):
        ensure_packages()
        self.base = tempfile.mkdtemp(prefix="cjc-peer-slurm-", dir="/tmp")
        os.chmod(self.base, 0o755)  # the slurm user and the job users read the configuration
        try:
            self._up()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _up(self):
        for name, mode in (("munge", 0o700), ("munge-sock", 0o755), ("state", 0o755), ("spool", 0o755),
                           ("run", 0o755), ("work", 0o1777)):
            os.mkdir(os.path.join(self.base, name), mode)
        slurm = pwd.getpwnam("slurm")
        for name in ("state", "run"):
            os.chown(os.path.join(self.base, name), slurm.pw_uid, slurm.pw_gid)
        os.chown(self.base, 0, 0)
        self.conf = os.path.join(self.base, "slurm.conf")
        with open(self.conf, "w") as handle:
            handle.write(CONF.format(host=socket.gethostname().split(".")[0], base=self.base, cpus=self.cpus))
        self.env = {"SLURM_CONF": self.conf, "PATH": "/usr/bin:/bin", "LANG": "C"}
        munge = os.path.join(self.base, "munge")
        subprocess.run(["mungekey", "-c", "-k", munge + "/munge.key", "-b", "1024"], check=True, capture_output=True)
        self._start(["munged", "-F", "-S", self.base + "/munge-sock/munge.sock", "--key-file=%s/munge.key" % munge,
                     "--pid-file=%s/munged.pid" % munge, "--seed-file=%s/munged.seed" % munge,
                     "--log-file=%s/munged.log" % munge, "--num-threads=8"], netns=False)
        self._wait(lambda: subprocess.run("munge -S %s/munge-sock/munge.sock -n | unmunge -S %s/munge-sock/munge.sock"
                                          % (self.base, self.base), shell=True, capture_output=True).returncode == 0,
                   "munged")
        from jobsite import make_netns
        # a private address besides loopback: glibc's AI_ADDRCONFIG resolves nothing without one
        make_netns(self.netns, ["10.202.77.1/32"])
        self.netns_fd = os.open("/run/netns/" + self.netns, os.O_RDONLY | os.O_CLOEXEC)
        self._start(["slurmctld", "-D", "-i", "-f", self.conf])
        self._wait(lambda: "is UP" in self.run("scontrol", "ping").stdout, "slurmctld")
        self._start(["slurmd", "-D", "-N", "n1", "-f", self.conf])
        self._wait(lambda: self.run("sinfo", "-h", "-n", "n1", "-o", "%t").stdout.strip() == "idle", "slurmd")

    def _start(self, argv, netns=True):
        prefix = ["nsenter", "--net=/run/netns/" + self.netns] if netns else []
        log = open(os.path.join(self.base, "run", os.path.basename(argv[0]) + ".out"), "w")
        self.procs.append(subprocess.Popen(prefix + argv, stdout=log, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL, env=dict(os.environ, SLURM_CONF=self.conf)))
        log.close()

    def _wait(self, ready, what, seconds=60):
        deadline = time.monotonic() + seconds
        while not ready():
            if time.monotonic() > deadline or any(proc.poll() is not None for proc in self.procs):
                logs = "".join(open(os.path.join(self.base, "run", name)).read()[-2000:]
                               for name in sorted(os.listdir(os.path.join(self.base, "run"))) if name.endswith(".out"))
                raise SystemExit("Slurm peer: %s did not come up: %s" % (what, logs))
            time.sleep(0.1)

    def run(self, *argv, user=None, check=False):
        """A Slurm client command inside the namespace (as ``user`` when given); CompletedProcess."""
        return subprocess.run(list(argv), env=self.env, capture_output=True, text=True, cwd=self.base + "/work",
                              preexec_fn=as_user(user or "root", self.netns_fd), check=check)

    def timed(self, *argv, user):
        """Seconds of one client command as ``user``; SystemExit when it fails."""
        started = time.monotonic()
        done = subprocess.run(list(argv), env=self.env, capture_output=True, cwd=self.base + "/work",
                              preexec_fn=as_user(user, self.netns_fd))
        took = time.monotonic() - started
        if done.returncode != 0:
            raise SystemExit("%s failed: %s" % (" ".join(argv), done.stderr.decode(errors="replace")))
        return took

    def completed(self):
        """Jobs ended so far (lines of the jobcomp file)."""
        try:
            with open(os.path.join(self.base, "state", "jobcomp.txt")) as handle:
                return sum(1 for _line in handle)
        except FileNotFoundError:
            return 0

    def cancel_all(self):
        self.run("scancel", "--full", "-u", "root")
        for user in {pwd.getpwuid(int(uid)).pw_name for uid in
                     self.run("squeue", "-h", "-o", "%U").stdout.split()}:
            self.run("scancel", "-u", user)
        self._wait(lambda: not self.run("squeue", "-h", "-o", "%i").stdout.strip(), "the queue to empty", 120)

    def __exit__(self, *exc):
        from jobsite import remove_netns
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        remove_netns(self.netns)  # slurmstepd and jobs left in it, by PID
        if getattr(self, "netns_fd", None) is not None:
            os.close(self.netns_fd)
        shutil.rmtree(self.base, ignore_errors=True)
