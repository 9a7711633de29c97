"""``ocf:cjc:cjcsite``: the OCF resource agent of a cluster site (guide §3-§6).

Installed by :func:`..install.install_engine` at
``<root>/usr/lib/ocf/resource.d/cjc/cjcsite`` as a small POSIX shell script
(:func:`agent_script`): ``meta-data`` and ``usage`` are answered by the script
itself (so any user, ``nobody`` included, and a node without the engine's
interpreter can read them); every other action runs :func:`main` here.

Actions (resource-agents ``ra-dev-guide``; functions ``site_<action>``):

``start``
    validate; already running -> 0; otherwise run ``cjcpw <site> <db>`` (the
    monitored owner) in its own session in the background, then poll ``monitor``
    until the site serves -> 0. cjcpw ending first -> 1 with its reason (exit 5:
    the site is owned by a live owner elsewhere -- the split-brain guard; 4: boot
    failed or exceeded BOOT_TIMEOUT). Under Pacemaker, cjcpw runs below a tiny
    ``sh`` watcher: when cjcpw exits non-zero after the start succeeded (a daemon
    died: exit 3; or cjcpw itself was killed), the watcher tells the cluster at
    once with ``crm_resource --fail`` -- the exit of cjcpw is what the cluster
    watches (guide §2.1.4), without waiting for the next monitor.
``stop``
    nothing of the site runs here -> 0; otherwise ``cjcpw -stop <site>`` (orderly,
    bounded by ``site.conf``), then SIGKILL of whatever of the site is left on
    this node; 0 once nothing is left, else 1 (the cluster then fences).
``monitor``
    0 when the owner (cjcpw) of the site lives on this node (pid record: same pid,
    same start time, not a zombie) and the site's comagent answers ok on its root-only
    ``health`` socket (docs/security.md, "Clients that are slow, many or hostile") with
    every daemon's pid record alive (in ``maintenance=ON``
    cjcpw alone counts as running); 7 when nothing of the site runs here,
    including when the shared disk is not mounted here (a probe on the standby);
    1 when it runs only in part (a daemon or the owner died, orphans left: jobs
    without their cjcpw still hold the ownership lock, so they must be stopped here
    before the other node can start the site).
``validate-all``
    6 for a bad parameter, 5 when the engine is not installed, 4 when the DB is
    not writable; when probing or when the disk is not mounted here, the shared
    storage is not checked.

Exit statuses are the OCF ones; ``ocf-exit-reason:`` lines go to stderr, like
``ocf_exit_reason``. The cluster enforces the action timeouts; the advised ones in
the meta-data are above ``BOOT_TIMEOUT`` (start) and ``STOP_TIMEOUT`` (stop).
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time

from ..site import endpoints
from ..site import status as site_status
from ..errors import CjcError
from ..config.layout import C_LOCALE, CJCPW, Layout
from ..config.daemonconf import comagent_endpoints
from ..config.siteconf import DEFAULT_TIMINGS, MONITOR_INTERVAL, MONITOR_TIMEOUT, TIMEOUT_MARGIN, load_site_conf
from ..site.registry import check_db_path_syntax, cluster_site

PROVIDER = "cjc"
AGENT_NAME = "cjcsite"
AGENT_PATH = "/usr/lib/ocf/resource.d/%s/%s" % (PROVIDER, AGENT_NAME)

OCF_SUCCESS, OCF_ERR_GENERIC, OCF_ERR_ARGS, OCF_ERR_UNIMPLEMENTED = 0, 1, 2, 3
OCF_ERR_PERM, OCF_ERR_INSTALLED, OCF_ERR_CONFIGURED, OCF_NOT_RUNNING = 4, 5, 6, 7

POLL = 0.1
#: the watcher of cjcpw, ``sh -c WATCHER cjcsite-watch MARKER RESOURCE NODE CJCPW-ARGV...``:
#: runs cjcpw and reports a non-zero exit to the cluster, once, if the start had
#: succeeded (MARKER present; an orderly stop removes it first)
WATCHER = ('m=$1 r=$2 n=$3; shift 3; "$@"; rc=$?; '
           'if [ "$rc" -ne 0 ] && [ -e "$m" ]; then rm -f "$m"; '
           'crm_resource --fail --resource "$r" --node "$n" >/dev/null 2>&1; fi; exit "$rc"')
HEALTH_TIMEOUT = 5.0
#: seconds of the cluster's action timeout the agent keeps for itself: to report why, and to end what it
#: started, before the cluster kills it (``OCF_RESKEY_CRM_meta_timeout``)
RESERVE = 3.0
#: ``OCF_CHECK_LEVEL`` of the deep monitor: also ``GET /health`` on the site's own address, as clients reach it
DEEP = 10
DEEP_INTERVAL = 60


def metadata(timings=DEFAULT_TIMINGS):
    """The agent's meta-data XML (ra-api-1.dtd); timeouts derived from ``timings``."""
    start, stop = timings.advised_start_timeout, timings.advised_stop_timeout
    return """<?xml version="1.0"?>
<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">
<resource-agent name="{name}" version="1.1">
<version>1.1</version>
<longdesc lang="en">
Runs one cjc cluster site (a JobCenter-model batch site whose database lives on a
shared disk): start runs the site supervisor cjcpw (monitored: it exits when a site
daemon dies), stop runs cjcpw -stop (orderly, bounded by the site's site.conf), monitor
asks the site itself (owner alive, comagent health answering, every daemon serving).
The site's ownership lock on the shared disk refuses a second owner, so a start on one
node while the site still runs on another fails instead of running it twice; that is
not a substitute for fencing. Put it in a group after the floating IP (IPaddr2) and the
file system of the shared disk.
Advised timeouts (those cjc_cluster_service writes): start = BOOT_TIMEOUT ({boot} s by
default) + {margin} s, stop = STOP_TIMEOUT ({stop_s} s by default) + {margin} s, from the
site's site.conf. The agent keeps its own deadlines inside the action's timeout.
Monitor depth 0 (every {interval} s) asks the site's root-only health socket; depth {deep}
(OCF_CHECK_LEVEL={deep}) also asks comagent's /health on the site's address.
</longdesc>
<shortdesc lang="en">cjc cluster site (cjcpw)</shortdesc>
<parameters>
<parameter name="site" unique="1" required="1">
<longdesc lang="en">Site name: the canonical (fully qualified) name of the site's relocatable address, as given to cjcmksite.</longdesc>
<shortdesc lang="en">site name</shortdesc>
<content type="string" default="" />
</parameter>
<parameter name="db_path" unique="1" required="1">
<longdesc lang="en">Site database path on the shared disk (the cjcmksite DB path), e.g. /mnt/jobdb.</longdesc>
<shortdesc lang="en">site database path</shortdesc>
<content type="string" default="" />
</parameter>
<parameter name="root" unique="0" required="0">
<longdesc lang="en">Root prefix of the engine's files on this node (/ on a real node).</longdesc>
<shortdesc lang="en">engine root prefix</shortdesc>
<content type="string" default="/" />
</parameter>
</parameters>
<actions>
<action name="start" timeout="{start}s" />
<action name="stop" timeout="{stop}s" />
<action name="monitor" timeout="{monitor}s" interval="{interval}s" depth="0" />
<action name="monitor" timeout="{monitor}s" interval="{deep_interval}s" depth="{deep}" />
<action name="validate-all" timeout="20s" />
<action name="meta-data" timeout="5s" />
</actions>
</resource-agent>
""".format(name=AGENT_NAME, start=start, stop=stop, boot=timings.boot_timeout,
           stop_s=timings.total_stop_seconds, margin=TIMEOUT_MARGIN, monitor=MONITOR_TIMEOUT,
           interval=MONITOR_INTERVAL, deep_interval=DEEP_INTERVAL, deep=DEEP)


