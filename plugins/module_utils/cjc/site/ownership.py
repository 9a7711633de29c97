"""The site's ownership lock: at most one live owner of a site DB, whichever node asks.

Mechanism: the owner (a ``cjcpw`` process) takes an exclusive open-file-description
lock (Linux ``F_OFD_SETLK``) on ``<spool>/run/owner.lock`` on the site's own disk
and writes who it is (host, pid, since) to ``run/owner.pid``. The locked
descriptor is handed to every daemon the owner starts and by nqsdaemon to every
job, so the lock is held until the owner *and every process it started* are gone:
a second ``cjcpw`` -- on this node or on another node that shares the disk -- fails
to take it at once (non-blocking) and names the owner, even when only an orphaned
daemon or job of the old owner survives (a job must never run twice at once).
When they die, even by SIGKILL or with their whole node, the kernel (or the NFS
lock manager) drops the lock, so the site can be taken over.

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

from . import pidrecords
from ..errors import SiteError

LOCK_FILE = "owner.lock"
OWNER_FD_ENV = "CJC_OWNER_FD"  # tells a daemon which inherited descriptor holds the lock
OWNER_RECORD = "owner.pid"


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


class Ownership:
    """Take and hold the ownership lock of one site."""

    def __init__(self, site):
        self.site = site
        self.lock_path = os.path.join(site.run_dir, LOCK_FILE)
        self.record_path = os.path.join(site.run_dir, OWNER_RECORD)
        self.fd = None

    def acquire(self, **details):
        """Take the lock or raise OwnedElsewhereError naming the owner; write our record."""
        os.makedirs(self.site.run_dir, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.fcntl(fd, fcntl.F_OFD_SETLK, _flock(fcntl.F_WRLCK))
        except OSError as err:
            os.close(fd)
            if err.errno not in (errno.EACCES, errno.EAGAIN):
                raise
            owner = self.current_owner()
            if owner and owner.get("host") == pidrecords.this_host() and not pidrecords.record_is_alive(owner):
                raise OwnedElsewhereError(
                    "site %s (%s) is still held by processes its last owner (cjcpw pid %s, now gone) started "
                    "on this node: end them with cjcpw -stop %s first" % (
                        self.site.name, self.site.db_path, owner.get("pid"), self.site.name))
            raise OwnedElsewhereError(
                "site %s (%s) is already owned by %s; refusing to start a second owner (split brain). "
                "Stop it there first (cjcpw -stop %s), or fence that node if it is unreachable"
                % (self.site.name, self.site.db_path, describe_owner(owner), self.site.name))
        self.fd = fd
        self.update(**details)

    def update(self, **details):
        """Rewrite our owner record (mode, daemon state, ...)."""
        pidrecords.write_record(self.record_path, os.getpid(), **details)

    def current_owner(self):
        """The owner record as written (it may be stale: only the lock tells liveness)."""
        return pidrecords.read_record(self.record_path)

    def release(self):
        if self.fd is not None:
            pidrecords.remove_record(self.record_path, os.getpid())
            os.close(self.fd)  # the lock goes when the daemons holding it are gone too
            self.fd = None


def is_owned(site):
    """True while some process (anywhere sharing the disk) holds the site's lock.

    Asks with F_OFD_GETLK, so it never takes the lock (a probe must not make a
    starting owner fail); correct inside the owner process too.
    """
    path = os.path.join(site.run_dir, LOCK_FILE)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        answer = fcntl.fcntl(fd, fcntl.F_OFD_GETLK, _flock(fcntl.F_WRLCK))
    finally:
        os.close(fd)
    return struct.unpack(_FLOCK, answer[:struct.calcsize(_FLOCK)])[0] != fcntl.F_UNLCK
