"""A lightweight single namespace for engine tests: "these addresses, this hosts file".

    with Sandbox(addresses=["10.213.9.10/24"], hosts="10.213.9.10 site.example site\\n") as sb:
        sb.run("getent", "hosts", "site.example").stdout

One network namespace whose interface (a veth pair with both ends inside: this
kernel has no dummy module) carries the addresses, plus a mount + UTS namespace
with its own /etc/hosts (bind-mounted file) and host name. No hub, no overlays:
~30 ms to make and to remove.
"""

import os
import shutil
import tempfile

from .core import LabError, _kill_pids_gone, _mountpoints_under, _ns_inode, _run


class Sandbox:
    """Namespace with given addresses and /etc/hosts. Use as a context manager or up()/down()."""

    def __init__(self, addresses=(), hosts="127.0.0.1 localhost\n", hostname="sandbox",
                 name=None, iface="eth0", base=None):
        self.addresses = list(addresses)
        self.hosts = hosts
        self.hostname = hostname
        self.iface = iface
        self.name = name or "cjcsbx-%d-%d" % (os.getpid(), id(self) % 100000)
        self.base = base or tempfile.mkdtemp(prefix="%s-" % self.name, dir="/tmp")
        self.netns = self.name
        self.mnt = os.path.join(self.base, "ns", "mnt")
        self.uts = os.path.join(self.base, "ns", "uts")

    def argv(self):
        """argv prefix that runs a command inside the sandbox."""
        return ["nsenter", "--net=/run/netns/%s" % self.netns, "--mount=%s" % self.mnt,
                "--uts=%s" % self.uts, "--"]

    def run(self, *argv, check=True, input=None, timeout=60, env=None):
        """Run argv inside; CompletedProcess with text output; LabError if check and rc != 0."""
        return _run(self.argv() + list(argv), check=check, input=input, timeout=timeout, env=env)

    def set_hosts(self, text):
        """Replace the sandbox's /etc/hosts content (in place: it is a bind-mounted file)."""
        self.hosts = text
        with open(os.path.join(self.base, "hosts"), "w") as fh:
            fh.write(text)

    def add_address(self, cidr):
        _run(["ip", "-n", self.netns, "addr", "add", cidr, "dev", self.iface])
        self.addresses.append(cidr)

    def del_address(self, cidr):
        _run(["ip", "-n", self.netns, "addr", "del", cidr, "dev", self.iface])
        self.addresses.remove(cidr)

    def up(self):
        self.down(remove_base=False)
        os.makedirs(os.path.join(self.base, "ns"), exist_ok=True)
        try:
            nsdir = os.path.join(self.base, "ns")
            _run(["mount", "--bind", nsdir, nsdir])
            _run(["mount", "--make-private", nsdir])
            _run(["ip", "netns", "add", self.netns])
            ns = ["ip", "-n", self.netns]
            _run(ns + ["link", "set", "lo", "up"])
            _run(ns + ["link", "add", self.iface, "type", "veth", "peer", "name",
                       self.iface + "p"])
            for cidr in self.addresses:
                _run(ns + ["addr", "add", cidr, "dev", self.iface])
            _run(ns + ["link", "set", self.iface + "p", "up"])
            _run(ns + ["link", "set", self.iface, "up"])
            hosts = os.path.join(self.base, "hosts")
            with open(hosts, "w") as fh:
                fh.write(self.hosts)
            for h in (self.mnt, self.uts):
                open(h, "a").close()
            _run(["nsenter", "--net=/run/netns/%s" % self.netns, "unshare",
                  "--mount=%s" % self.mnt, "--uts=%s" % self.uts, "--propagation", "private",
                  "sh", "-euc", 'hostname "$1"; mount --bind "$2" /etc/hosts; '
                  'umount -l /sys && mount -t sysfs sysfs /sys', "sh", self.hostname, hosts])
        except BaseException:
            self.down()
            raise
        return self

    def down(self, remove_base=True):
        """Kill processes inside, remove namespaces, mounts and (by default) the base dir."""
        wanted = set()
        for kind, h in (("net", "/run/netns/%s" % self.netns), ("mnt", self.mnt)):
            ino = _ns_inode(h)
            if ino is not None:
                wanted.add("%s:[%d]" % (kind, ino))
        _kill_pids_gone(wanted)
        for h in (self.mnt, self.uts):
            while os.path.ismount(h):
                _run(["umount", h])
        for mp in _mountpoints_under(self.base):
            _run(["umount", "-l", mp], check=False)
        if os.path.exists("/run/netns/%s" % self.netns):
            _run(["ip", "netns", "del", self.netns])
        if remove_base and os.path.isdir(self.base):
            if _mountpoints_under(self.base):
                raise LabError("mounts left under %s" % self.base)
            shutil.rmtree(self.base)

    def __enter__(self):
        return self.up()

    def __exit__(self, *exc):
        self.down()
