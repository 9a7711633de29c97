"""Jobs on a real local site: real daemons, real users, the installed commands (guide §2.5.2, §2.5.4, §2.2.1, §2.6.3)."""

import os
import pwd
import signal
import socket
import time

import psutil
import pytest

from cjc.site import endpoints
from cjc.site.log import DaemonLog

from jobsite import GID, wait_until

QSTAT = "/usr/bin/qstat"
QDEL = "/usr/bin/qdel"
QMGR = "/usr/bin/qmgr"
QSUB = "/usr/bin/qsub"


@pytest.fixture
def site(node, users):
    """A running local site: logdaemon and nqsdaemon (with its netdaemon)."""
    node.start_daemon("logdaemon")
    node.daemon = node.start()
    node.qmgr("set queue guibs_1 run_limit=5")
    return node


def output(node, job_id, run=-1):
    return node.tracker(job_id)["outputs"][run]


# ---------------------------------------------------------------- running jobs

def test_job_runs_as_its_owner_with_groups_home_and_clean_env(site):
    script = "id -u; id -g; id -G; pwd; echo HOME=$HOME USER=$USER; env | sort\n"
    job_id = site.qsub(script, "-v", "MYVAR=hello", user="cjct1", env={"LEAKY": "from-submitter"})
    job = site.wait_state(job_id, "EXITED")
    assert job["exit_status"] == 0 and job["owner"] == "cjct1" and job["uid"] == 23001
    lines = output(site, job_id)["stdout"].splitlines()
    home = pwd.getpwnam("cjct1").pw_dir
    assert lines[0] == "23001"
    assert lines[1] == str(pwd.getpwnam("cjct1").pw_gid)
    assert str(GID) in lines[2].split()
    assert lines[3] == home
    assert lines[4] == "HOME=%s USER=cjct1" % home
    env = dict(line.split("=", 1) for line in lines[5:] if "=" in line)
    assert env["MYVAR"] == "hello"
    assert env["QSUB_REQID"] == "%d.%s" % (job_id, socket.gethostname())
    assert env["CJC_SITE_SPOOL"] == site.spool
    assert "LEAKY" not in env and "CJC_ROOT" not in env  # clean: nothing of the submitter's or daemon's


def test_root_job_runs_as_root_and_script_file_is_read(site, tmp_path):
    script = tmp_path / "myjob.sh"
    script.write_text("id -u\necho err >&2\nexit 7\n")
    done = site.run(QSUB, "-r", "named", str(script))
    assert done.returncode == 0, done.stderr
    job_id = int(done.stdout.split()[1].split(".")[0])
    assert done.stdout == "Request %d.%s submitted to queue: guilb_def.\n" % (job_id, socket.gethostname())
    job = site.wait_state(job_id, "EXITED")
    assert (job["name"], job["exit_status"]) == ("named", 7)
    out = output(site, job_id)
    assert (out["stdout"], out["stderr"], out["exit_status"]) == ("0\n", "err\n", 7)


def test_tracker_keeps_every_state_change(site):
    job_id = site.qsub("echo hi\n", user="cjct2")
    site.wait_state(job_id, "EXITED")
    events = [e["state"] for e in site.tracker(job_id)["events"]]
    assert events == ["QUEUED", "QUEUED", "RUNNING", "EXITED"]
    done = site.run(QSTAT, "-f", str(job_id))
    assert "routed from pipe queue guilb_def to guibs_1" in done.stdout
    assert "--- stdout\nhi\n" in done.stdout
    assert "--- stdout\nhi\n" in site.run(QSTAT, "-f", str(job_id), user="cjct2").stdout
    other = site.run(QSTAT, "-f", str(job_id), user="cjct1")
    assert other.returncode == 1 and "only its owner or an NQS manager may read its tracker" in other.stderr


def test_job_is_its_own_session_and_process_group(site):
    job_id = site.qsub("sleep 30\n", user="cjct1")
    job = site.wait_state(job_id, "RUNNING")
    wait_until(lambda: site.job(job_id)["pid"], 5, "pid recorded")
    pid = site.job(job_id)["pid"]
    assert os.getsid(pid) == pid and os.getpgid(pid) == pid
    assert psutil.Process(pid).uids().real == 23001
    site.run(QDEL, str(job_id))
    assert site.wait_state(job_id, "DELETED")["reason"].startswith("deleted by root while running")
    del job


# ---------------------------------------------------------------- qstat, qmgr, qdel

def test_qstat_prints_queues_in_the_guides_form(node, users):
    host = socket.gethostname()
    done = node.run(QSTAT)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "guilb_def@%s;  type=PIPE;  [ENABLED, INACTIVE];  pri=10\n"
        "0 depart;  0 route;  0 queued;  0 wait;  0 hold;  0 arrive;\n"
        "guibs_1@%s;  type=BATCH;  [ENABLED, INACTIVE];  pri=10  lim=1\n"
        "0 exit;  0 run;  0 stage;  0 queued;  0 wait;  0 hold;  0 arrive;\n" % (host, host))


