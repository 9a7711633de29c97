"""The site supervisor (guide §2.1.4, §2.3(7), §2.5.5; docs/engine.md "The supervisor: cjcpw").

Real daemons on a real site in a network namespace; every test ends what it started.
"""

import json
import os
import signal
import socket
import subprocess
import time

import pytest

from cjc.site import pidrecords as runstate
from cjc.site.log import DaemonLog
from cjc.config.siteconf import SiteTimings
from cjc.site.processes import site_processes
from cjc.site.registry import Registry, cluster_site
from cjc.supervise.supervisor import BOOT_FAILED, STOPPED, BootError, SiteSupervisor
from jobsite import wait_until

pytestmark = pytest.mark.netns

SITE = "testsite.example.com"
ADDRESS = "10.192.18.10"
HOSTS = "127.0.0.1 localhost\n%s %s testsite\n" % (ADDRESS, SITE)
MKSITE = "/usr/lib/nqs/cluster/cjcmksite"
CJCPW = "/usr/lib/nqs/cluster/cjcpw"
CJCLS = "/usr/lib/nqs/cluster/cjcls"
NQSSTART = "/usr/lib/nqs/nqsstart"
NQSSTOP = "/usr/lib/nqs/nqsstop"
NQSPORTKPR = "/usr/lib/nqs/nqsportkpr"


