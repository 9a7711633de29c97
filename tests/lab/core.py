"""The two-node lab: nodes as network + mount + UTS namespaces on one machine.

A node is three persistent namespaces, made with ``unshare`` and kept alive by
nsfs handles bind-mounted under ``<base>/ns`` (a private mount, so the handles
of one node never propagate into another node's mount namespace):

* network namespace ``<name>-<node>``: interface ``eth0`` with the node address,
  the other end of the veth pair on the bridge ``br0`` of the hub namespace
  ``<name>-hub`` (which also holds the client address ``.254``). The /24 exists
  only inside these namespaces: nothing is configured in the root netns;
* mount namespace: copy-on-write overlays over ``/etc``, ``/usr`` and ``/var``
  (so a node has its own ``/etc/hosts``, ``/etc/passwd``, and mount points such
  as ``/usr/lib/nqs`` are made without touching the real root file system),
  per-node bind mounts from ``<base>/nodes/<node>/`` (``/usr/lib/nqs``,
  ``/usr/spool/nqs``, ``/var/log``, ``/run``), the shared disk ``<base>/shared``
  at the same path on every node, its own ``/dev/shm`` and a sysfs that shows
  the node's interfaces;
* UTS namespace: its own host name.

No PID namespace: node processes are ordinary host processes, found by their
namespaces (``/proc/<pid>/ns/net`` and ``ns/mnt``), never by name.

Only the standard library is used, so the CLI runs with any python3.
"""

import ipaddress
import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field

#: top-level directories a node sees through a private copy-on-write overlay
OVERLAY_DIRS = ("/etc", "/usr", "/var")
#: per-node directories bind-mounted from ``<base>/nodes/<node>/<mangled path>``
PRIVATE_DIRS = ("/usr/lib/nqs", "/usr/spool/nqs", "/var/log")
#: top-level directories that must never be overlaid (the lab lives in /tmp,
#: Ansible's remote tmp in /root, /run gets its own bind mount)
_NO_OVERLAY = frozenset(("/", "/tmp", "/root", "/proc", "/sys", "/dev", "/run", "/home", "/boot"))
_STATE_FILE = "lab.json"


class LabError(Exception):
    """A lab operation failed; the message says what and with which values."""


@dataclass
class LabConfig:
    """What a lab looks like. Every name that could collide is derived from ``name``."""

    name: str = "cjclab"
    nodes: tuple = ("node1", "node2")
    base: str = ""  # default /tmp/cjclab-<name>
    subnet: str = "10.213.0.0/24"
    site: str = "testsite"
    domain: str = "cjclab.example"
    vip_host: int = 100  # host part of the relocatable (site) address
    hub_host: int = 254
    iface: str = "eth0"
    shared_path: str = "/mnt/jobdb-disk"
    private_dirs: tuple = PRIVATE_DIRS
    connection: str = "ssh"  # Ansible connection in the inventory: ssh | local

    def __post_init__(self):
        self.nodes = tuple(self.nodes)
        self.private_dirs = tuple(self.private_dirs)
        if not self.base:
            self.base = "/tmp/cjclab-%s" % self.name
        if not self.name.replace("-", "").replace("_", "").isalnum():
            raise LabError("lab name %r: use letters, digits, - and _ only" % self.name)
        if len(set(self.nodes)) != len(self.nodes) or not self.nodes:
            raise LabError("node names must be unique and non-empty: %r" % (self.nodes,))
        net = ipaddress.ip_network(self.subnet)
        if len(self.nodes) + 2 >= net.num_addresses - 2:
            raise LabError("subnet %s too small for %d nodes" % (self.subnet, len(self.nodes)))
        if self.connection not in ("local", "ssh"):
            raise LabError("connection must be local or ssh, not %r" % self.connection)

    @property
    def network(self):
        return ipaddress.ip_network(self.subnet)

    @property
    def prefixlen(self):
        return self.network.prefixlen


