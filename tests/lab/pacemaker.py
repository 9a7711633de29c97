"""Corosync 3 (knet) + Pacemaker 2.1 on the lab's nodes, without systemd.

LAB ONLY: the cluster runs with ``stonith-enabled=false``: there is no fencing
device here, so a node that stops talking (SIGKILL of corosync, link down) is not
fenced, and both nodes may start the same resource (split brain). Production
clusters need fencing (a STONITH device or SBD); the site's own ownership lock is
what keeps a second copy of a site from running in the lab.

Every node gets, inside its own namespaces (written through its /etc and /var
overlays, so nothing of the host changes): ``/etc/corosync/corosync.conf`` and
``authkey``, a seeded first CIB (``stonith-enabled=false``, ``dc-deadtime``, made
with ``cibadmin --empty`` + ``CIB_file=... crm_attribute``: never a hand-written
feature set), log directories under its private ``/var/log``. Daemons are started
detached (PID 1 is their parent) and found again by namespace and name.
The cluster is the cluster-software step that precedes the collection's build
order: the roles expect an existing cluster.
"""

import os
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET

from .core import LabError, _kill_pids, _run, pid_alive

_BINARIES = ("corosync", "pacemakerd", "cibadmin", "crm_attribute", "crm_mon",
             "corosync-keygen", "corosync-cfgtool", "corosync-quorumtool")


def pacemaker_unavailable_reason():
    """Why the lab cannot run a cluster here, or None when it can."""
    missing = [b for b in _BINARIES if shutil.which(b) is None]
    if missing:
        return ("the lab's cluster needs %s (apt-get install $(grep -v '^#' "
                "tests/apt-packages-pacemaker.txt))" % ", ".join(missing))
    return None