class SiteRig:
    """A cluster site made with cjcmksite in a namespace, and the commands to drive it."""

    def __init__(self, ns, layout, db):
        self.ns, self.layout, self.db = ns, layout, db
        self.env = {"CJC_ROOT": layout.root}
        self.started = []

    @property
    def site(self):
        return cluster_site(self.db, address=ADDRESS)

    def run(self, documented, *args, **kwargs):
        return self.ns.run([self.layout.path(documented)] + [str(a) for a in args], env=self.env, **kwargs)

    def cjcpw(self, *args):
        """Start ``cjcpw`` in the foreground (as a cluster product would); a Popen."""
        proc = self.ns.popen([self.layout.path(CJCPW)] + list(args), env=self.env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.started.append(proc)
        return proc

    def owner(self):
        return runstate.read_record(os.path.join(self.site.run_dir, "owner.pid"))

    def daemons_up(self):
        site = self.site
        return all(runstate.live_pid(site.record_path(n)) for n in
                   ("logdaemon.pid", "nqsdaemon.pid", "netdaemon.pid", "comagent.pid"))

    def serving(self):
        """Every daemon serves and the owner says so."""
        return self.daemons_up() and (self.owner() or {}).get("daemons") == "up"

    def nqsdaemon_pid(self):
        """The nqsdaemon's pid from its record (read from the test, outside the site's node)."""
        return runstate.live_pid(self.site.record_path("nqsdaemon.pid"))

    def daemons_down(self):
        site = self.site
        return not any(runstate.live_pid(site.record_path(n)) for n in
                       ("logdaemon.pid", "nqsdaemon.pid", "netdaemon.pid", "comagent.pid"))

    def cjcls_row(self):
        out = self.run(CJCLS).stdout.splitlines()
        return out[3].split()

    def set_common(self, text):
        with open(self.layout.common_daemon_conf, "w") as handle:
            handle.write(text)

    def set_site_conf(self, text):
        with open(os.path.join(self.db, "etc", "site.conf"), "w") as handle:
            handle.write(text)

    def status(self):
        out = self.ns.run(["python3", "-c", "import sys,urllib.request;"
                           "sys.stdout.write(urllib.request.urlopen('http://%s:611/status',timeout=3).read().decode())"
                           % ADDRESS])
        return json.loads(out.stdout) if out.returncode == 0 else None

    def cleanup(self):
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for process in site_processes(self.site.spool):
            try:
                process.kill()
            except Exception:
                pass


@pytest.fixture
def rig(netns, node_root, tmp_path):
    ns = netns(["%s/24" % ADDRESS], HOSTS)
    db = str(tmp_path / "jobdb")
    result = ns.run([node_root.path(MKSITE), SITE, "200", db], env={"CJC_ROOT": node_root.root})
    assert result.returncode == 0, result.stderr
    rig = SiteRig(ns, node_root, db)
    yield rig
    rig.cleanup()


def test_cjcpw_boots_serves_and_stops_on_sigterm(rig):
    proc = rig.cjcpw(SITE, rig.db)
    wait_until(rig.serving, 10, "every daemon to serve")
    owner = rig.owner()
    assert owner["pid"] == proc.pid and owner["mode"] == "cjcpw" and owner["daemons"] == "up"
    row = rig.cjcls_row()
    assert row[0] == SITE and row[1] == str(rig.nqsdaemon_pid()) and row[3] == "ON"
    status = rig.status()
    assert status["site"] == SITE and status["owner"]["pid"] == proc.pid
    assert {n: d["state"] for n, d in status["daemons"].items()} == {
        "logdaemon": "running", "nqsdaemon": "running", "netdaemon": "running", "comagent": "running"}
    assert [q["name"] for q in status["queues"]][0] == "guilb_def"
    marked = {p.pid for p in site_processes(rig.site.spool)}
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    assert site_processes(rig.site.spool) == []
    assert all(not runstate.pid_exists(pid) for pid in marked)
    assert rig.cjcls_row()[1:] == ["SHUT", rig.db, "OFF"]


@pytest.mark.parametrize("victim", ["logdaemon", "nqsdaemon", "netdaemon", "comagent"])
def test_a_killed_daemon_stops_the_site_and_cjcpw_exits_3_within_a_second(rig, victim):
    proc = rig.cjcpw(SITE, rig.db)
    wait_until(rig.serving, 10, "every daemon to serve")
    pid = runstate.live_pid(rig.site.record_path(victim + ".pid"))
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    assert proc.wait(timeout=10) == 3
    assert time.monotonic() - killed_at < 1.0
    _out, err = proc.communicate()
    died = [line for line in err.splitlines() if "daemon died: " in line]
    assert died and victim in died[0], err
    assert site_processes(rig.site.spool) == []
    assert rig.cjcls_row()[1:] == ["SHUT", rig.db, "OFF"]


def test_cjcpw_c_returns_once_serving_and_stop_ends_everything(rig):
    started = time.monotonic()
    result = rig.run(CJCPW, "-c", SITE, rig.db)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 5
    assert rig.daemons_up()
    assert result.stdout == "cjcpw: site %s started (daemon pid %d)\n" % (SITE, rig.nqsdaemon_pid())
    assert rig.cjcls_row()[3] == "OFF"  # no supervising cjcpw
    assert rig.status()["owner"]["mode"] == "detached"
    result = rig.run(CJCPW, "-stop", SITE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("cjcpw: site %s stopped in " % SITE)
    assert "forced" not in result.stdout
    assert site_processes(rig.site.spool) == []
    # stopping a stopped site is fine (what a cluster's stop action needs)
    result = rig.run(CJCPW, "-stop", SITE)
    assert (result.returncode, result.stdout) == (0, "cjcpw: site %s is not running on this node\n" % SITE)


def test_typographic_dash_from_the_guide_is_accepted(rig):
    assert rig.run(CJCPW, "\u2013c", SITE, rig.db).returncode == 0
    assert rig.run(CJCPW, "\u2013stop", SITE).returncode == 0
    assert rig.daemons_down()


def test_stop_of_a_job_that_ignores_sigterm_is_bounded_by_site_conf(rig):
    rig.set_site_conf("STOP_TIMEOUT=30\nFORCEKILL_TIME=28\n")  # orderly phase: 2 s
    assert rig.run(CJCPW, "-c", SITE, rig.db).returncode == 0
    script = "trap '' TERM; echo started; while :; do sleep 1; done\n"
    sub = rig.ns.run(["/usr/bin/env", rig.layout.path("/usr/bin/qsub")], env=dict(rig.env, NQS_SITE=SITE),
                     input=script)
    assert sub.returncode == 0, sub.stderr
    wait_until(lambda: rig.status()["running_jobs"], 10, "the job to run")
    started = time.monotonic()
    result = rig.run(CJCPW, "-stop", SITE)
    took = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "(forced: SIGKILL to" in result.stdout
    assert 2.0 <= took < 4.5, took
    assert site_processes(rig.site.spool) == []


def test_forcekill_not_below_stop_timeout_forces_from_the_start(rig):
    rig.set_site_conf("STOP_TIMEOUT=30\nFORCEKILL_TIME=30\n")
    assert rig.run(CJCPW, "-c", SITE, rig.db).returncode == 0
    started = time.monotonic()
    result = rig.run(CJCPW, "-stop", SITE)
    assert result.returncode == 0
    assert time.monotonic() - started < 2
    assert "(forced: SIGKILL to" in result.stdout
    assert site_processes(rig.site.spool) == []


def test_maintenance_cjcpw_alone_then_nqsstart_and_nqsstop(rig):
    rig.set_common("maintenance=ON\n")
    proc = rig.cjcpw(SITE, rig.db)
    wait_until(lambda: (rig.owner() or {}).get("daemons") == "down" and runstate.record_is_alive(rig.owner()),
               10, "cjcpw to own the site in maintenance")
    time.sleep(0.3)
    assert rig.daemons_down()
    assert rig.cjcls_row()[1:] == ["SHUT", rig.db, "ON"]
    result = rig.run(NQSSTART, SITE)
    assert result.returncode == 0, result.stderr
    assert rig.daemons_up()
    assert rig.cjcls_row()[1:] == [str(rig.nqsdaemon_pid()), rig.db, "ON"]
    result = rig.run(NQSSTOP, SITE)
    assert result.returncode == 0, result.stderr
    assert rig.daemons_down() and proc.poll() is None and rig.owner()["pid"] == proc.pid
    assert rig.cjcls_row()[1:] == ["SHUT", rig.db, "ON"]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert rig.cjcls_row()[1:] == ["SHUT", rig.db, "OFF"]


def test_nqsstop_and_nqsstart_under_a_monitoring_cjcpw_do_not_disturb_it(rig):
    proc = rig.cjcpw(SITE, rig.db)
    wait_until(rig.serving, 10, "every daemon to serve")
    result = rig.run(NQSSTOP, SITE)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "nqsstop: daemons of site %s stopped; cjcpw (pid %d) keeps running\n" % (SITE, proc.pid)
    time.sleep(0.5)
    assert proc.poll() is None and rig.daemons_down()
    assert rig.run(NQSSTART, SITE).returncode == 0
    assert rig.daemons_up() and proc.poll() is None
    # monitoring resumed: a daemon death now stops the site
    os.kill(rig.nqsdaemon_pid(), signal.SIGKILL)
    assert proc.wait(timeout=10) == 3


def test_second_owner_on_the_same_node_is_refused_within_a_second(rig):
    proc = rig.cjcpw(SITE, rig.db)
    wait_until(rig.serving, 10, "every daemon to serve")
    started = time.monotonic()
    result = rig.run(CJCPW, "-c", SITE, rig.db)
    assert time.monotonic() - started < 1.0 + 0.5  # interpreter start included
    assert result.returncode == 5
    assert ("is already owned by cjcpw pid %d on host %s since " % (proc.pid, socket.gethostname())) in result.stderr
    assert proc.poll() is None and rig.daemons_up()


def test_nqsportkpr_holds_the_port_and_hands_it_to_netdaemon(rig):
    result = rig.run(NQSPORTKPR, SITE)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "nqsportkpr: holding port 607 on %s until the site's netdaemon takes it\n" % ADDRESS
    grab = rig.ns.run(["python3", "-c", "import socket; s=socket.socket(); s.bind(('%s', 607))" % ADDRESS])
    assert grab.returncode != 0 and "Address already in use" in grab.stderr
    keeper = rig.ns.run(["ss", "-ltnpH", "sport = :607"]).stdout.split("pid=")[1:]
    keeper_pid = int(keeper[0].split(",")[0])
    assert rig.run(CJCPW, "-c", SITE, rig.db).returncode == 0
    wait_until(lambda: not runstate.pid_exists(keeper_pid), 5, "nqsportkpr to exit after the handover")
    listeners = rig.ns.run(["ss", "-ltnpH", "sport = :607"]).stdout
    assert "pid=%d," % runstate.live_pid(rig.site.record_path("netdaemon.pid")) in listeners
    assert rig.run(CJCPW, "-stop", SITE).returncode == 0


def test_boot_timeout_stops_everything_started(rig):
    """Real daemons; the supervisor's step comes at BOOT_TIMEOUT before they serve."""
    timings = SiteTimings(30, 30, 10)
    site = Registry(rig.layout).cluster[0]
    supervisor = SiteSupervisor(rig.layout, site, timings, DaemonLog(rig.layout, site.spool, "test"))
    supervisor.begin_boot(0.0)
    event, error = supervisor.step(30.0)
    assert event == BOOT_FAILED and isinstance(error, BootError)
    assert "was not serving within BOOT_TIMEOUT=30 s" in str(error)
    assert "everything started was stopped" in str(error)
    started = time.monotonic()
    while event != STOPPED:
        time.sleep(0.02)
        supervisor.reap()
        event, _detail = supervisor.step(30.0 + time.monotonic() - started)
    wait_until(lambda: site_processes(site.spool) == [], 5, "the started daemons to be gone")
    assert supervisor.unreaped == set()


def slow_comagent(rig, seconds=30):
    """Make the site's comagent take ``seconds`` to come up (a wrapper that sleeps first)."""
    comagent = rig.layout.path("/usr/lib/nqs/combase/comagent")
    os.rename(comagent, comagent + ".real")
    with open(comagent, "w") as handle:
        handle.write('#!/bin/sh\nsleep %d\nexec "$0.real" "$@"\n' % seconds)
    os.chmod(comagent, 0o755)


def booting(rig):
    """logdaemon and nqsdaemon serve, the owner still says "starting"."""
    site = rig.site
    up = all(runstate.live_pid(site.record_path(n)) for n in ("logdaemon.pid", "nqsdaemon.pid", "netdaemon.pid"))
    return up and (rig.owner() or {}).get("daemons") == "starting"


def test_sigterm_while_booting_stops_at_once_and_leaves_nothing(rig):
    """A cluster's stop during a slow boot (comagent takes 30 s to come up) is not held
    back until the boot ends: the daemons already up are stopped, cjcpw exits 0."""
    slow_comagent(rig)
    proc = rig.cjcpw(SITE, rig.db)
    site = rig.site
    wait_until(lambda: booting(rig), 10, "logdaemon and nqsdaemon to serve while comagent is still coming up")
    marked = {p.pid for p in site_processes(site.spool)}
    proc.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    assert proc.wait(timeout=20) == 0
    took = time.monotonic() - signalled
    _out, err = proc.communicate()
    assert took < 2.0, (took, err)
    assert "SIGTERM: orderly stop" in err
    assert [line for line in err.splitlines() if ": starting -> stopping (stop requested (SIGTERM))" in line
            and "comagent pid " in line], err
    assert "serving (owner pid" not in err
    assert site_processes(site.spool) == []
    assert all(not runstate.pid_exists(pid) for pid in marked)
    assert rig.owner() is None
    assert rig.cjcls_row()[1:] == ["SHUT", rig.db, "OFF"]


def test_cjcpw_stop_during_a_detached_start_ends_it_at_once(rig):
    """``cjcpw -stop`` (a cluster's stop action) while ``cjcpw -c`` still waits for the boot:
    both return at once, -c with status 1 saying why, and nothing of the site is left."""
    slow_comagent(rig)
    start = rig.ns.popen([rig.layout.path(CJCPW), "-c", SITE, rig.db], env=rig.env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rig.started.append(start)
    wait_until(lambda: booting(rig), 10, "the detached owner to be booting")
    began = time.monotonic()
    stopped = rig.run(CJCPW, "-stop", SITE)
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.startswith("cjcpw: site %s stopped in " % SITE)
    assert start.wait(timeout=10) == 1
    assert time.monotonic() - began < 3.0
    _out, err = start.communicate()
    assert err == "cjcpw: site %s was stopped on request during its start\n" % SITE
    assert site_processes(rig.site.spool) == []
    assert rig.owner() is None


def test_guide_sequence(rig):
    """cjcmksite (done by the fixture), cjcpw, cjcls, cjcpw -stop -- as printed in the guide."""
    proc = rig.cjcpw("testsite", rig.db)  # the guide uses the short name: it resolves to the site
    wait_until(rig.serving, 10, "the site to serve")
    listing = rig.run(CJCLS).stdout.splitlines()
    assert listing[1].split() == ["SITE-NAME", "DAEMON-PID", "DB-PATH(LINK)", "CJCPW"]
    assert listing[3].split() == [SITE, str(rig.nqsdaemon_pid()), rig.db, "ON"]
    result = rig.run(CJCPW, "-stop", "testsite")
    assert result.returncode == 0, result.stderr
    assert proc.wait(timeout=10) == 0


def holders_under(path):
    """Processes with their cwd or an open file under ``path`` (what blocks an unmount)."""
    import psutil
    found = []
    for process in psutil.process_iter():
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
            paths = [process.cwd()] + [f.path for f in process.open_files()]
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if any(p == path or p.startswith(path + "/") for p in paths):
            found.append(process.pid)
    return found


def test_after_stop_nothing_started_from_the_site_holds_the_disk(rig):
    """A job leaves a daemonized process with its cwd and an open file on the shared disk."""
    assert rig.run(CJCPW, "-c", SITE, rig.db).returncode == 0
    script = ("mkdir -p %s/scratch && cd %s/scratch && "
              "setsid sh -c 'trap \"\" TERM; exec 3>held.txt; while :; do sleep 1; done' </dev/null >/dev/null 2>&1 &\n"
              "sleep 600\n" % (rig.db, rig.db))
    sub = rig.ns.run([rig.layout.path("/usr/bin/qsub")], env=dict(rig.env, NQS_SITE=SITE), input=script)
    assert sub.returncode == 0, sub.stderr
    wait_until(lambda: holders_under(rig.db), 10, "the job's background process to hold the disk")
    result = rig.run(CJCPW, "-stop", SITE)
    assert result.returncode == 0, result.stderr
    assert holders_under(rig.db) == []
    assert site_processes(rig.site.spool) == []


def test_orphaned_jobs_keep_the_site_from_being_taken_over(rig):
    """cjcpw and all its daemons SIGKILLed at once, a job survives: no second owner may
    start (the job would run twice) until a stop has ended it; then the job restarts."""
    assert rig.run(CJCPW, "-c", SITE, rig.db).returncode == 0
    sub = rig.ns.run([rig.layout.path("/usr/bin/qsub")], env=dict(rig.env, NQS_SITE=SITE), input="sleep 600\n")
    assert sub.returncode == 0, sub.stderr
    wait_until(lambda: [j for j in rig.status()["running_jobs"] if j["pid"]], 10, "the job to run")
    owner = rig.owner()["pid"]
    daemons = [runstate.live_pid(rig.site.record_path(n)) for n in
               ("nqsdaemon.pid", "netdaemon.pid", "logdaemon.pid", "comagent.pid")]
    # the daemons before their owner: a dying owner would make them stop (and end the job) in order
    for pid in daemons + [owner]:
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: all(not runstate.pid_exists(p) for p in [owner] + daemons), 5, "the kills")
    orphans = site_processes(rig.site.spool, jobs_only=True)
    assert orphans, "the job process should have outlived its daemons"
    refused = rig.run(CJCPW, "-c", SITE, rig.db)
    assert refused.returncode == 5
    assert "is still held by processes its last owner (cjcpw pid %d, now gone) started" % owner in refused.stderr
    stopped = rig.run(CJCPW, "-stop", SITE)
    assert stopped.returncode == 0 and "stopped in" in stopped.stdout, stopped.stdout
    assert site_processes(rig.site.spool) == []
    assert rig.run(CJCPW, "-c", SITE, rig.db).returncode == 0
    wait_until(lambda: rig.status()["running_jobs"], 10, "the job to run again (RESTART queue, ENABLE job)")
    assert rig.status()["running_jobs"][0]["runs"] == 2
