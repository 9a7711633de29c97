"""The kernel's record of a site's processes: one control group per site and node.

Every process of a site on a node is a member of the control group
``/cjc/<site key>/<node key>`` (the site key is the spool path, escaped; see
:func:`site_key`). ``cjcpw`` enters it before it starts anything, and a child is born
in its parent's group: daemons, jobs and whatever the jobs start -- in the
background, in a new session, with an empty environment -- all stay members. The
group's ``cgroup.procs`` files are root's, so no job (any user but root) can leave it.

* ``<node>/`` holds the owner (``cjcpw``) and logdaemon, comagent;
* ``<node>/jobs/`` holds nqsdaemon, its netdaemon and every job: nqsdaemon ends what a
  previous incarnation left there and then enters it, so each job is born inside and
  "the jobs" are one group to end (``jobs_only``).

*The node key.* Lab nodes are network namespaces on one kernel that share one cgroup
tree, and every node mounts the shared disk at the same path: the same site on node A
and node B must never share a group. A site serves on its node's addresses, so its
processes share the node's network namespace: the node key is ``net<inode of the
network namespace>`` (on a real node: the initial namespace, one key).

*Which kernel interface* (decided once per process, :func:`tracker`):

1. **cgroup2** -- the unified hierarchy, found in ``/proc/self/mountinfo`` (pure v2 at
   ``/sys/fs/cgroup``, hybrid at ``/sys/fs/cgroup/unified``). Ending a group is one
   write to ``cgroup.kill`` (the kernel kills every member and every process forked
   meanwhile: no fork race); without ``cgroup.kill`` (kernel < 5.14), freeze, SIGKILL
   every member, thaw. Emptiness is ``cgroup.events``' ``populated``. When no cgroup
   is mounted in this mount namespace but ``/sys/fs/cgroup`` is an empty directory (a
   node whose ``/sys`` was mounted afresh, as ``ip netns exec`` and the lab's nodes
   do), root mounts cgroup2 there, in this mount namespace only: the same tree.
2. **cgroup v1 freezer** -- the same groups in the freezer hierarchy: freeze, SIGKILL
   every member, thaw.
3. **environment scan** -- no cgroup usable (not root, no cgroup file system): the
   processes whose environment has ``CJC_SITE_SPOOL=<spool>`` in this network
   namespace. *Weaker*: any process can clear its environment to escape a stop, or
   set the variable to look like the site's. Only for unprivileged test daemons.
"""

import errno
import os
import re
import select
import signal
import time

from . import pidrecords
from ..errors import SiteError

ROOT_GROUP = "cjc"
JOBS = "jobs"
SPOOL_ENV = "CJC_SITE_SPOOL"  # the environment mark of the fallback scan
JOB_ENV = "QSUB_REQID"  # set in every job's environment (NQS), inherited by its children
CGROUP2, FREEZER, ENVIRONMENT = "cgroup2", "freezer", "environment"
MAX_KEY = 200  # a cgroup name is one path component (NAME_MAX 255)
POLL = 0.02
KILL_FILE = "cgroup.kill"  # cgroup2, kernel 5.14 and later
_FRESH_MOUNT = "/sys/fs/cgroup"
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 2, 4, 8

# Inode of the machine's initial network namespace: PROC_NET_INIT_INO of the kernel
# (include/linux/proc_ns.h), used when PID 1's namespace cannot be read.
_INIT_NET_INO = 0xEFFFFFF9


# -- names --------------------------------------------------------------------------

def site_key(spool):
    """The group name of the site with ``spool``: the path escaped as systemd does
    (``/mnt/jobdb/nqs`` -> ``mnt-jobdb-nqs``, other bytes as ``\\xHH``); a name that would
    be too long keeps its start and ends with a digest, so it stays unique."""
    path = os.path.normpath(spool).strip("/")
    out = []
    for index, byte in enumerate(path.encode()):
        char = chr(byte)
        if char == "/":
            out.append("-")
        elif (char.isascii() and char.isalnum()) or char in ":_" or (char == "." and index > 0):
            out.append(char)
        else:
            out.append("\\x%02x" % byte)
    key = "".join(out) or "-"
    if len(key) > MAX_KEY:
        import hashlib  # only here: it loads OpenSSL, which every daemon's start would pay
        key = key[:MAX_KEY - 17] + "-" + hashlib.sha256(path.encode()).hexdigest()[:16]
    return key


def net_namespace(pid="self"):
    """Inode of the network namespace of ``pid``, or None."""
    try:
        return os.stat("/proc/%s/ns/net" % pid).st_ino
    except OSError:
        return None


def node_key(net_inode):
    return "net%d" % net_inode


def group_path(spool, node, sub=None):
    """``cjc/<site key>/<node>[/<sub>]``, relative to the hierarchy's root."""
    return "/".join(part for part in (ROOT_GROUP, site_key(spool), node, sub) if part)


