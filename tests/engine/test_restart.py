"""Failover continuation (guide §2.5.4): the restart matrix, by really killing things.

Every combination of queue restart attribute (RESTART, PURGE, STOP, MIGRATION_PURGE,
MIGRATION_STOP) and job restart flag (ENABLE, DISABLE) runs at once on one site;
then nqsdaemon and every job process group are SIGKILLed and nqsdaemon is started
again. Once more across two network-namespace "nodes" sharing one DB directory.
"""

import os
import signal
import subprocess
import sys
import tempfile

import psutil
import pytest

from jobsite import Node, make_root, remove_root, wait_until

ATTRIBUTES = ("RESTART", "PURGE", "STOP", "MIGRATION_PURGE", "MIGRATION_STOP")
SCRIPT = "echo ran in $QSUB_QUEUE; sleep 1000\n"

# (attribute, flag) -> (state after restart, queue it is in, queue STOPPED afterwards?)
EXPECTED = {
    ("RESTART", "ENABLE"): ("RUNNING", "q_restart", False),
    ("RESTART", "DISABLE"): ("DELETED", "q_restart", False),
    ("PURGE", "ENABLE"): ("DELETED", "q_purge", False),
    ("PURGE", "DISABLE"): ("DELETED", "q_purge", False),
    ("STOP", "ENABLE"): ("QUEUED", "q_stop", True),
    ("STOP", "DISABLE"): ("DELETED", "q_stop", True),
    ("MIGRATION_PURGE", "ENABLE"): ("RUNNING", "dest_mp", False),
    ("MIGRATION_PURGE", "DISABLE"): ("DELETED", "q_migration_purge", False),
    ("MIGRATION_STOP", "ENABLE"): ("RUNNING", "dest_ms", False),
    ("MIGRATION_STOP", "DISABLE"): ("DELETED", "q_migration_stop", False),
}
QUEUE_OF = {"RESTART": "q_restart", "PURGE": "q_purge", "STOP": "q_stop",
            "MIGRATION_PURGE": "q_migration_purge", "MIGRATION_STOP": "q_migration_stop"}


def sessions_of(label, spool):
    """Session leaders (job shells) of site ``spool`` whose QSUB_REQID is ``label``, zombies left out."""
    found = []
    for process in psutil.process_iter(["environ", "status"]):
        environ = process.info["environ"] or {}
        if environ.get("QSUB_REQID") == label and environ.get("CJC_SITE_SPOOL") == spool \
                and process.info["status"] != psutil.STATUS_ZOMBIE:
            try:
                if os.getsid(process.pid) == process.pid:
                    found.append(process.pid)
            except ProcessLookupError:
                pass
    return found


def kill_site_hard(node, job_ids):
    """SIGKILL nqsdaemon and every job's process group, as a node crash would."""
    pgids = [node.job(job_id)["pid"] for job_id in job_ids]
    netdaemon = node.record_pid("netdaemon")
    node.kill9("nqsdaemon")
    for pgid in pgids:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    # netdaemon notices its parent is gone and frees the port
    wait_until(lambda: not psutil.pid_exists(netdaemon)
               or psutil.Process(netdaemon).status() == psutil.STATUS_ZOMBIE, 5, "netdaemon to exit")
    return pgids