USAGE = "usage: %s {start|stop|monitor|validate-all|meta-data|usage}" % AGENT_NAME

_SCRIPT = """#!/bin/sh
# OCF resource agent ocf:{provider}:{name} -- a cjc cluster site. Installed by cjc; do not edit.
# meta-data and usage are answered here; every other action runs cjc.ocf.agent ({lib}/cjc).
: "${{OCF_RESKEY_root:=/}}"
case "$1" in
meta-data)
cat <<'END_OF_METADATA'
{metadata}END_OF_METADATA
exit 0;;
usage|help)
echo "{usage}"
exit 0;;
esac
LC_ALL=C; LANG=C; export LC_ALL LANG
exec {python} -c 'import sys; sys.path.insert(0, sys.argv.pop(1)); from cjc.ocf.agent import main; sys.exit(main())' {lib} "$@"
"""


def agent_script(python, lib):
    """Text of the installed agent: shell for meta-data/usage, ``python`` for the rest."""
    for value in (python, lib):
        if not value or any(c in value for c in " '\"\\$`\n;&|<>()"):
            raise CjcError("cannot install the OCF agent with path %r: it must not need quoting" % (value,))
    return _SCRIPT.format(provider=PROVIDER, name=AGENT_NAME, lib=lib, python=python,
                          metadata=metadata(), usage=USAGE)


