"""A cjc site under the lab's Pacemaker cluster, and failover drills with jobs in flight.

``SiteCluster(lab)`` (a lab made with ``Lab.up(pacemaker=True)``):

* ``prepare()``: engine on every node, the site made on the first node
  (cjcmksite), registered with Pacemaker through the engine API of
  ``cjc_cluster_service`` (group: IPaddr2 + ``ocf:cjc:cjcsite``), queues of every
  restart attribute;
* ``drill(trigger)``: submits a job of each restart flag (ENABLE, ``qsub -nr``) into
  each queue, waits until all run on the active node, pulls the trigger, waits
  until every job that should run again runs on the other node, and returns what
  happened: every job's fate against the documented rule, the recovery time
  (trigger -> jobs re-running on the standby), and whether any job ever had
  processes on both nodes at once (sampled all along).

Triggers: ``kill_cjcpw`` (SIGKILL of the owner on the active node),
``standby`` (``crm_standby --update on``), ``kill_node`` (``Lab.kill_node``: link
down + SIGKILL of everything), ``split_brain`` (SIGKILL of corosync on the active
node, no fencing: the site's ownership lock must keep the one copy).

Job state is read from the site database on the shared disk (host path), and job
processes are found per node by namespace: the lab has no PID namespace.
"""

import json
import os
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
ENGINE = os.path.join(REPO, "plugins", "module_utils")
for _path in (ENGINE, os.path.join(REPO, "tests", "engine")):  # the engine; jobsite (test support)
    if _path not in sys.path:
        sys.path.insert(0, _path)

import jobsite  # noqa: E402
from cjc.jobs.drill import (DRILL_QUEUES, EXPECTED, JOB_SCRIPT, QUEUES, fates, format_rows,  # noqa: E402,F401
                       job_name, overlapping_runs, queue_lines, read_jobs, recovered)
from cjc.site.pidrecords import pid_exists  # noqa: E402
from cjc.jobs.store import open_store  # noqa: E402

TRIGGERS = ("kill_cjcpw", "standby", "kill_node", "split_brain")


class DrillError(AssertionError):
    """A drill step did not happen within its bound."""


def wait_until(predicate, seconds, what, interval=0.05):
    """:func:`jobsite.wait_until` raising DrillError (a drill step missed its bound)."""
    return jobsite.wait_until(predicate, seconds, what, interval, DrillError)