def parse_membership(text, kind):
    """The group path (no leading ``/``) of the ``kind`` hierarchy in a ``/proc/<pid>/cgroup``
    text, or None: cgroup2 is the line ``0::<path>``, v1 freezer ``<id>:...freezer...:<path>``."""
    for line in text.splitlines():
        fields = line.split(":", 2)
        if len(fields) != 3:
            continue
        hierarchy, controllers, path = fields
        if kind == CGROUP2 and hierarchy == "0" and controllers == "":
            return path.strip("/")
        if kind == FREEZER and "freezer" in controllers.split(","):
            return path.strip("/")
    return None


def within(path, group):
    """True when group path ``path`` is ``group`` or below it."""
    return path is not None and (path == group or path.startswith(group + "/"))


def find_mounts(mountinfo):
    """{CGROUP2: mount point, FREEZER: mount point} found in a ``mountinfo`` text.

    A mount counts only when it shows its hierarchy's root (field 4 is ``/``): a bind
    mount of a sub-group would shift every path.
    """
    found = {}
    for line in mountinfo.splitlines():
        fields = line.split()
        if " - " not in line or len(fields) < 5 or fields[3] != "/":
            continue
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
        tail = line.split(" - ", 1)[1].split()
        if tail[0] == "cgroup2":
            found.setdefault(CGROUP2, point)
        elif tail[0] == "cgroup" and len(tail) > 2 and "freezer" in tail[2].split(","):
            found.setdefault(FREEZER, point)
    return found


# -- which interface ------------------------------------------------------------------

_TRACKER = None


def tracker():
    """(kind, mount point or None) used by this process (decided once)."""
    global _TRACKER
    if _TRACKER is None:
        _TRACKER = _choose()
    return _TRACKER


def _choose():
    if os.geteuid() != 0:
        return ENVIRONMENT, None
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as handle:
            mounts = find_mounts(handle.read())
    except OSError:
        mounts = {}
    if CGROUP2 not in mounts and FREEZER not in mounts and _mount_cgroup2():
        mounts[CGROUP2] = _FRESH_MOUNT
    for kind in (CGROUP2, FREEZER):
        if kind in mounts and _usable(mounts[kind]):
            return kind, mounts[kind]
    return ENVIRONMENT, None


def _usable(mount):
    """True when root can make groups there (a read-only or delegated tree is not usable)."""
    try:
        os.makedirs(os.path.join(mount, ROOT_GROUP), exist_ok=True)
        return True
    except OSError:
        return False


def _mount_cgroup2():
    """Mount cgroup2 on an empty, unmounted /sys/fs/cgroup (this mount namespace only)."""
    try:
        if os.path.ismount(_FRESH_MOUNT) or os.listdir(_FRESH_MOUNT):
            return False
    except OSError:
        return False
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.mount(b"cgroup2", _FRESH_MOUNT.encode(), b"cgroup2", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, None) == 0


# -- one site on one node --------------------------------------------------------------