class Cluster:
    """The cluster stack of a lab. Made by ``Lab.up(pacemaker=True)``; also usable alone."""

    def __init__(self, lab, token_ms=3000, dc_deadtime="2s", cluster_name=None):
        self.lab = lab
        self.token_ms = int(token_ms)
        self.dc_deadtime = dc_deadtime
        self.cluster_name = cluster_name or lab.config.name
        self.dir = os.path.join(lab.base, "pacemaker")

    def options(self):
        """Constructor keywords (saved with the lab state, so a later CLI call knows them)."""
        return {"token_ms": self.token_ms, "dc_deadtime": self.dc_deadtime,
                "cluster_name": self.cluster_name}

    # ------------------------------------------------------------------ configuration
    def corosync_conf(self):
        nodes = list(self.lab.nodes.values())
        out = ["totem {", "    version: 2", "    cluster_name: %s" % self.cluster_name,
               "    transport: knet", "    token: %d" % self.token_ms,
               "    crypto_cipher: aes256", "    crypto_hash: sha256", "}", "nodelist {"]
        for n in nodes:
            out += ["    node {", "        name: %s" % n.name, "        nodeid: %d" % n.index,
                    "        ring0_addr: %s" % n.address, "    }"]
        out += ["}", "quorum {", "    provider: corosync_votequorum"]
        if len(nodes) == 2:
            out.append("    two_node: 1")
        out += ["}", "logging {", "    to_logfile: yes",
                "    logfile: /var/log/cluster/corosync.log", "    to_syslog: no",
                "    to_stderr: no", "    timestamp: on", "}"]
        return "\n".join(out) + "\n"

    def prepare(self):
        """Write every node's configuration and first CIB (cluster not running)."""
        reason = pacemaker_unavailable_reason()
        if reason:
            raise LabError(reason)
        os.makedirs(self.dir, exist_ok=True)
        authkey = os.path.join(self.dir, "authkey")
        if not os.path.exists(authkey):
            _run(["corosync-keygen", "-k", authkey])
        for node in self.lab.nodes:
            self.prepare_node(node, authkey)

    def prepare_node(self, node, authkey):
        lab = self.lab
        n = lab.node(node)
        lab.write_file(node, "/etc/corosync/corosync.conf", self.corosync_conf(), 0o644)
        # binary key: copied by install(1) running in the node (the lab dir is visible there)
        lab.nsx(node, "install", "-m", "0400", "-o", "root", "-g", "root", authkey,
                "/etc/corosync/authkey")
        # /var/log of a node is private and starts empty: the directories the packages made
        varlog = os.path.join(n.state, "var-log")
        for d in ("pacemaker", "crmsh"):  # crm dies without /var/log/crmsh
            src = os.path.join("/var/log", d)
            if os.path.isdir(src) and not os.path.exists(os.path.join(varlog, d)):
                _run(["cp", "-a", src, os.path.join(varlog, d)])
        os.makedirs(os.path.join(varlog, "cluster"), exist_ok=True)
        self.prepare_run(node)
        # first CIB, made with the installed pacemaker's own tools and feature set
        cib = "/var/lib/pacemaker/cib/cib.xml"
        script = (
            'set -e; rm -f /var/lib/pacemaker/cib/cib*; cibadmin --empty > "$1"; '
            'CIB_file="$1" crm_attribute --type crm_config --name stonith-enabled --update false; '
            'CIB_file="$1" crm_attribute --type crm_config --name dc-deadtime --update "$2"; '
            'chown hacluster:haclient "$1"; chmod 0600 "$1"')
        lab.nsx(node, "sh", "-c", script, "sh", cib, self.dc_deadtime)

    def prepare_run(self, node):
        """Directories the cluster stack needs in a fresh /run of node."""
        run = os.path.join(self.lab.node(node).state, "run")
        os.makedirs(os.path.join(run, "resource-agents"), exist_ok=True)

    # ------------------------------------------------------------------ daemons
    def daemon_pids(self, node, comm):
        """Live pids of processes named comm on node."""
        out = []
        for pid in self.lab.pids(node):
            try:
                with open("/proc/%d/comm" % pid) as fh:
                    if fh.read().strip() == comm:
                        out.append(pid)
            except OSError:
                pass
        return out

    def _log(self, node, name):
        return os.path.join(self.lab.node(node).state, "var-log", name)

    def start_node(self, node):
        """Start corosync, wait until it answers, start pacemakerd (does not wait for online)."""
        lab = self.lab
        if not self.daemon_pids(node, "corosync"):
            lab.start_daemon(node, "corosync", "-f", log=self._log(node, "corosync.stdout"))
        _wait(lambda: lab.nsx(node, "corosync-cfgtool", "-s", check=False).returncode == 0,
              30, "corosync on %s did not come up (see %s)"
              % (node, self._log(node, "cluster/corosync.log")))
        if not self.daemon_pids(node, "pacemakerd"):
            # no syslog here: pacemaker logs to its file only
            lab.start_daemon(node, "env", "PCMK_logfile=/var/log/pacemaker/pacemaker.log",
                             "PCMK_logfacility=none", "pacemakerd",
                             log=self._log(node, "pacemakerd.stdout"))

    def stop_node(self, node, timeout=120):
        """Orderly stop: pacemakerd first (moves resources away), then corosync."""
        for comm, limit in (("pacemakerd", timeout), ("corosync", 30)):
            pids = self.daemon_pids(node, comm)
            for pid in pids:
                try:
                    os.kill(pid, 15)
                except ProcessLookupError:
                    pass
            _wait(lambda: not any(pid_alive(p) for p in pids), limit,
                  "%s on %s did not stop" % (comm, node))

    def kill_corosync(self, node):
        """SIGKILL corosync only (without fencing: split brain follows)."""
        _kill_pids(self.daemon_pids(node, "corosync"))

    def start(self, timeout=90):
        """prepare(), start every node, wait until all are online with a DC."""
        self.prepare()
        for node in self.lab.nodes:
            self.start_node(node)
        self.wait_online(timeout=timeout)

    # ------------------------------------------------------------------ queries
    def crm_mon(self, node, *args):
        return self.lab.nsx(node, "crm_mon", "-1", *args, check=False)

    def state(self, node):
        """{'dc': name or None, 'online': [names], 'resources': {id: [nodes]}} seen from node."""
        cp = self.crm_mon(node, "--output-as=xml")
        if cp.returncode != 0:
            return None
        try:
            root = ET.fromstring(cp.stdout)
        except ET.ParseError:
            return None
        dc = root.find("./summary/current_dc")
        online = [e.get("name") for e in root.findall("./nodes/node") if e.get("online") == "true"]
        res = {}
        for r in root.iter("resource"):
            res[r.get("id")] = [e.get("name") for e in r.findall("node")]
        return {"dc": dc.get("name") if dc is not None and dc.get("present") == "true" else None,
                "online": sorted(online), "resources": res}

    def live_nodes(self):
        return [n for n in self.lab.nodes
                if self.daemon_pids(n, "pacemakerd") and self.daemon_pids(n, "corosync")]

    def wait_online(self, nodes=None, timeout=90):
        """Wait until every node in nodes (default: all) is online and a DC is elected."""
        want = sorted(nodes or self.lab.nodes)

        def ok():
            for n in want:
                st = self.state(n)
                if not st or not st["dc"] or any(w not in st["online"] for w in want):
                    return False
            return True
        _wait(ok, timeout, lambda: "cluster not online within %ss: %s"
              % (timeout, self.status_text()))

    def status_text(self):
        live = self.live_nodes()
        if not live:
            return "no node runs pacemaker"
        return self.crm_mon(live[0], "-r").stdout


def _wait(pred, timeout, message, interval=0.1):
    end = time.monotonic() + timeout
    while True:
        try:
            if pred():
                return
        except (LabError, subprocess.SubprocessError):
            pass
        if time.monotonic() > end:
            raise LabError(message() if callable(message) else message)
        time.sleep(interval)