@pytest.fixture(scope="module")
def matrix():
    layout = make_root()
    node = Node(layout)
    node.start()
    node.qmgr("create batch_queue dest_mp run_limit=2", "create batch_queue dest_ms run_limit=2",
              "create batch_queue gone run_limit=2", "disable queue gone",
              *["create batch_queue %s run_limit=2 restart=%s%s" % (
                  QUEUE_OF[a], a, " migration=%s" % ("dest_mp" if a == "MIGRATION_PURGE" else "dest_ms")
                  if a.startswith("MIGRATION") else "") for a in ATTRIBUTES],
              # unreachable migration destination (a disabled queue): behave as PURGE / STOP
              "create batch_queue q_unreach_purge run_limit=1 restart=MIGRATION_PURGE migration=gone",
              "create batch_queue q_unreach_stop run_limit=1 restart=MIGRATION_STOP migration=gone")
    jobs = {}
    for attribute in ATTRIBUTES:
        for flag in ("ENABLE", "DISABLE"):
            args = ["-q", QUEUE_OF[attribute]] + (["-nr"] if flag == "DISABLE" else [])
            jobs[(attribute, flag)] = node.qsub(SCRIPT, *args)
    jobs["unreach_purge"] = node.qsub(SCRIPT, "-q", "q_unreach_purge")
    jobs["unreach_stop"] = node.qsub(SCRIPT, "-q", "q_unreach_stop")
    for job_id in jobs.values():
        node.wait_state(job_id, "RUNNING")
        wait_until(lambda: node.job(job_id)["pid"], 5, "pid of %d" % job_id)
    wait_until(lambda: all(node.tracker(j)["job"]["pid"] and open(
        os.path.join(node.spool, "output", "%d.o" % j)).read() for j in jobs.values()), 10, "jobs to write")
    old_pgids = dict(zip(jobs, kill_site_hard(node, list(jobs.values()))))
    node.daemon = node.start()
    wait_until(lambda: node.job(jobs[("RESTART", "ENABLE")])["runs"] == 2
               and node.job(jobs[("RESTART", "ENABLE")])["pid"], 10, "the re-run")
    node.jobs, node.old_pgids = jobs, old_pgids
    yield node
    node.cleanup()
    remove_root(layout)


@pytest.mark.parametrize("attribute,flag", sorted(EXPECTED))
def test_restart_matrix(matrix, attribute, flag):
    state, queue, stopped = EXPECTED[(attribute, flag)]
    job_id = matrix.jobs[(attribute, flag)]
    job = matrix.wait_state(job_id, state) if state == "RUNNING" else matrix.job(job_id)
    assert (job["state"], job["queue"]) == (state, queue)
    assert matrix.queues()[QUEUE_OF[attribute]].started is not stopped
    tracker = matrix.tracker(job_id)
    # "deleted" keeps the record, the output so far and the reason
    first = tracker["outputs"][0]
    assert (first["run"], first["how"], first["stdout"]) == (1, "interrupted", "ran in %s\n" % QUEUE_OF[attribute])
    last = tracker["events"][-1 if state != "RUNNING" else -2]
    assert "queue %s restart attribute %s, job restart %s" % (QUEUE_OF[attribute], attribute, flag) in last["message"]
    if state == "DELETED":
        assert job["reason"].startswith("interrupted while running") and job["runs"] == 1
    if state == "RUNNING":
        wait_until(lambda: matrix.job(job_id)["pid"], 5, "pid")
        label = "%d.%s" % (job_id, matrix.site.name)
        wait_until(lambda: len(sessions_of(label, matrix.spool)) == 1, 5, "one run")
        assert sessions_of(label, matrix.spool) == [matrix.job(job_id)["pid"]] != [matrix.old_pgids[(attribute, flag)]]
        assert matrix.job(job_id)["runs"] == 2


def test_stopped_queue_runs_its_job_when_started(matrix):
    job_id = matrix.jobs[("STOP", "ENABLE")]
    assert matrix.job(job_id)["state"] == "QUEUED"
    assert matrix.qmgr("start queue q_stop").returncode == 0
    assert matrix.wait_state(job_id, "RUNNING")["runs"] == 2


def test_unreachable_migration_destination_behaves_as_purge_or_stop(matrix):
    purge = matrix.job(matrix.jobs["unreach_purge"])
    assert (purge["state"], purge["queue"]) == ("DELETED", "q_unreach_purge")
    stop = matrix.job(matrix.jobs["unreach_stop"])
    assert (stop["state"], stop["queue"]) == ("QUEUED", "q_unreach_stop")
    queues = matrix.queues()
    assert not queues["q_unreach_stop"].started and queues["q_unreach_purge"].started


