"""The site's ownership lock: at most one live owner of a site DB, whichever node asks.

Mechanism: the owner (a ``cjcpw`` process) takes an exclusive open-file-description
lock (Linux ``F_OFD_SETLK``) on ``<spool>/run/owner.lock`` on the site's own disk
and writes who it is (host, pid, since) to ``run/owner.pid``. A second ``cjcpw`` -- on
this node or on another node that shares the disk -- fails to take it at once
(non-blocking) and names the owner.

*Out of every job's reach.* The lock file is root's and mode 0600 (set again at each
take): no user can open it to take, block or release the lock. (``run/`` itself stays
readable: users' commands read the pid records there.) No daemon and no job
inherits a descriptor of it (a job holding one could release the lock with
``F_UNLCK`` on it, or pass it on).

*An orphaned job blocks a takeover until it is gone* (a job must never run twice at
once). The owner forks a tiny **keeper** (``cjcpw-keeper``) before it enters the site's
control group (:mod:`.cgroup`): it holds the locked descriptor outside the group, out
of reach of the stop's kill, waits until the owner has exited and then until the
site's group on this node is empty -- daemons, jobs and whatever the jobs left, even
after a SIGKILL of the owner and every daemon -- removes the empty groups and exits,
which drops the lock. So another node is refused while anything of the site lives
here; on this node a new owner is also refused while the group has a member. When
the node dies, the kernel (or the NFS lock manager) drops the lock with the keeper.

Covers: local file systems and the same disk seen from several mount namespaces,
NFSv4 (locks are leases: after a node crash the lock frees when the lease expires,
90 s by default), and cluster file systems with cluster-wide POSIX locks (GFS2,
OCFS2 via DLM). Does **not** cover: file systems without coherent locks (NFSv3
without lockd, a DRBD mirror mounted on both sides in split brain, two copies of
a "shared" disk). Against those, and against a hung owner that still holds the
lock, only fencing (STONITH/SBD) protects the data: fencing remains the cluster's job.
"""

import errno
import fcntl
import os
import struct

import signal
import time

from . import pidrecords
from .cgroup import SiteGroup
from ..errors import SiteError

LOCK_FILE = "owner.lock"
OWNER_RECORD = "owner.pid"
KEEPER_NAME = b"cjcpw-keeper"
KEEPER_GRACE = 2.0  # seconds a new owner here waits for the keeper of an emptied group to let go


class OwnedElsewhereError(SiteError):
    """The site already has a live owner (exit status 5: refuse, never double-run)."""

    exit_status = 5


def describe_owner(record):
    if not record:
        return "an unknown process (no owner record)"
    return "cjcpw pid %s on host %s since %s" % (record.get("pid"), record.get("host"), record.get("since"))


_FLOCK = "hhqqi"  # struct flock: l_type, l_whence, l_start, l_len, l_pid (native alignment)


def _flock(lock_type):
    size = struct.calcsize(_FLOCK) + 8
    return struct.pack(_FLOCK, lock_type, os.SEEK_SET, 0, 0, 0).ljust(size, b"\0")