class SiteGroup:
    """The processes of the site with ``spool`` on this node (``node``: another node's key)."""

    def __init__(self, spool, node=None):
        self.spool = spool
        self.kind, self.mount = tracker()
        here = net_namespace()
        self.node = node or node_key(here if here is not None else _INIT_NET_INO)
        self.path = group_path(spool, self.node)

    @property
    def tracked(self):
        """True when the kernel tracks the site (cgroup2 or freezer), False for the scan."""
        return self.kind != ENVIRONMENT

    def _dir(self, sub=None):
        return os.path.join(self.mount, self.path, sub) if sub else os.path.join(self.mount, self.path)

    def enter(self, sub=None, pid=0):
        """Make the group (or its ``sub`` group) and move ``pid`` (0: this process) into it."""
        if not self.tracked:
            return
        directory = self._dir(sub)
        try:
            os.makedirs(directory, exist_ok=True)
            _write(os.path.join(directory, "cgroup.procs"), "%d\n" % (pid or os.getpid()))
        except OSError as err:
            raise SiteError("cannot enter the control group %s of the site: %s" % (directory, err))

    def contains(self, pid, sub=None):
        """True when process ``pid`` is a member (of ``sub``, when given); False when gone."""
        if not self.tracked:
            return pid in self.members(sub)
        try:
            with open("/proc/%d/cgroup" % pid, encoding="utf-8") as handle:
                path = parse_membership(handle.read(), self.kind)
        except OSError:
            return False
        return within(path, self.path + ("/" + sub if sub else ""))

    def members(self, sub=None):
        """Sorted pids of the group's live members (``sub``: of that sub-group), not this process."""
        if not self.tracked:
            return _scan_environment(self.spool, sub == JOBS)
        found = set()
        for directory, _dirs, _files in os.walk(self._dir(sub)):
            found.update(_read_pids(os.path.join(directory, "cgroup.procs")))
        found.discard(os.getpid())
        return sorted(pid for pid in found if pidrecords.pid_exists(pid))

    def populated(self):
        """True while any process (this one included) is a member."""
        if self.kind == CGROUP2:
            try:
                with open(os.path.join(self._dir(), "cgroup.events"), encoding="utf-8") as handle:
                    return "populated 1" in handle.read().splitlines()
            except FileNotFoundError:
                return False
        return bool(self.members()) or (self.tracked and self.contains(os.getpid()))

    def end(self, sub=None):
        """SIGKILL every member but this process: each sub-group at once (no fork race); the
        direct members of a group holding this process (the owner's daemons) one by one."""
        if not self.tracked:
            for pid in _scan_environment(self.spool, sub == JOBS):
                _kill(pid)
            return
        directory = self._dir(sub)
        if not os.path.isdir(directory):
            return
        me_inside = self.contains(os.getpid(), sub)
        if not me_inside:
            self._end_at_once(directory)
            return
        for name in sorted(os.listdir(directory)):
            if os.path.isdir(os.path.join(directory, name)):
                self._end_at_once(os.path.join(directory, name))
        for pid in _read_pids(os.path.join(directory, "cgroup.procs")):
            if pid != os.getpid():
                _kill(pid)

    def _end_at_once(self, directory):
        kill = os.path.join(directory, KILL_FILE)
        if self.kind == CGROUP2 and os.path.exists(kill):
            _write(kill, "1")
            return
        self._freeze(directory, True)
        try:
            for sub_dir, _dirs, _files in os.walk(directory):
                for pid in _read_pids(os.path.join(sub_dir, "cgroup.procs")):
                    _kill(pid)
        finally:
            self._freeze(directory, False)

    def _freeze(self, directory, frozen):
        if self.kind == CGROUP2:
            _write(os.path.join(directory, "cgroup.freeze"), "1" if frozen else "0")
            wanted, state_file = "frozen %d" % frozen, "cgroup.events"
        else:
            _write(os.path.join(directory, "freezer.state"), "FROZEN" if frozen else "THAWED")
            wanted, state_file = "FROZEN" if frozen else "THAWED", "freezer.state"
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            with open(os.path.join(directory, state_file), encoding="utf-8") as handle:
                if wanted in handle.read().split("\n"):
                    return
            time.sleep(POLL)

    def wait_empty(self, seconds, sub=None):
        """Wait up to ``seconds`` until no member but this process is left; the pids left."""
        deadline = time.monotonic() + seconds
        while True:
            left = self.members(sub)
            if not left or time.monotonic() >= deadline:
                return left
            time.sleep(POLL)

    def wait_unpopulated(self):
        """Block until no process is a member: on cgroup2 woken by the kernel's notice on
        ``cgroup.events`` (checked each second besides), else by polling twice a second."""
        if self.kind != CGROUP2:
            while self.populated():
                time.sleep(0.5)
            return
        try:
            handle = open(os.path.join(self._dir(), "cgroup.events"), encoding="utf-8")
        except FileNotFoundError:
            return
        with handle:
            poller = select.poll()
            poller.register(handle.fileno(), select.POLLPRI | select.POLLERR)
            while True:
                handle.seek(0)
                if "populated 1" not in handle.read().splitlines():
                    return
                poller.poll(1000)

    def nodes(self):
        """The node keys that have a group of this site (the machine's view of lab nodes)."""
        top = os.path.join(self.mount or "", ROOT_GROUP, site_key(self.spool))
        try:
            names = os.listdir(top) if self.tracked else []
        except FileNotFoundError:
            return []
        return sorted(name for name in names if os.path.isdir(os.path.join(top, name)))

    def remove(self):
        """Remove the site's empty groups of this node (a populated one stays, silently)."""
        if not self.tracked:
            return
        top = os.path.join(self.mount, ROOT_GROUP, site_key(self.spool))
        for directory, _dirs, _files in sorted(os.walk(self._dir()), key=lambda entry: -len(entry[0])):
            _rmdir(directory)
        _rmdir(top)


def _read_pids(path):
    try:
        with open(path, encoding="ascii") as handle:
            return [int(word) for word in handle.read().split()]
    except OSError:
        return []


def _write(path, text):
    with open(path, "w") as handle:
        handle.write(text)


def _rmdir(path):
    try:
        os.rmdir(path)
    except OSError as err:
        if err.errno not in (errno.ENOENT, errno.EBUSY, errno.ENOTEMPTY):
            raise


def _kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# -- the weaker fallback: the environment mark ------------------------------------------

def _environ(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as handle:
            return handle.read().split(b"\0")
    except OSError:
        return None


def machine_view():
    """True in the machine's initial network namespace (PID 1's): a real node, or tests and
    tools looking at lab nodes from the host, which see every node."""
    here = net_namespace()
    return here is None or here in (net_namespace(1), _INIT_NET_INO)


def _scan_environment(spool, jobs_only):
    """Pids whose environment has ``CJC_SITE_SPOOL=<spool>`` (and ``QSUB_REQID`` with
    ``jobs_only``), in this network namespace unless this is the machine's initial one."""
    here = None if machine_view() else net_namespace()
    mark = ("%s=%s" % (SPOOL_ENV, spool)).encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        pid = int(entry)
        if here is not None and net_namespace(pid) != here:
            continue
        environ = _environ(pid)
        if not environ or mark not in environ:
            continue
        if jobs_only and not any(item.startswith(JOB_ENV.encode() + b"=") for item in environ):
            continue
        if pidrecords.pid_exists(pid):
            found.append(pid)
    return sorted(found)