def test_qstat_counts_and_states(site):
    site.qmgr("set queue guibs_1 run_limit=1", "create batch_queue slow priority=5", "stop queue slow",
              "disable queue guilb_def")
    running = site.qsub("sleep 30\n", "-q", "guibs_1")
    waiting = site.qsub("true\n", "-q", "guibs_1")
    site.qsub("true\n", "-q", "slow")
    site.wait_state(running, "RUNNING")
    host = socket.gethostname()
    done = site.run(QSTAT)
    assert done.stdout == (
        "guilb_def@%s;  type=PIPE;  [DISABLED, INACTIVE];  pri=10\n"
        "0 depart;  0 route;  0 queued;  0 wait;  0 hold;  0 arrive;\n"
        "guibs_1@%s;  type=BATCH;  [ENABLED, ACTIVE];  pri=10  lim=1\n"
        "0 exit;  1 run;  0 stage;  1 queued;  0 wait;  0 hold;  0 arrive;\n"
        "slow@%s;  type=BATCH;  [ENABLED, STOPPED];  pri=5  lim=1\n"
        "0 exit;  0 run;  0 stage;  1 queued;  0 wait;  0 hold;  0 arrive;\n" % (host, host, host))
    listing = site.run(QSTAT, "-a").stdout.splitlines()
    assert listing[0].split() == ["REQUEST", "ID", "NAME", "OWNER", "QUEUE", "STATE", "PGRP"]
    assert [line.split()[4] for line in listing[1:]] == ["RUNNING", "QUEUED", "QUEUED"]
    refused = site.run(QSUB, "-q", "guilb_def", stdin="true\n")
    assert refused.returncode != 0 and "queue guilb_def is disabled" in refused.stderr
    assert site.run(QDEL, "-k", str(running)).returncode == 0
    site.wait_state(waiting, "EXITED")


def test_qmgr_is_refused_to_non_managers(site):
    done = site.qmgr("create batch_queue mine", user="cjct1")
    assert done.returncode == 1
    assert "Insufficient privilege: cjct1 is not an NQS manager" in done.stderr
    assert "mine" not in site.queues()
    ok = site.qmgr("add managers cjct1")
    assert ok.stdout == "NQS manager[TCML_COMPLETE ]:  Transaction complete at local host.\n"
    assert site.qmgr("create batch_queue mine run_limit=3 restart=PURGE", user="cjct1").returncode == 0
    queue = site.queues()["mine"]
    assert (queue.run_limit, queue.restart, queue.type) == (3, "PURGE", "BATCH")
    bad = site.qmgr("set queue mine restart=SOMETIMES")
    assert bad.returncode == 1 and "restart attribute SOMETIMES is not valid" in bad.stderr


def test_qdel_deletes_queued_and_signals_running_jobs(site):
    site.qmgr("set queue guibs_1 run_limit=1")
    running = site.qsub("echo started; sleep 30\n", user="cjct1")
    queued = site.qsub("echo never\n", user="cjct1")
    site.wait_state(running, "RUNNING")
    wait_until(lambda: site.job(running)["pid"], 5, "pid recorded")
    other = site.run(QDEL, str(queued), user="cjct2")
    assert other.returncode == 1 and "only its owner or an NQS manager" in other.stderr
    done = site.run(QDEL, str(queued), "%d.%s" % (running, socket.gethostname()), user="cjct1")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ("Request %d has been deleted.\nRequest %d is running, and has been signalled.\n"
                           % (queued, running))
    assert site.job(queued)["state"] == "DELETED" and site.tracker(queued)["outputs"] == []
    job = site.wait_state(running, "DELETED")
    assert job["exit_status"] == 128 + signal.SIGTERM
    assert output(site, running)["stdout"] == "started\n"


def test_qdel_refuses_a_request_id_of_another_site_and_takes_this_sites_full_and_short_name(site):
    site.qmgr("stop queue guibs_1")  # the requests stay QUEUED
    first = site.qsub("echo never\n", "-q", "guibs_1", user="cjct1")
    second = site.qsub("echo never\n", "-q", "guibs_1", user="cjct1")
    name = site.site.name
    short, full = name.split(".")[0], (name if "." in name else name + ".example.com")
    refused = site.run(QDEL, str(first), "%d.othersite" % second, user="cjct1")
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr == ("qdel: request %d.othersite belongs to site othersite, not to site %s (NQS_SITE): "
                              "a command reaches only its own site; run it with NQS_SITE=othersite on a node of "
                              "that site\n" % (second, name))
    assert site.job(first)["state"] == site.job(second)["state"] == "QUEUED"  # nothing deleted, not even the first
    tracker = site.run(QSTAT, "-f", "%d.othersite.example.com" % first, user="cjct1")
    assert tracker.returncode == 1 and "belongs to site othersite.example.com" in tracker.stderr
    done = site.run(QDEL, "%d.%s" % (first, full.upper()), "%d.%s" % (second, short), user="cjct1")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Request %d has been deleted.\nRequest %d has been deleted.\n" % (first, second)
    assert site.job(first)["state"] == site.job(second)["state"] == "DELETED"