def exit_reason(message):
    """What ``ocf_exit_reason`` does: one line on stderr the cluster shows as the reason."""
    sys.stderr.write("ocf-exit-reason:%s\n" % message)
    sys.stderr.flush()


def _log(message):
    sys.stderr.write("%s: %s\n" % (AGENT_NAME, message))
    sys.stderr.flush()


class SiteAgent:
    """The agent for one resource instance; ``environ`` holds the OCF_RESKEY_* parameters."""

    def __init__(self, environ):
        self.environ = environ
        self.site_name = environ.get("OCF_RESKEY_site", "")
        self.db_path = environ.get("OCF_RESKEY_db_path", "")
        self.layout = Layout(environ.get("OCF_RESKEY_root") or "/") \
            if (environ.get("OCF_RESKEY_root") or "/").startswith("/") else None
        self.site = None

    # -- helpers -----------------------------------------------------------------
    def is_probe(self):
        return self.environ.get("__OCF_ACTION", "monitor") == "monitor" and \
            self.environ.get("OCF_RESKEY_CRM_meta_interval", "0") in ("0", "")

    def disk_present(self):
        """True when the site DB is visible here (shared disk mounted, site made)."""
        return os.path.isfile(os.path.join(self.db_path, "nqs", "siteinfo"))

    def _site(self):
        if self.site is None:
            self.site = cluster_site(self.db_path)
        return self.site

    def timings(self):
        try:
            return load_site_conf(os.path.join(self.db_path, "etc", "site.conf"))[0]
        except (OSError, CjcError):
            return DEFAULT_TIMINGS

    def deadline(self, seconds):
        """The monotonic time ``seconds`` from now, but within this action's cluster timeout.

        The cluster kills an action at ``OCF_RESKEY_CRM_meta_timeout`` (ms); ending
        :data:`RESERVE` s before lets the agent say why and end what it started.
        """
        try:
            budget = int(self.environ.get("OCF_RESKEY_CRM_meta_timeout", "")) / 1000.0 - RESERVE
        except ValueError:
            budget = None
        return time.monotonic() + (seconds if budget is None else max(min(seconds, budget), 1.0))

    def command(self, documented):
        return self.layout.path(documented)

    def _env(self):
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", **C_LOCALE,
               "CJC_ROOT": self.layout.root}
        return env

    def marker(self):
        """This node's "started by the cluster" mark of the instance (the watcher reports only then)."""
        directory = self.environ.get("HA_RSCTMP") or "/run/resource-agents"
        instance = self.environ.get("OCF_RESOURCE_INSTANCE") or "cjcsite"
        return os.path.join(directory, "cjcsite-%s.serving" % instance.replace("/", "_"))

    def _unmark(self):
        try:
            os.unlink(self.marker())
        except FileNotFoundError:
            pass

    def owner_argv(self):
        """argv that runs the monitored cjcpw (below the watcher when under Pacemaker)."""
        argv = [self.command(CJCPW), self.site_name, self.db_path]
        resource = self.environ.get("OCF_RESOURCE_INSTANCE")
        node = self.environ.get("OCF_RESKEY_CRM_meta_on_node")
        if resource and node and _which("crm_resource", self._env()["PATH"]):
            argv = ["/bin/sh", "-c", WATCHER, "cjcsite-watch", self.marker(), resource, node] + argv
        return argv

    def status(self):
        """The site's status on this node (site/status.py: owner, daemons), read afresh."""
        return site_status.read_status(self._site())

    def owner(self):
        """The owner record if the owner lives on this node, else None."""
        return site_status.live_owner(self.status())

    def health(self):
        """None when the site's comagent answers on its root-only ``health`` socket with ok, else
        what is wrong. That socket is the monitor's own (no user can connect to it, a thread
        nothing else uses answers it): a slow or flooding client of comagent's HTTP port
        cannot make the monitor time out and the cluster restart a healthy site."""
        path = endpoints.endpoint(self.layout, self._site().spool, "health")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(max(0.5, min(HEALTH_TIMEOUT, self.deadline(HEALTH_TIMEOUT) - time.monotonic())))
                endpoints.connect(conn, path)
                uid = endpoints.peer_uid(conn)
                if uid != 0:
                    return "comagent health socket %s is served by uid %d, not root" % (path, uid)
                data = b""
                while True:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            answer = json.loads(data.decode() or "{}")
        except (OSError, ValueError) as err:
            return "comagent %s does not answer: %s" % (path, err)
        if not isinstance(answer, dict) or answer.get("ok") is not True:
            return "comagent %s answered %r" % (path, answer)
        return None

    def deep_health(self):
        """None when comagent answers ``GET /health`` with ok on the site's own address, else what is wrong."""
        address, port = comagent_endpoints(self._site())[-1]
        conn = http.client.HTTPConnection(address, port, timeout=max(
            0.5, min(HEALTH_TIMEOUT, self.deadline(HEALTH_TIMEOUT) - time.monotonic())))
        try:
            conn.request("GET", "/health")
            reply = conn.getresponse()
            answer = json.loads(reply.read().decode() or "{}")
        except (OSError, ValueError, http.client.HTTPException) as err:
            return "comagent http://%s:%d/health does not answer: %s" % (address, port, err)
        finally:
            conn.close()
        if reply.status != 200 or not isinstance(answer, dict) or answer.get("ok") is not True:
            return "comagent http://%s:%d/health answered %d %r" % (address, port, reply.status, answer)
        return None

    def check_level(self):
        try:
            return int(self.environ.get("OCF_CHECK_LEVEL") or 0)
        except ValueError:
            return 0

    # -- actions -----------------------------------------------------------------
    def site_validate(self, storage=True):
        """OCF validate-all; ``storage`` False skips the shared-disk checks (probes)."""
        if not self.site_name:
            exit_reason("parameter site is required (the site name given to cjcmksite)")
            return OCF_ERR_CONFIGURED
        if not self.db_path:
            exit_reason("parameter db_path is required (the site database path)")
            return OCF_ERR_CONFIGURED
        if self.layout is None:
            exit_reason("parameter root=%r must be an absolute path" % self.environ.get("OCF_RESKEY_root"))
            return OCF_ERR_CONFIGURED
        try:
            self.db_path = check_db_path_syntax(self.db_path)
        except CjcError as err:
            exit_reason(str(err))
            return OCF_ERR_CONFIGURED
        cjcpw = self.command(CJCPW)
        if not os.access(cjcpw, os.X_OK):
            exit_reason("%s is not installed (install the cjc engine on this node)" % cjcpw)
            return OCF_ERR_INSTALLED
        if not storage or not self.disk_present():
            return OCF_SUCCESS  # the disk is mounted on the active node only: nothing more to check here
        info = self._site()
        if info.name and info.name != self.site_name:
            exit_reason("%s holds site %s, not %s: fix parameter site or db_path"
                        % (self.db_path, info.name, self.site_name))
            return OCF_ERR_CONFIGURED
        if not os.access(os.path.join(self.db_path, "nqs"), os.W_OK):
            exit_reason("%s/nqs is not writable here" % self.db_path)
            return OCF_ERR_PERM
        return OCF_SUCCESS

    def site_monitor(self, report=True, orphans=True):
        if not self.disk_present():
            # A disk unmounted lazily (umount -l) or gone under a running site: its processes
            # live on. "Not running" would let the cluster start the site on another node.
            left = self._here()
            if left:
                if report:
                    exit_reason("site database %s is gone but processes of the site still run here: %s"
                                % (self.db_path, left[:10]))
                return OCF_ERR_GENERIC
            if not self.is_probe() and os.path.exists(self.marker()):
                # started here and never stopped: what runs of it cannot be read without its disk (pid
                # records, owner record). "Not running" would let the cluster start it elsewhere
                # without a stop here; a failure makes it stop here first (and the stop ends it all).
                if report:
                    exit_reason("site database %s vanished under the site started on this node: the stop must "
                                "end what is left of it here" % self.db_path)
                return OCF_ERR_GENERIC
            if report and not self.is_probe():
                exit_reason("site database %s is not accessible on this node (shared disk not mounted?)"
                            % self.db_path)
            return OCF_NOT_RUNNING
        status = self.status()
        owner = site_status.live_owner(status)
        alive = site_status.serving_daemons(status)
        if owner is None:
            if alive:
                if report:
                    exit_reason("site daemons run without their owner cjcpw: %s"
                                % ", ".join("%s %d" % item for item in sorted(alive.items())))
                return OCF_ERR_GENERIC
            left = self.processes_here() if orphans else []
            if left:
                # they hold the ownership lock: a start on the other node would be refused
                if report:
                    exit_reason("processes of the site run without their cjcpw: %s" % left[:10])
                return OCF_ERR_GENERIC
            return OCF_NOT_RUNNING
        if owner.get("maintenance"):
            return OCF_SUCCESS  # maintenance=ON: cjcpw alone, the operator runs nqsstart/nqsstop
        if owner.get("daemons") != "up":
            if report:
                exit_reason("cjcpw pid %s lives but the daemons are %s" % (owner["pid"], owner.get("daemons")))
            return OCF_ERR_GENERIC
        missing = sorted(set(status["daemons"]) - set(alive))
        if missing:
            if report:
                exit_reason("site daemon(s) not running: %s" % ", ".join(missing))
            return OCF_ERR_GENERIC
        problem = self.health() or (self.deep_health() if self.check_level() >= DEEP else None)
        if problem:
            if report:
                exit_reason(problem)
            return OCF_ERR_GENERIC
        return OCF_SUCCESS

    def site_start(self):
        rc = self.site_validate()
        if rc != OCF_SUCCESS:
            return rc
        if not self.disk_present():
            # a soft error: the disk may come (its Filesystem resource), or the group goes to another node;
            # 5 would ban this node for good
            exit_reason("site database %s is not accessible on this node (is the shared disk mounted?)"
                        % self.db_path)
            return OCF_ERR_GENERIC
        state = self.site_monitor(report=False)
        if state == OCF_SUCCESS:
            return OCF_SUCCESS
        if state != OCF_NOT_RUNNING:
            _log("site %s runs only in part here: stopping what is left first" % self.site_name)
            if self.site_stop() != OCF_SUCCESS:
                return OCF_ERR_GENERIC
        log_dir = os.path.join(self.db_path, "nqs", "log")
        os.makedirs(log_dir, exist_ok=True)
        self._unmark()
        out = open(os.path.join(log_dir, "cjcpw-ocf-%s.out" % socket.gethostname()), "ab")
        try:
            proc = subprocess.Popen(self.owner_argv(), env=self._env(),
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=out, close_fds=True,
                                    start_new_session=True)
        finally:
            out.close()
        deadline = self.deadline(self.timings().boot_timeout + 10)
        while True:
            status = proc.poll()
            if status is not None:
                return self._start_failed(status)
            # no /proc scan for orphans while cjcpw boots: its own daemons are not orphans, and
            # the scan would take CPU from the boot
            if self.site_monitor(report=False, orphans=False) == OCF_SUCCESS:
                owner = self.owner() or {}
                try:
                    os.makedirs(os.path.dirname(self.marker()), exist_ok=True)
                    with open(self.marker(), "w") as mark:
                        mark.write("%s\n" % owner.get("pid"))
                except OSError as err:
                    _log("cannot write %s (%s): cjcpw's exit is seen by the monitor only" % (self.marker(), err))
                _log("site %s serving (cjcpw pid %s)" % (self.site_name, owner.get("pid")))
                return OCF_SUCCESS
            if time.monotonic() > deadline:
                exit_reason("site %s was not serving within BOOT_TIMEOUT (or the start's timeout): the cluster's "
                            "stop ends what started" % self.site_name)
                return OCF_ERR_GENERIC
            time.sleep(POLL)

    def _start_failed(self, status):
        why = {5: "the site is owned by a live cjcpw elsewhere (split-brain guard)",
               4: "the site did not start within BOOT_TIMEOUT or a daemon failed during start",
               3: "a site daemon died right after start"}.get(status, "cjcpw exited with status %d" % status)
        record = self.status()["owner"]  # as written: the owner elsewhere, when it is one
        if status == 5 and record:
            why += ": cjcpw pid %s on host %s" % (record.get("pid"), record.get("host"))
        exit_reason("cjcpw %s %s: %s; see %s/nqs/log" % (self.site_name, self.db_path, why, self.db_path))
        return OCF_ERR_GENERIC

    def processes_here(self):
        """pids of every process of the site (daemons, jobs, what jobs left) on this node.

        A process of the site is a member of its control group on this node
        (site/processes.py); "on this node" is also "in this agent's mount namespace": on a
        real node that is every process the cluster started, and on the lab's namespace
        nodes (no PID namespace) it keeps the other node's processes out.
        """
        from ..site.processes import site_processes
        try:
            mine = os.readlink("/proc/self/ns/mnt")
        except OSError:
            mine = None
        found = []
        for process in site_processes(self._site().spool):
            try:
                if mine is None or os.readlink("/proc/%d/ns/mnt" % process.pid) == mine:
                    found.append(process.pid)
            except OSError:
                continue
        return sorted(found)

    def _here(self):
        """pids of the site's owner, daemons and other processes on this node."""
        status = self.status()
        owner = site_status.live_owner(status)
        pids = list(site_status.serving_daemons(status).values())
        pids = ([owner["pid"]] if owner else [self.marked_owner()] if self.marked_owner() else []) + pids
        return pids + [pid for pid in self.processes_here() if pid not in pids]

    def marked_owner(self):
        """pid of the cjcpw this node's start marked, while it runs this site; else None.

        The owner record lives on the site's disk; the mark is node-local, so the owner is
        still found when the disk was unmounted lazily or vanished under it.
        """
        try:
            with open(self.marker(), encoding="utf-8") as handle:
                pid = int(handle.read().split()[0])
            with open("/proc/%d/cmdline" % pid, "rb") as handle:
                argv = handle.read().split(b"\0")
        except (OSError, ValueError, IndexError):
            return None
        return pid if os.fsencode(self.db_path) in argv else None

    def site_stop(self):
        rc = self.site_validate(storage=False)
        if rc != OCF_SUCCESS:
            return OCF_SUCCESS if rc == OCF_ERR_INSTALLED else rc  # not installed: nothing of it runs
        marked = self.marked_owner()
        self._unmark()  # an orderly stop is not a failure for the watcher to report
        if not self._here() and not marked:
            return OCF_SUCCESS
        timings = self.timings()
        final = self.deadline(timings.total_stop_seconds + 30)  # everything, the SIGKILL round included
        if not self.disk_present():
            # lazily unmounted or gone: cjcpw cannot stop in order what it cannot see; SIGKILL below
            _log("site database %s is gone: ending what runs of site %s here without cjcpw -stop"
                 % (self.db_path, self.site_name))
        else:
            try:
                done = subprocess.run([self.command(CJCPW), "-stop", self.site_name], env=self._env(),
                                      stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False,
                                      timeout=max(1.0, min(timings.total_stop_seconds + 20,
                                                           final - 10 - time.monotonic())))
                if done.returncode != 0:
                    _log("cjcpw -stop %s: rc=%d %s" % (self.site_name, done.returncode,
                                                       (done.stderr or done.stdout).strip()))
            except subprocess.TimeoutExpired:
                _log("cjcpw -stop %s did not return within STOP_TIMEOUT" % self.site_name)
        left = self._here() + [pid for pid in [marked] if pid and _alive(pid)]
        if left:  # stop is a force operation: SIGKILL before giving up (a failed stop gets us fenced)
            _log("SIGKILL to what is left of site %s: %s" % (self.site_name, left))
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            deadline = min(time.monotonic() + 10, final)
            while (self._here() or [pid for pid in left if _alive(pid)]) and time.monotonic() < deadline:
                time.sleep(POLL)
        left = self._here() + [pid for pid in left if _alive(pid)]
        if left:
            exit_reason("site %s still runs after stop and SIGKILL: pids %s" % (self.site_name, left))
            return OCF_ERR_GENERIC
        return OCF_SUCCESS