def test_surviving_job_is_ended_before_its_rerun():
    """nqsdaemon SIGKILLed, its job still running: the next nqsdaemon never runs it twice."""
    layout = make_root()
    node = Node(layout)
    try:
        node.start()
        job_id = node.qsub("echo run $$; sleep 1000\n", "-q", "guibs_1")
        node.wait_state(job_id, "RUNNING")
        old = wait_until(lambda: node.job(job_id)["pid"], 5, "pid")
        node.kill9("nqsdaemon")
        wait_until(lambda: node.record_pid("netdaemon") is None, 5, "netdaemon to exit")
        assert psutil.pid_exists(old)
        node.start()
        new = wait_until(lambda: node.job(job_id)["runs"] == 2 and node.job(job_id)["pid"], 10, "re-run")
        assert new != old and sessions_of("%d.%s" % (job_id, node.site.name), node.spool) == [new]
        assert not psutil.pid_exists(old) or psutil.Process(old).status() == psutil.STATUS_ZOMBIE
    finally:
        node.cleanup()
        remove_root(layout)


# ---------------------------------------------------------------- two nodes, one DB directory

SITE = "testsite.example.com"
ADDRESS = "10.192.18.10"
HOSTS = "127.0.0.1 localhost\n%s %s testsite\n" % (ADDRESS, SITE)


@pytest.mark.netns
def test_failover_across_two_nodes_sharing_the_db(netns):
    node_a, node_b = netns(["%s/24" % ADDRESS], HOSTS), netns(["%s/24" % ADDRESS], HOSTS)
    shared = tempfile.mkdtemp(prefix="cjc-shared-", dir="/tmp")
    os.chmod(shared, 0o755)
    db = os.path.join(shared, "jobdb")
    roots = [make_root(), make_root()]
    nodes = []
    try:
        made = node_a.run([sys.executable, roots[0].path("/usr/lib/nqs/cluster/cjcmksite"), SITE, "200", db],
                          env={"CJC_ROOT": roots[0].root})
        assert made.returncode == 0, made.stderr
        a = Node(roots[0], site_spec=db, spool=os.path.join(db, "nqs"), ns=node_a.name)
        nodes.append(a)
        site_env = {"NQS_SITE": SITE}
        done = a.run("/usr/bin/qstat", env=site_env)
        assert done.stdout == ("guilb_def@%s;  type=PIPE;  [ENABLED, INACTIVE];  pri=10\n"
                               "0 depart;  0 route;  0 queued;  0 wait;  0 hold;  0 arrive;\n"
                               "guibs_1@%s;  type=BATCH;  [ENABLED, INACTIVE];  pri=10  lim=1\n"
                               "0 exit;  0 run;  0 stage;  0 queued;  0 wait;  0 hold;  0 arrive;\n" % (SITE, SITE))
        a.start()
        assert a.run("/usr/bin/qmgr", "-c", "set queue guibs_1 run_limit=2", env=site_env).returncode == 0
        enable = a.qsub(SCRIPT, "-q", "guibs_1", env=site_env)
        disable = a.qsub(SCRIPT, "-q", "guibs_1", "-nr", env=site_env)
        for job_id in (enable, disable):
            a.wait_state(job_id, "RUNNING")
            wait_until(lambda: a.job(job_id)["pid"], 5, "pid")
        kill_site_hard(a, [enable, disable])
        # the other node takes the site over: same DB directory, its own root, its own namespace
        b = Node(roots[1], site_spec=db, spool=os.path.join(db, "nqs"), ns=node_b.name)
        nodes.append(b)
        b.start()
        job = b.wait_state(enable, "RUNNING")
        assert job["runs"] == 2
        deleted = b.job(disable)
        assert deleted["state"] == "DELETED" and "job restart DISABLE" in deleted["reason"]
        assert b.tracker(disable)["outputs"][0]["stdout"] == "ran in guibs_1\n"
        listener = subprocess.run(["ip", "netns", "exec", node_b.name, "ss", "-Hltn", "sport = :607"],
                                  capture_output=True, text=True).stdout
        assert "%s:607" % ADDRESS in listener
    finally:
        for node in nodes:
            node.cleanup()
        for layout in roots:
            remove_root(layout)
        subprocess.run(["rm", "-rf", shared])