def open_lock_file(path):
    """Open (creating) a lock file that only root may open: mode 0600, whatever it was."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)
    return fd


class Ownership:
    """Take and hold the ownership lock of one site (and its keeper)."""

    def __init__(self, site):
        self.site = site
        self.lock_path = os.path.join(site.run_dir, LOCK_FILE)
        self.record_path = os.path.join(site.run_dir, OWNER_RECORD)
        self.group = SiteGroup(site.spool)
        self.fd = None
        self.owner_alive_w = None  # its end closes when the owner exits: the keeper then waits for the group

    def acquire(self, **details):
        """Take the lock or raise OwnedElsewhereError naming the owner; start the keeper, enter
        the site's group on this node and write our record."""
        os.makedirs(self.site.run_dir, exist_ok=True)
        owner = self.current_owner()
        alive_here = pidrecords.record_is_alive(owner)
        leftovers = [] if alive_here else self.group.members()
        if leftovers:
            raise self._held_here(owner, leftovers)
        fd = open_lock_file(self.lock_path)
        # an owner here that is gone (or released cleanly) leaves its keeper a moment to let go
        grace = KEEPER_GRACE if not alive_here and (owner is None or owner.get("host") == pidrecords.this_host()) else 0
        deadline = time.monotonic() + grace
        while not _try_lock(fd):
            if time.monotonic() < deadline:
                time.sleep(0.02)
                continue
            os.close(fd)
            owner = self.current_owner()
            if owner and owner.get("host") == pidrecords.this_host() and not pidrecords.record_is_alive(owner):
                raise self._held_here(owner, self.group.members())
            raise OwnedElsewhereError(
                "site %s (%s) is already owned by %s; refusing to start a second owner (split brain). "
                "Stop it there first (cjcpw -stop %s), or fence that node if it is unreachable"
                % (self.site.name, self.site.db_path, describe_owner(owner), self.site.name))
        self.fd = fd
        self._start_keeper()
        self.group.enter()  # after the fork: the keeper stays outside, every daemon and job is born inside
        self.update(**details)

    def _held_here(self, owner, pids):
        return OwnedElsewhereError(
            "site %s (%s) is still held by processes its last owner (cjcpw pid %s, now gone) started "
            "on this node%s: end them with cjcpw -stop %s first" % (
                self.site.name, self.site.db_path, (owner or {}).get("pid"),
                " (pids %s)" % " ".join(map(str, pids)) if pids else "", self.site.name))

    def _start_keeper(self):
        """Fork the keeper: it holds the lock until the owner is gone and the site's group is empty."""
        owner_alive_r, self.owner_alive_w = os.pipe2(os.O_CLOEXEC)
        if os.fork() == 0:
            status = 1
            try:
                keep_lock(self.fd, owner_alive_r, self.group)
                status = 0
            finally:
                os._exit(status)
        os.close(owner_alive_r)

    def update(self, **details):
        """Rewrite our owner record (mode, daemon state, ...)."""
        pidrecords.write_record(self.record_path, os.getpid(), **details)

    def current_owner(self):
        """The owner record as written (it may be stale: only the lock tells liveness)."""
        return pidrecords.read_record(self.record_path)

    def release(self):
        """Drop our hold: the keeper lets the lock go once nothing of the site is left here."""
        if self.fd is not None:
            pidrecords.remove_record(self.record_path, os.getpid())
            os.close(self.fd)
            os.close(self.owner_alive_w)
            self.fd = self.owner_alive_w = None


def _try_lock(fd):
    try:
        fcntl.fcntl(fd, fcntl.F_OFD_SETLK, _flock(fcntl.F_WRLCK))
        return True
    except OSError as err:
        if err.errno not in (errno.EACCES, errno.EAGAIN):
            raise
        return False


def keep_lock(fd, owner_alive_r, group):
    """The keeper's life (a forked child of the owner, outside the site's group): hold ``fd``
    until ``owner_alive_r`` reads end-of-file (the owner exited), then until ``group`` is
    empty; remove the empty groups and return (the lock goes with this process).

    Signals that end a session or a terminal are ignored: only SIGKILL (root's, or a node
    crash) ends it early, and then the lock goes as it would with a crashed node.
    """
    os.setsid()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(signum, signal.SIG_IGN)
    signal.set_wakeup_fd(-1)
    import ctypes
    ctypes.CDLL(None).prctl(15, KEEPER_NAME, 0, 0, 0)  # PR_SET_NAME: what ps shows
    null = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(null, target)
    for name in os.listdir("/proc/self/fd"):
        if int(name) > 2 and int(name) not in (fd, owner_alive_r):
            try:
                os.close(int(name))
            except OSError:
                pass
    while os.read(owner_alive_r, 64):
        pass
    group.wait_unpopulated()
    group.remove()


def is_owned(site):
    """True while some process (anywhere sharing the disk) holds the site's lock.

    Asks with F_OFD_GETLK, so it never takes the lock (a probe must not make a
    starting owner fail); correct inside the owner process too. Root only (the lock
    file is root's, 0600).
    """
    path = os.path.join(site.run_dir, LOCK_FILE)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    except PermissionError:
        raise SiteError("cannot read the ownership lock of site %s (%s): only root may" % (site.name, path))
    try:
        answer = fcntl.fcntl(fd, fcntl.F_OFD_GETLK, _flock(fcntl.F_WRLCK))
    finally:
        os.close(fd)
    return struct.unpack(_FLOCK, answer[:struct.calcsize(_FLOCK)])[0] != fcntl.F_UNLCK


def wait_released(site, seconds):
    """Wait up to ``seconds`` until nothing holds the site's lock; True when free."""
    deadline = time.monotonic() + seconds
    while is_owned(site):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True