def _alive(pid):
    """Whether ``pid`` exists and has not ended (a zombie has)."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def _which(name, path):
    for directory in path.split(os.pathsep):
        if os.access(os.path.join(directory, name), os.X_OK):
            return os.path.join(directory, name)
    return None


def main(argv=None, environ=None):
    argv = sys.argv[1:] if argv is None else argv
    environ = os.environ if environ is None else environ
    action = argv[0] if argv else ""
    if action == "meta-data":
        sys.stdout.write(metadata())
        return OCF_SUCCESS
    if action in ("usage", "help"):
        print(USAGE)
        return OCF_SUCCESS
    if action not in ("start", "stop", "monitor", "status", "validate-all"):
        sys.stderr.write(USAGE + "\n")
        return OCF_ERR_UNIMPLEMENTED
    environ = dict(environ, __OCF_ACTION=action)
    agent = SiteAgent(environ)
    try:
        if action == "start":
            return agent.site_start()
        if action == "stop":
            return agent.site_stop()
        if action == "validate-all":
            return agent.site_validate(storage=not agent.is_probe())
        rc = agent.site_validate(storage=False)
        if rc != OCF_SUCCESS:
            # a probe on a node without the engine: not running here, never an install error
            return OCF_NOT_RUNNING if agent.is_probe() and rc == OCF_ERR_INSTALLED else rc
        return agent.site_monitor()
    except CjcError as err:
        exit_reason(str(err))
        return OCF_ERR_GENERIC