class SiteCluster:
    """One cjc site registered with the lab's Pacemaker cluster."""

    def __init__(self, lab, db_name=None, service="cjc-testsite", machine_id=200,
                 monitor_interval=2, python=sys.executable):
        if lab.pacemaker is None:
            raise DrillError("the lab has no cluster: Lab.up(pacemaker=True)")
        # a DB path of this lab's own: the engine finds a site's processes host-wide by their
        # CJC_SITE_SPOOL, and the lab has no PID namespace, so two labs using the same path
        # would stop each other's daemons
        db_name = db_name or "jobdb-%s" % lab.config.name
        self.lab = lab
        self.site = lab.site_fqdn
        self.db = "%s/%s" % (lab.config.shared_path, db_name)
        self.spool = os.path.join(lab.shared_dir, db_name, "nqs")  # host view of the site spool
        self.service = service
        self.machine_id = machine_id
        self.monitor_interval = monitor_interval
        self.python = python
        self.env = dict(os.environ, PYTHONPATH=ENGINE, LANG="C", LC_ALL="C")

    # ------------------------------------------------------------------ set-up
    def install(self):
        for node in self.lab.node_names:
            self.lab.nsx(node, self.python, "-m", "cjc.cli.install", "--root", "/", env=self.env)

    def make_site(self):
        first = self.lab.node_names[0]
        self.lab.move_vip(first)
        try:
            self.lab.nsx(first, "/usr/lib/nqs/cluster/cjcmksite", self.site, str(self.machine_id), self.db)
        finally:
            self.lab.release_vip()  # from here on the address belongs to Pacemaker (IPaddr2)

    def request(self, **extra):
        options = {"migration_threshold": 1, "resource_stickiness": 100, "ip_nic": self.lab.config.iface,
                   "wait": 90}
        options.update(extra.pop("options", {}))
        request = {"product": "pacemaker", "site": self.site, "db_path": self.db,
                   "address": "%s/%d" % (self.lab.site_address, self.lab.config.prefixlen),
                   "service_name": self.service, "monitor_interval": self.monitor_interval,
                   "options": options}
        request.update(extra)
        return request

    def register(self, node=None, check=False, **extra):
        """cjc_cluster_service's engine call, run on ``node``; returns its result dict."""
        node = node or self.lab.node_names[0]
        code = (
            "import json, os, subprocess, sys\n"
            "from cjc.plan import products\n"
            "def run(argv, env):\n"
            "    cp = subprocess.run(argv, env=dict(os.environ, **env), capture_output=True, text=True)\n"
            "    return cp.returncode, cp.stdout, cp.stderr\n"
            "request = products.make_request(**json.loads(sys.argv[1]))\n"
            "plan = products.plan_service(request, run)\n"
            "node = None\n"
            "if plan.changed and sys.argv[2] != 'check':\n"
            "    node = products.apply_service(plan, run)\n"
            "print(json.dumps({'changed': plan.changed, 'actions': plan.actions, 'node': node,\n"
            "                  'diff': {'before': plan.before, 'after': plan.after}}))\n")
        done = self.lab.nsx(node, self.python, "-c", code, json.dumps(self.request(**extra)),
                            "check" if check else "apply", env=self.env, timeout=300)
        return json.loads(done.stdout)

    def qmgr(self, node, *lines):
        argv = ["/usr/bin/qmgr"]
        for line in lines:
            argv += ["-c", line]
        return self.lab.nsx(node, *argv, env=dict(self.env, NQS_SITE=self.site), check=False)

    def setup_queues(self, node):
        lines = queue_lines({q["name"] for q in self.queues()})
        if lines:
            done = self.qmgr(node, *lines)
            if done.returncode != 0:
                raise DrillError("qmgr failed: %s" % done.stderr)

    def prepare(self):
        """Engine on both nodes, site made, registered with Pacemaker, queues made. Returns the node."""
        self.install()
        self.make_site()
        result = self.register()
        node = result["node"] or self.active()
        self.setup_queues(node)
        return node

    # ------------------------------------------------------------------ state
    def _store(self):
        return open_store(self.spool)

    def read(self):
        """(jobs, outputs, queues) rows from one snapshot of the site database."""
        with self._store() as store:
            return read_jobs(store)

    def jobs(self):
        return self.read()[0]

    def queues(self):
        return self.read()[2]

    def owner(self):
        try:
            with open(os.path.join(self.spool, "run", "owner.pid")) as fh:
                return json.load(fh)
        except (OSError, ValueError):
            return None

    def group_node(self):
        """Node where every member of the group is Started, seen by a live node, or None."""
        for node in self.lab.pacemaker.live_nodes():
            state = self.lab.pacemaker.state(node)
            if not state:
                continue
            members = [r for r in state["resources"] if r.startswith(self.service + "-")]
            nodes = {tuple(state["resources"][r]) for r in members}
            if members and len(nodes) == 1:
                only = nodes.pop()
                return only[0] if len(only) == 1 else None
            return None
        return None

    def active(self, timeout=60):
        return wait_until(self.group_node, timeout, "group %s started on one node" % self.service)

    def job_processes(self):
        """{job id: {node, ...}} of live job processes of this site, by node namespace."""
        found = {}
        for node in self.lab.node_names:
            for pid in self.lab.pids(node):
                try:
                    with open("/proc/%d/environ" % pid, "rb") as fh:
                        env = dict(e.split(b"=", 1) for e in fh.read().split(b"\0") if b"=" in e)
                except OSError:
                    continue
                if env.get(b"CJC_SITE_SPOOL") == self.db.encode() + b"/nqs" and b"QSUB_REQID" in env:
                    job = int(env[b"QSUB_REQID"].split(b".")[0])
                    found.setdefault(job, set()).add(node)
        return found

    # ------------------------------------------------------------------ jobs
    def clear_jobs(self, node):
        """Delete every job still queued or running; start every queue (a clean round)."""
        live = [j["id"] for j in self.jobs() if j["state"] in ("QUEUED", "RUNNING")]
        for name in QUEUES:
            self.qmgr(node, "start queue %s" % name)
        if live:
            self.lab.nsx(node, "/usr/bin/qdel", *[str(i) for i in live],
                         env=dict(self.env, NQS_SITE=self.site), check=False)
        wait_until(lambda: not [j for j in self.jobs() if j["state"] in ("QUEUED", "RUNNING")], 30,
                   "old jobs to end")

    def submit(self, node):
        """One ENABLE and one DISABLE (qsub -nr) job per drill queue; {id: (queue, flag)}."""
        submitted = {}
        for queue in DRILL_QUEUES:
            for flag in ("ENABLE", "DISABLE"):
                argv = ["/usr/bin/qsub", "-q", queue, "-r", job_name(queue, flag)]
                if flag == "DISABLE":
                    argv.append("-nr")
                done = self.lab.nsx(node, *argv, input=JOB_SCRIPT, env=dict(self.env, NQS_SITE=self.site))
                submitted[int(done.stdout.split()[1].split(".")[0])] = (queue, flag)
        wait_until(lambda: all(j["state"] == "RUNNING" and j["pid"] and j["host"] == node
                               for j in self.jobs() if j["id"] in submitted), 30,
                   "the drill's jobs to run on %s" % node)
        return submitted

    # ------------------------------------------------------------------ triggers
    def pull(self, trigger, node):
        if trigger == "kill_cjcpw":
            owner = self.owner()
            if not owner or owner.get("host") != node:
                raise DrillError("no owner record of %s on %s: %s" % (self.site, node, owner))
            os.kill(owner["pid"], signal.SIGKILL)
        elif trigger == "standby":
            self.lab.nsx(node, "crm_standby", "--node", node, "--update", "on")
        elif trigger == "kill_node":
            self.lab.kill_node(node)
        elif trigger == "split_brain":
            self.lab.pacemaker.kill_corosync(node)
        else:
            raise DrillError("unknown trigger %r; use one of %s" % (trigger, ", ".join(TRIGGERS)))

    def heal(self, trigger, node):
        """Bring the failed node back as a standby (not for split_brain: see drill)."""
        other = [n for n in self.lab.node_names if n != node][0]
        if trigger == "standby":
            self.lab.nsx(other, "crm_standby", "--node", node, "--update", "off")
        elif trigger == "kill_node":
            self.lab.revive_node(node)
        self.lab.pacemaker.wait_online(timeout=90)
        self.lab.nsx(other, "crm_resource", "--cleanup", "--resource", self.service, check=False)
        wait_until(lambda: self.group_node() == other, 30, "group to stay on %s" % other)

    # ------------------------------------------------------------------ the drill
    def drill(self, trigger, heal=True):
        """One drill; returns a result dict (see module doc). Raises DrillError on a timeout."""
        active = self.active()
        standby = [n for n in self.lab.node_names if n != active][0]
        self.clear_jobs(active)
        submitted = self.submit(active)
        before = {j["id"]: j for j in self.jobs() if j["id"] in submitted}
        both = {}

        def sample():
            for job, nodes in self.job_processes().items():
                if job in submitted and len(nodes) > 1:
                    both[job] = sorted(nodes)

        t0, wall = time.monotonic(), time.time()
        self.pull(trigger, active)
        result = {"trigger": trigger, "from": active, "to": standby, "submitted": submitted, "t0_wall": wall}
        if trigger == "split_brain":
            return self._split_brain(result, before, sample, t0, both)

        before_runs = {i: j["runs"] for i, j in before.items()}

        def moved():
            sample()
            return recovered(self.jobs(), submitted, before_runs, standby)
        wait_until(moved, 90, "jobs re-running on %s after %s" % (standby, trigger), interval=0.02)
        result["recovery_s"] = time.monotonic() - t0
        wait_until(lambda: self.group_node() == standby, 60, "group Started on %s" % standby)
        result["group_s"] = time.monotonic() - t0
        time.sleep(1.0)  # settle: nothing more may happen to the jobs
        sample()
        jobs, outputs, queues = self.read()
        result["rows"], result["all_ok"] = fates(jobs, queues, submitted, standby)
        result["both_nodes"] = both
        result["overlapping_runs"] = overlapping_runs(jobs, outputs, submitted)
        result["stopped_queues"] = sorted(q["name"] for q in queues if not q["started"])
        if heal:
            self.heal(trigger, active)
        return result

    def _split_brain(self, result, before, sample, t0, both):
        """Corosync killed on the active node, no fencing: both nodes think they own the group."""
        active, standby = result["from"], result["to"]
        pcmk = self.lab.pacemaker

        def standby_tried():
            sample()
            state = pcmk.state(standby)
            if not state:
                return False
            ip = state["resources"].get(self.service + "-ip", [])
            return standby in ip  # the standby took the group over (without fencing it may)
        took = True
        try:
            wait_until(standby_tried, 45, "the standby to take the group over", interval=0.1)
        except DrillError:
            took = False
        # let the standby's start of the site run (and be refused) and settle
        time.sleep(6)
        sample()
        owner = self.owner()
        now = {j["id"]: j for j in self.jobs() if j["id"] in before}
        owner_alive = bool(owner) and isinstance(owner.get("pid"), int) and pid_exists(owner["pid"])
        result.update({
            "standby_started_group": took,
            "seconds": time.monotonic() - t0,
            "owner": owner and {k: owner.get(k) for k in ("host", "pid", "daemons")},
            "owner_alive": owner_alive,
            "vip_owners": self.lab.vip_owners(),
            "standby_view": pcmk.crm_mon(standby, "-r", "--failcounts").stdout,
            "jobs_rerun": sorted(i for i, j in now.items() if j["runs"] != before[i]["runs"]),
            "jobs_running_on": sorted({j["host"] for j in now.values() if j["state"] == "RUNNING"}),
            "both_nodes": both,
            "processes": {job: sorted(nodes) for job, nodes in self.job_processes().items()},
        })
        return result


def format_table(result):
    """The drill's job table and figures as text."""
    lines = ["%s: %s -> %s" % (result["trigger"], result["from"], result["to"])]
    if "rows" in result:
        lines += format_rows(result["rows"])
        lines.append("recovery (trigger -> jobs re-running on %s): %.2f s; group Started there: %.2f s"
                     % (result["to"], result["recovery_s"], result["group_s"]))
        lines.append("queues left STOPPED: %s; jobs with processes on both nodes at once: %s; "
                     "overlapping runs: %s" % (", ".join(result["stopped_queues"]) or "none",
                                               result["both_nodes"] or "none",
                                               result["overlapping_runs"] or "none"))
    else:
        lines.append("standby took the group over: %s; site owner: %s (alive: %s); address on: %s"
                     % (result["standby_started_group"], result["owner"], result["owner_alive"],
                        ", ".join(result["vip_owners"]) or "none"))
        lines.append("jobs re-run: %s; jobs running on: %s; jobs with processes on both nodes: %s"
                     % (result["jobs_rerun"] or "none", ", ".join(result["jobs_running_on"]),
                        result["both_nodes"] or "none"))
    return "\n".join(lines)