def test_a_silent_local_client_holds_up_neither_dispatch_nor_other_users(site):
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    endpoints.connect(silent, endpoints.endpoint(site.layout, site.spool, "nqs"))  # connects and never sends a request
    try:
        job_id = site.qsub("echo ok\n", "-q", "guibs_1")
        assert site.wait_state(job_id, "EXITED", seconds=1.5)
        done = site.run(QSTAT, user="cjct1")
        assert done.returncode == 0 and done.stdout.startswith("guilb_def@")
    finally:
        silent.close()


def test_non_root_commands_need_the_daemon(node, users):
    done = node.run(QSTAT, user="cjct1")
    assert done.returncode == 1 and "nqsdaemon of site" in done.stderr and "is not running" in done.stderr


# ---------------------------------------------------------------- NQS_SITE (guide §2.5.2)

@pytest.mark.parametrize("value", ["", socket.gethostname()])
def test_nqs_site_unset_or_hostname_is_the_local_site(node, value):
    done = node.run(QSTAT, env={"NQS_SITE": value} if value else None)
    assert done.returncode == 0
    assert done.stdout.startswith("guilb_def@%s;  type=PIPE;" % socket.gethostname())


@pytest.mark.parametrize("command,name", [(QSTAT, "Qstat"), (QSUB, "Qsub"), (QDEL, "Qdel"), (QMGR, "Qmgr")])
def test_nqs_site_unknown_is_fatal(node, command, name):
    args = ["1"] if command == QDEL else []
    done = node.run(command, *args, env={"NQS_SITE": "nosuchsite.example.com"}, stdin="")
    assert done.returncode != 0
    assert done.stderr == "%s(FATAL): Unable to setup NQS rootdir\n" % name
    assert done.stdout == ""


# ---------------------------------------------------------------- stop (guide §2.6.3)

def test_background_process_of_a_job_is_ended_at_stop(site):
    job_id = site.qsub("setsid sleep 1000 &\necho left; sleep 1000\n", user="cjct1")
    site.wait_state(job_id, "RUNNING")
    spool = site.spool

    def sleepers():
        return [p for p in psutil.process_iter(["cmdline", "environ"])
                if p.info["cmdline"] == ["sleep", "1000"] and (p.info["environ"] or {}).get("CJC_SITE_SPOOL") == spool]

    wait_until(lambda: len(sleepers()) == 2, 10, "both sleeps")
    escaped = [p for p in sleepers() if os.getsid(p.pid) != site.job(job_id)["pid"]]
    assert len(escaped) == 1  # it left the job's session
    started = time.monotonic()
    assert site.stop(site.daemon) == 0
    assert time.monotonic() - started < 10
    assert wait_until(lambda: not [p for p in sleepers() if p.status() != psutil.STATUS_ZOMBIE], 5, "no sleeps")
    job = site.job(job_id)
    assert job["state"] == "RUNNING" and job["pid"] is None  # left for the restart rules
    assert site.record_pid("nqsdaemon") is None and site.record_pid("netdaemon") is None


def test_orderly_stop_exits_zero_and_a_second_daemon_is_refused(site):
    second = site.start_daemon("nqsdaemon", wait=False)
    assert second.wait(20) == 1
    assert b"another nqsdaemon already runs site" in second.stderr.read()
    netdaemon = site.record_pid("netdaemon")
    assert psutil.Process(netdaemon).ppid() == site.daemon.pid  # guide §2.1.4: child of nqsdaemon
    assert site.stop(site.daemon) == 0
    assert not psutil.pid_exists(netdaemon) or psutil.Process(netdaemon).status() == psutil.STATUS_ZOMBIE


def test_nqsdaemon_exits_nonzero_when_netdaemon_dies(site):
    site.kill9("netdaemon")
    assert site.daemon.wait(10) == 1
    assert site.record_pid("nqsdaemon") is None


# ---------------------------------------------------------------- logdaemon

def test_logdaemon_collects_daemon_logs_with_rotation(node, users):
    node.start_daemon("logdaemon", "--max-bytes", "2048", "--keep", "2")
    node.stop(node.start())
    log_dir = os.path.join(node.spool, "log")
    log_file = os.path.join(log_dir, "nqs.log")
    wait_until(lambda: "nqsdaemon[" in open(log_file).read(), 5, "nqsdaemon lines")
    text = open(log_file).read()
    assert "netdaemon[" in text and "nqsdaemon[%d] INFO: stopped in order" % node.procs[1].pid in text
    log = DaemonLog(node.layout, node.spool, "filler")
    for number in range(80):
        log.info("line %03d %s" % (number, "x" * 80))
    wait_until(lambda: "line 079" in open(log_file).read(), 5, "the last line")
    assert sorted(os.listdir(log_dir)) == ["nqs.log", "nqs.log.1", "nqs.log.2"]
    for name in os.listdir(log_dir):
        assert os.path.getsize(os.path.join(log_dir, name)) <= 2048