@dataclass
class Node:
    """One node's names and addresses (derived from the config, never stored apart)."""

    name: str
    index: int  # 1-based
    netns: str
    address: str
    fqdn: str
    hub_port: str  # veth end on the hub bridge
    state: str  # <base>/nodes/<name>
    mnt: str  # nsfs handle of the mount namespace
    uts: str  # nsfs handle of the UTS namespace
    extra: dict = field(default_factory=dict)


def _run(argv, check=True, input=None, timeout=60, env=None, capture=True):
    """Run argv (a list, never a shell string); on failure raise LabError with rc and output."""
    try:
        cp = subprocess.run(argv, input=input, capture_output=capture, text=True,
                            timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired as exc:
        raise LabError("timed out after %ss: %s" % (timeout, shlex.join(argv))) from exc
    if check and cp.returncode != 0:
        raise LabError("failed (rc=%d): %s\nstdout: %s\nstderr: %s"
                       % (cp.returncode, shlex.join(argv), (cp.stdout or "").strip(),
                          (cp.stderr or "").strip()))
    return cp


def _mangle(path):
    """/usr/lib/nqs -> usr-lib-nqs (the state-dir name of a private directory)."""
    return path.strip("/").replace("/", "-") or "root"


def _ns_inode(path):
    """'net:[4026532xxx]'-style id of the namespace behind an nsfs handle, or None."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino


def _proc_state(pid):
    """Process state letter from /proc/<pid>/stat, or None when gone."""
    try:
        with open("/proc/%d/stat" % pid) as fh:
            data = fh.read()
    except OSError:
        return None
    return data[data.rfind(")") + 2:].split(" ", 1)[0]


def pid_alive(pid):
    """True if pid exists and is not a zombie (PID 1 here reaps orphans late)."""
    state = _proc_state(pid)
    return state is not None and state not in ("Z", "X")


def _pids_in(want):
    """{label: set(pid)} of live processes whose /proc/<pid>/ns/{net,mnt} link is in want.

    want maps links such as 'net:[4026532000]' to a label.
    """
    found = {}
    if not want:
        return found
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        pid = int(entry)
        for kind in ("net", "mnt"):
            try:
                link = os.readlink("/proc/%d/ns/%s" % (pid, kind))
            except OSError:
                break
            if link in want and pid_alive(pid):
                found.setdefault(want[link], set()).add(pid)
                break
    return found


def _kill_pids(pids, timeout=5.0):
    """SIGKILL pids, then wait until each is gone or a zombie; LabError if one survives."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    left = [p for p in pids if pid_alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.02)
        left = [p for p in left if pid_alive(p)]
    if left:
        raise LabError("processes still alive after SIGKILL: %s" % left)


def _kill_pids_gone(links):
    """Kill every process in the namespaces named by links ('net:[ino]', 'mnt:[ino]')."""
    found = _pids_in({link: "x" for link in links})
    _kill_pids(sorted(found.get("x", ())))


def _make_run_dirs(run):
    """The directories a fresh /run of a node needs (as a boot would make them)."""
    for d, mode in (("lock", 0o1777), ("sshd", 0o755)):
        os.makedirs(os.path.join(run, d), exist_ok=True)
        os.chmod(os.path.join(run, d), mode)


def _mountpoints_under(path):
    """Mount points at or below path in this mount namespace, deepest first."""
    path = os.path.realpath(path)
    found = []
    try:
        with open("/proc/self/mountinfo") as fh:
            for line in fh:
                mp = line.split()[4].encode().decode("unicode_escape")
                if mp == path or mp.startswith(path + "/"):
                    found.append(mp)
    except OSError:
        pass
    return sorted(found, key=len, reverse=True)


class Lab:
    """A lab on this machine. ``Lab(LabConfig(...))``, then ``up()`` ... ``down()``.

    Methods that act on a node take the node name. All commands are argv lists.
    ``up()`` first runs ``down()``, so it also repairs a half-made lab.
    """

    def __init__(self, config=None, **kwargs):
        self.config = config or LabConfig(**kwargs)
        c = self.config
        net = c.network
        hosts = list(net.hosts())
        self.hub_netns = "%s-hub" % c.name
        self.hub_address = str(net.network_address + c.hub_host)
        self.site_address = str(net.network_address + c.vip_host)
        self.site_fqdn = "%s.%s" % (c.site, c.domain)
        self.nodes = {}
        for i, n in enumerate(c.nodes, 1):
            port = "v-%s" % n
            if len(port) > 15:
                port = "v-n%d" % i
            self.nodes[n] = Node(
                name=n, index=i, netns="%s-%s" % (c.name, n), address=str(hosts[i - 1]),
                fqdn="%s.%s" % (n, c.domain), hub_port=port,
                state=os.path.join(c.base, "nodes", n),
                mnt=os.path.join(c.base, "ns", "%s.mnt" % n),
                uts=os.path.join(c.base, "ns", "%s.uts" % n))
        for a in (self.site_address, self.hub_address):
            if a in [x.address for x in self.nodes.values()]:
                raise LabError("address %s collides with a node address" % a)
        self.pacemaker = None  # set by up(pacemaker=True): a lab.pacemaker.Cluster

    # ------------------------------------------------------------------ names
    @property
    def base(self):
        return self.config.base

    @property
    def node_names(self):
        return list(self.config.nodes)

    @property
    def shared_dir(self):
        """Host directory that every node sees at config.shared_path."""
        return os.path.join(self.base, "shared")

    @property
    def inventory_path(self):
        return os.path.join(self.base, "inventory.yml")

    def node(self, name):
        try:
            return self.nodes[name]
        except KeyError:
            raise LabError("no node %r in lab %s (nodes: %s)"
                           % (name, self.config.name, ", ".join(self.nodes))) from None

    def host_path(self, node, path):
        """Host path of a node's file under one of its private (bind-mounted) dirs."""
        n = self.node(node)
        for d in sorted(self.config.private_dirs + ("/run",), key=len, reverse=True):
            if path == d or path.startswith(d + "/"):
                return os.path.join(n.state, _mangle(d)) + path[len(d):]
        if path == self.config.shared_path or path.startswith(self.config.shared_path + "/"):
            return self.shared_dir + path[len(self.config.shared_path):]
        raise LabError("%s is not in a private dir of %s (%s) nor the shared disk"
                       % (path, node, ", ".join(self.config.private_dirs)))

    def hosts_text(self):
        """The /etc/hosts of every node: canonical (fully qualified) name first."""
        d = self.config.domain
        lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost ip6-loopback"]
        for n in self.nodes.values():
            lines.append("%s %s %s" % (n.address, n.fqdn, n.name))
        lines.append("%s %s %s" % (self.site_address, self.site_fqdn, self.config.site))
        lines.append("%s hub.%s hub" % (self.hub_address, d))
        return "\n".join(lines) + "\n"

    def nsenter_argv(self, node):
        """argv prefix that runs a command "on" node (its net + mount + UTS namespaces)."""
        n = self.node(node)
        return ["nsenter", "--net=/run/netns/%s" % n.netns, "--mount=%s" % n.mnt,
                "--uts=%s" % n.uts, "--"]

    def hub_argv(self):
        return ["nsenter", "--net=/run/netns/%s" % self.hub_netns, "--"]

    # ------------------------------------------------------------------ commands
    def nsx(self, node, *argv, check=True, input=None, timeout=60, env=None):
        """Run argv on node; return CompletedProcess (text stdout/stderr captured).

        Raises LabError when check and rc != 0 (message has rc, stdout, stderr).
        """
        return _run(self.nsenter_argv(node) + list(argv), check=check, input=input,
                    timeout=timeout, env=env)

    def hubx(self, *argv, check=True, input=None, timeout=60):
        """Run argv in the hub namespace (the client side of the network)."""
        return _run(self.hub_argv() + list(argv), check=check, input=input, timeout=timeout)

    def spawn(self, node, *argv, stdout=None, stderr=None, env=None, **popen_kwargs):
        """Start argv on node as a child of the caller (own session); return the Popen.

        The caller must wait() for it (or it stays a zombie until it does).
        """
        return subprocess.Popen(self.nsenter_argv(node) + list(argv), stdout=stdout,
                                stderr=stderr, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True, **popen_kwargs)

    def start_daemon(self, node, *argv, log="/dev/null", env=None):
        """Start argv on node detached (double fork: PID 1 is its parent); return its pid.

        log is a host path; stdout and stderr are appended to it.
        """
        cmd = "%s setsid %s >>%s 2>&1 </dev/null & echo $!" % (
            shlex.join(self.nsenter_argv(node)), shlex.join(argv), shlex.quote(log))
        cp = _run(["sh", "-c", cmd], env=env)
        return int(cp.stdout.strip())

    def write_file(self, node, path, data, mode=None):
        """Write text data to path as seen by node (parent dirs made)."""
        script = 'mkdir -p "$(dirname "$1")" && cat > "$1"'
        if mode is not None:
            script += ' && chmod %o "$1"' % mode
        self.nsx(node, "sh", "-c", script, "sh", path, input=data)

    def read_file(self, node, path):
        """Text of path as seen by node."""
        return self.nsx(node, "cat", path).stdout

    def hostname(self, node):
        return self.nsx(node, "hostname").stdout.strip()

    # ------------------------------------------------------------------ processes
    def pids(self, node):
        """Live pids in node's network or mount namespace (zombies excluded), sorted."""
        return sorted(self._pids_by_node([node]).get(node, []))

    def _pids_by_node(self, names, include_hub=False):
        want = {}
        for name in names:
            n = self.nodes[name]
            for kind, handle in (("net", "/run/netns/%s" % n.netns), ("mnt", n.mnt)):
                ino = _ns_inode(handle)
                if ino is not None:
                    want["%s:[%d]" % (kind, ino)] = name
        if include_hub:
            ino = _ns_inode("/run/netns/%s" % self.hub_netns)
            if ino is not None:
                want["net:[%d]" % ino] = "<hub>"
        return _pids_in(want)

    def _kill_pids(self, pids, timeout=5.0):
        _kill_pids(pids, timeout)

    # ------------------------------------------------------------------ up / down
    def is_up(self):
        """True if every namespace of the lab exists."""
        if not os.path.exists("/run/netns/%s" % self.hub_netns):
            return False
        return all(os.path.exists("/run/netns/%s" % n.netns) and os.path.ismount(n.mnt)
                   for n in self.nodes.values())

    def up(self, pacemaker=False, pacemaker_options=None):
        """Make the lab (after a down(), so a half-made lab is repaired). Returns self.

        pacemaker=True also starts Corosync + Pacemaker on every node (lab only:
        stonith-enabled=false) and waits until all nodes are online.
        """
        self.down()
        c = self.config
        os.makedirs(self.base, exist_ok=True)
        self._save_state()
        overlays = self._overlay_dirs()
        try:
            self._net_up()
            self._fs_up(overlays)
            from . import inventory
            inventory.write(self)
            if pacemaker:
                from .pacemaker import Cluster
                self.pacemaker = Cluster(self, **(pacemaker_options or {}))
                self.pacemaker.start()
                self._save_state()
        except BaseException:
            if os.environ.get("CJCLAB_KEEP_FAILED") != "1":
                self.down()
            raise
        return self

    def _overlay_dirs(self):
        c = self.config
        dirs = [d for d in OVERLAY_DIRS if os.path.isdir(d)]
        for target in c.private_dirs + (c.shared_path,):
            if not target.startswith("/") or target in _NO_OVERLAY:
                raise LabError("bad lab directory %r: must be absolute and not %s"
                               % (target, ", ".join(sorted(_NO_OVERLAY))))
            top = "/" + target.strip("/").split("/")[0]
            if os.path.exists(target) or top in dirs:
                continue
            if top in _NO_OVERLAY or not os.path.isdir(top):
                raise LabError("cannot make mount point %s in the nodes: %s is not a directory "
                               "the lab may overlay (choose a path under %s)"
                               % (target, top, ", ".join(OVERLAY_DIRS + ("/mnt", "/srv", "/opt"))))
            dirs.append(top)
        return dirs

    def _net_up(self):
        c = self.config
        hub = self.hub_netns
        ip = ["ip"]
        _run(ip + ["netns", "add", hub])
        _run(ip + ["-n", hub, "link", "set", "lo", "up"])
        _run(ip + ["-n", hub, "link", "add", "br0", "type", "bridge"])
        _run(ip + ["-n", hub, "addr", "add", "%s/%d" % (self.hub_address, c.prefixlen), "dev", "br0"])
        _run(ip + ["-n", hub, "link", "set", "br0", "up"])
        for n in self.nodes.values():
            _run(ip + ["netns", "add", n.netns])
            _run(ip + ["-n", n.netns, "link", "set", "lo", "up"])
            # both ends are made inside the namespaces: nothing appears in the root netns
            _run(ip + ["link", "add", c.iface, "netns", n.netns, "type", "veth",
                       "peer", "name", n.hub_port, "netns", hub])
            _run(ip + ["-n", hub, "link", "set", n.hub_port, "master", "br0", "up"])
            _run(ip + ["-n", n.netns, "addr", "add", "%s/%d" % (n.address, c.prefixlen),
                       "dev", c.iface])
            _run(ip + ["-n", n.netns, "link", "set", c.iface, "up"])

    def _fs_up(self, overlays):
        c = self.config
        nsdir = os.path.join(self.base, "ns")
        os.makedirs(nsdir, exist_ok=True)
        os.makedirs(self.shared_dir, exist_ok=True)
        # the directory of the nsfs handles must be a private mount, or a node's handle
        # would propagate into the mount namespaces it belongs to
        _run(["mount", "--bind", nsdir, nsdir])
        _run(["mount", "--make-private", nsdir])
        for n in self.nodes.values():
            binds = [("/run", os.path.join(n.state, "run"))]
            binds += [(d, os.path.join(n.state, _mangle(d))) for d in c.private_dirs]
            binds.append((c.shared_path, self.shared_dir))
            for src in [b[1] for b in binds]:
                os.makedirs(src, exist_ok=True)
            _make_run_dirs(os.path.join(n.state, "run"))
            hosts = os.path.join(n.state, "hosts")
            with open(hosts, "w") as fh:
                fh.write(self.hosts_text())
            lines = ["hostname %s" % shlex.quote(n.name)]
            for d in overlays:
                up_ = os.path.join(n.state, "ovl", _mangle(d), "upper")
                wk = os.path.join(n.state, "ovl", _mangle(d), "work")
                os.makedirs(up_, exist_ok=True)
                os.makedirs(wk, exist_ok=True)
                lines.append("mount -t overlay overlay -o %s %s" % (
                    shlex.quote("lowerdir=%s,upperdir=%s,workdir=%s" % (d, up_, wk)), d))
            # written through the overlay: a real file, so atomic replace works in the node
            lines.append("cat %s > /etc/hosts" % shlex.quote(hosts))
            lines.append("echo %s > /etc/hostname" % shlex.quote(n.name))
            for target, src in sorted(binds, key=lambda b: b[0].count("/")):
                lines.append("mkdir -p %s && mount --bind %s %s"
                             % (shlex.quote(target), shlex.quote(src), shlex.quote(target)))
            lines.append("mount -t tmpfs -o mode=1777 tmpfs /dev/shm")
            # a fresh sysfs shows this netns's interfaces (Ansible facts, IPaddr2)
            lines.append("umount -l /sys && mount -t sysfs sysfs /sys")
            for h in (n.mnt, n.uts):
                open(h, "a").close()
            _run(["nsenter", "--net=/run/netns/%s" % n.netns, "unshare", "--mount=%s" % n.mnt,
                  "--uts=%s" % n.uts, "--propagation", "private", "sh", "-euc", "\n".join(lines)])

    def down(self):
        """Remove everything the lab made; safe to call any time (idempotent)."""
        state = self._load_state()
        if state and state.get("config", {}).get("nodes") and \
                tuple(state["config"]["nodes"]) != self.config.nodes:
            # made with other nodes: tear down what was made, not what we expect
            Lab(LabConfig(**state["config"])).down()
        names = list(self.nodes)
        by_node = self._pids_by_node(names, include_hub=True)
        self._kill_pids(sorted(set().union(*by_node.values())) if by_node else [])
        for n in self.nodes.values():
            for h in (n.mnt, n.uts):
                while os.path.ismount(h):
                    _run(["umount", h])
        for mp in _mountpoints_under(self.base):
            _run(["umount", "-l", mp], check=False)
        for ns in [n.netns for n in self.nodes.values()] + [self.hub_netns]:
            if os.path.exists("/run/netns/%s" % ns):
                _run(["ip", "netns", "del", ns])
            if os.path.isdir("/etc/netns/%s" % ns):
                shutil.rmtree("/etc/netns/%s" % ns)
        if _mountpoints_under(self.base):
            raise LabError("mounts left under %s: %s" % (self.base, _mountpoints_under(self.base)))
        if os.path.isdir(self.base):
            if os.path.realpath(self.base) in ("/", "/tmp", "/root", "/usr", "/var", "/etc"):
                raise LabError("refusing to remove %s" % self.base)
            shutil.rmtree(self.base)
        self.pacemaker = None

    # ------------------------------------------------------------------ state
    def _save_state(self):
        data = {"config": asdict(self.config),
                "pacemaker": self.pacemaker.options() if self.pacemaker else None}
        tmp = os.path.join(self.base, _STATE_FILE + ".tmp")
        with open(tmp, "w") as fh:
            json.dump(data, fh, indent=2)
        os.replace(tmp, os.path.join(self.base, _STATE_FILE))

    def _load_state(self):
        try:
            with open(os.path.join(self.base, _STATE_FILE)) as fh:
                return json.load(fh)
        except (OSError, ValueError):
            return None

    @classmethod
    def load(cls, base):
        """The lab whose state is in base (as written by up()); LabError if none."""
        try:
            with open(os.path.join(base, _STATE_FILE)) as fh:
                data = json.load(fh)
        except (OSError, ValueError) as exc:
            raise LabError("no lab state in %s (%s)" % (base, exc)) from exc
        lab = cls(LabConfig(**data["config"]))
        if data.get("pacemaker") is not None:
            from .pacemaker import Cluster
            lab.pacemaker = Cluster(lab, **data["pacemaker"])
        return lab

    # ------------------------------------------------------------------ addresses
    def addresses(self, node):
        """IPv4 addresses (without prefix) on node's lab interface."""
        cp = _run(["ip", "-n", self.node(node).netns, "-j", "-4", "addr", "show", "dev",
                   self.config.iface], check=False)
        if cp.returncode != 0:
            return []
        data = json.loads(cp.stdout or "[]")
        return [a["local"] for link in data for a in link.get("addr_info", [])]

    def vip_owners(self):
        """Nodes that have the site address configured (normally zero or one)."""
        return [n for n in self.nodes if self.site_address in self.addresses(n)]

    def _flush_neigh(self, address):
        for ns in [self.hub_netns] + [n.netns for n in self.nodes.values()]:
            _run(["ip", "-n", ns, "neigh", "flush", "to", address], check=False)

    def move_vip(self, node):
        """Put the site address on node only (removed from the others first)."""
        target = self.node(node)
        c = self.config
        cidr = "%s/%d" % (self.site_address, c.prefixlen)
        for n in self.nodes.values():
            if n.name != node and self.site_address in self.addresses(n.name):
                _run(["ip", "-n", n.netns, "addr", "del", cidr, "dev", c.iface])
        if self.site_address not in self.addresses(node):
            _run(["ip", "-n", target.netns, "addr", "add", cidr, "dev", c.iface])
        # no gratuitous ARP tool here: forget the old owner's MAC everywhere instead
        self._flush_neigh(self.site_address)

    def release_vip(self, node=None):
        """Remove the site address from node (or from every node)."""
        cidr = "%s/%d" % (self.site_address, self.config.prefixlen)
        for n in ([self.node(node)] if node else self.nodes.values()):
            if self.site_address in self.addresses(n.name):
                _run(["ip", "-n", n.netns, "addr", "del", cidr, "dev", self.config.iface])
        self._flush_neigh(self.site_address)

    # ------------------------------------------------------------------ failures
    def kill_node(self, node):
        """Hard failure: link down on the hub side, SIGKILL every process of the node.

        The site address stays configured on the dead node (as on a hung box);
        revive_node() cleans up like a reboot.
        """
        n = self.node(node)
        with open(os.path.join(n.state, "DOWN"), "w") as fh:  # Ansible's wrappers: unreachable
            fh.write("killed by kill_node\n")
        _run(["ip", "-n", self.hub_netns, "link", "set", n.hub_port, "down"])
        self._kill_pids(self._freeze(node))

    def _freeze(self, node):
        """SIGSTOP every process of node, again until no new one appears; returns them all.

        A crashed box stops all at once: killed one by one, a daemon could see its job die
        and record it before its own turn, which no real node crash allows.
        """
        frozen = set()
        while True:
            fresh = [pid for pid in self.pids(node) if pid not in frozen]
            if not fresh:
                return sorted(frozen)
            for pid in fresh:
                try:
                    os.kill(pid, signal.SIGSTOP)
                except ProcessLookupError:
                    pass
                frozen.add(pid)

    def node_down(self, node):
        """True between kill_node() and revive_node()."""
        return os.path.exists(os.path.join(self.node(node).state, "DOWN"))

    def node_link_up(self, node):
        """True if node's port on the hub bridge is up."""
        cp = _run(["ip", "-n", self.hub_netns, "-j", "link", "show", "dev",
                   self.node(node).hub_port])
        return "UP" in json.loads(cp.stdout)[0].get("flags", [])

    def revive_node(self, node):
        """Boot the node again: empty /run, no site address, link up, cluster stack restarted."""
        n = self.node(node)
        self._kill_pids(self.pids(node))
        self.release_vip(node)
        run = os.path.join(n.state, "run")
        for entry in os.listdir(run):
            p = os.path.join(run, entry)
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p)
            else:
                os.unlink(p)
        _make_run_dirs(run)
        _run(["ip", "-n", self.hub_netns, "link", "set", n.hub_port, "up"])
        if os.path.exists(os.path.join(n.state, "DOWN")):
            os.unlink(os.path.join(n.state, "DOWN"))
        if self.pacemaker:
            self.pacemaker.prepare_run(node)
            self.pacemaker.start_node(node)

    def reset(self):
        """Back to the state after up(): every node revived if killed, no site address."""
        for n in self.nodes:
            if self.node_down(n) or not self.node_link_up(n):
                self.revive_node(n)
        self.release_vip()

    # ------------------------------------------------------------------ status
    def status(self):
        """A dict describing the lab as it is now (for the CLI and for tests)."""
        out = {"name": self.config.name, "base": self.base, "up": self.is_up(),
               "site": self.site_fqdn, "site_address": self.site_address,
               "shared_path": self.config.shared_path, "shared_dir": self.shared_dir,
               "inventory": self.inventory_path, "nodes": {}}
        if not out["up"]:
            return out
        out["vip_owners"] = self.vip_owners()
        pids = self._pids_by_node(list(self.nodes))
        for n in self.nodes.values():
            out["nodes"][n.name] = {
                "netns": n.netns, "address": n.address, "addresses": self.addresses(n.name),
                "link_up": self.node_link_up(n.name), "down": self.node_down(n.name),
                "processes": len(pids.get(n.name, ())),
                "enter": shlex.join(self.nsenter_argv(n.name)[:-1] + ["bash"]),
            }
        if self.pacemaker:
            out["pacemaker"] = self.pacemaker.status_text()
        return out
