"""Attacks by the site's disk: a site database that is not one, a disk that fills up (guide §2.3).

Real daemons, a real tmpfs as the site's disk, real jobs that fill it with dd.
docs/security.md "Disks that fill up or vanish" says what must hold.
"""

import hashlib
import os
import subprocess
import time

import psutil
import pytest

from cjc.jobs.store import db_path

from jobsite import Node, make_root, remove_root, wait_until

pytestmark = pytest.mark.root

QSTAT = "/usr/bin/qstat"
QSUB = "/usr/bin/qsub"


def _digest(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def _db_files(spool):
    private = os.path.dirname(db_path(spool))
    return sorted(os.listdir(private))


# ---------------------------------------------------------------- a site database that is not one

@pytest.mark.parametrize("content, words", [(b"", "is empty (0 bytes)"),
                                            (b"queues: guibs_1\njobs: none\n" * 10, "it is not an SQLite database")])
def test_bad_site_database_is_refused_and_left_as_it_is(node, content, words):
    path = db_path(node.spool)
    for leftover in ("-wal", "-shm"):
        if os.path.exists(path + leftover):
            os.unlink(path + leftover)
    with open(path, "wb") as handle:
        handle.write(content)
    before, files = _digest(path), _db_files(node.spool)
    for argv in ([QSTAT], [QSTAT, "-a"], [QSUB]):
        done = node.run(argv[0], *argv[1:], stdin="true\n")
        assert done.returncode == 1, done
        assert words in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "Traceback" not in done.stderr
    daemon = node.start_daemon("nqsdaemon", wait=False)
    assert daemon.wait(20) == 1
    assert words in daemon.stderr.read().decode()
    assert _digest(path) == before and _db_files(node.spool) == files  # not modified, no -wal/-shm made


def test_missing_site_database_is_not_created_by_a_reading_command(node):
    path = db_path(node.spool)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.unlink(path + suffix)
    done = node.run(QSTAT)
    assert done.returncode == 1 and "no site database" in done.stderr, done
    assert not os.path.exists(path)


# ---------------------------------------------------------------- a site disk that fills up

OUTPUT_LIMIT = 65536
BIG_SCRIPT = "# %s\ntrue\n" % ("x" * 150 * 1024)  # needs fresh pages in the database: a full disk refuses it


@pytest.fixture
def small_disk(users):
    """A running local site whose spool is a 24 MiB tmpfs (job_output_limit 64 KiB)."""
    layout = make_root()
    spool = layout.spool
    os.rename(spool, spool + ".installed")
    os.mkdir(spool)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m,mode=755", "cjct-disk", spool], check=True)
    node = None
    try:
        subprocess.run(["cp", "-a", spool + ".installed/.", spool], check=True)
        node = Node(layout)
        with open(layout.local_daemon_conf, "a") as handle:
            handle.write("job_output_limit=%d\n" % OUTPUT_LIMIT)
        node.start_daemon("logdaemon")
        node.daemon = node.start()
        yield node
    finally:
        if node is not None:
            node.cleanup()
        subprocess.run(["umount", "-l", spool], check=True)
        remove_root(layout)


def _free_bytes(path):
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def _log(node):
    with open(os.path.join(node.spool, "log", "nqs.log"), errors="replace") as handle:
        return handle.read()


def test_job_output_is_cut_at_the_limit_while_it_runs(small_disk):
    node = small_disk
    job_id = node.qsub("head -c 50000000 /dev/zero | tr '\\0' a; sleep 2; echo done >&2\n")
    out_path = os.path.join(node.spool, "output", "%d.o" % job_id)
    wait_until(lambda: os.path.exists(out_path) and os.path.getsize(out_path) > 0, 20, "the job to write")
    time.sleep(1.5)
    assert os.path.getsize(out_path) < 24 * 1024 * 1024  # the disk did not fill: cut while it ran
    node.wait_state(job_id, "EXITED", 30)
    stdout = node.tracker(job_id)["outputs"][-1]["stdout"]
    assert stdout == "a" * OUTPUT_LIMIT + "\n[cjc: output cut here: more than %d bytes (job_output_limit)]\n" % OUTPUT_LIMIT
    assert node.tracker(job_id)["outputs"][-1]["stderr"] == "done\n"


def test_full_disk_refuses_submits_keeps_the_daemon_and_resumes(small_disk, tmp_path):
    node = small_disk
    node.qmgr("set queue guibs_1 run_limit=5")
    daemon_pid, log_pid = node.record_pid("nqsdaemon"), node.record_pid("logdaemon")
    filler, ended_mark = os.path.join(node.spool, "filler"), tmp_path / "end-now"
    os.chmod(tmp_path, 0o755)
    # ends while the disk is full: recording its end (60 000 bytes of output) needs room
    writer = node.qsub("head -c 60000 /dev/zero | tr '\\0' w; while [ ! -e %s ]; do sleep 0.1; done\n" % ended_mark)
    wait_until(lambda: node.job(writer)["state"] == "RUNNING" and node.job(writer)["pid"], 20, "the writer to run")
    first = node.qsub("dd if=/dev/zero of=$CJC_SITE_SPOOL/filler bs=64k 2>/dev/null\n"
                      "while [ -e $CJC_SITE_SPOOL/filler ]; do sleep 0.1; done; echo filled\n")
    wait_until(lambda: os.path.exists(filler) and _free_bytes(node.spool) == 0, 30, "the job to fill the disk")
    for user in (None, "cjct1"):
        done = node.run(QSUB, user=user, stdin=BIG_SCRIPT)
        assert done.returncode == 1, done
        assert "site disk full" in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "Traceback" not in done.stderr
    done = node.run(QSTAT, "-a", user="cjct1")
    assert done.returncode == 0, done
    ended_mark.write_text("")
    wait_until(lambda: not os.path.exists("/proc/%d" % node.job(writer)["pid"]), 20, "the writer to end")
    time.sleep(2 * 1.0 + 0.5)  # two ticks of the daemon: it tried to record the end
    assert node.job(writer)["state"] == "RUNNING"  # not written: the daemon does not pretend it was
    assert node.record_pid("nqsdaemon") == daemon_pid and node.daemon.poll() is None
    assert node.record_pid("logdaemon") == log_pid
    os.unlink(filler)
    later = [node.qsub("echo later %d\n" % n, user="cjct1") for n in range(3)] + [node.qsub(BIG_SCRIPT)]
    for job_id in [writer, first] + later:
        job = node.wait_state(job_id, "EXITED", 30)
        assert job["exit_status"] == 0 and job["runs"] == 1, job
    assert node.tracker(writer)["outputs"][-1]["stdout"] == "w" * 60000
    assert node.tracker(first)["outputs"][-1]["stdout"] == "filled\n"
    assert [node.tracker(j)["outputs"][-1]["stdout"] for j in later[:3]] == ["later %d\n" % n for n in range(3)]
    log = _log(node)
    assert "site disk full" in log and "waits in memory" in log and "room again" in log, log
    assert "Traceback" not in log


# ---------------------------------------------------------------- a site disk that vanishes (umount -l)

SITE = "testsite.example.com"
ADDRESS = "10.192.18.10"
HOSTS = "127.0.0.1 localhost\n%s %s testsite\n" % (ADDRESS, SITE)


@pytest.fixture
def disk_site(netns, tmp_path):
    """A cluster site made by cjcmksite on an ext4 image (a real disk that outlives a lazy unmount)."""
    from cjc.config.layout import Layout
    from cjc.plan.install import install_engine
    import sys
    ns = netns(["%s/24" % ADDRESS], HOSTS)
    layout = Layout(str(tmp_path / "root"))
    os.makedirs(layout.root)
    install_engine(layout, sys.executable, 100)
    image, mount = str(tmp_path / "disk.img"), str(tmp_path / "disk")
    os.mkdir(mount)
    subprocess.run(["truncate", "-s", "64M", image], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", image], check=True, capture_output=True)
    subprocess.run(["mount", "-o", "loop", image, mount], check=True)
    db = os.path.join(mount, "jobdb")
    env = {"CJC_ROOT": layout.root}
    done = ns.run([layout.path("/usr/lib/nqs/cluster/cjcmksite"), SITE, "200", db], env=env)
    assert done.returncode == 0, done.stderr
    yield ns, layout, image, mount, db, env
    from cjc.site.processes import end_processes, site_processes
    end_processes(site_processes(os.path.join(db, "nqs")), grace=0)
    subprocess.run(["umount", "-l", mount], capture_output=True)


def _in_ns_of(pid, argv, env):
    """Run ``argv`` in the network and mount namespaces of process ``pid`` (as a cluster node's agent)."""
    return subprocess.run(["nsenter", "--target", str(pid), "--mount", "--net"] + argv, env=env,
                          capture_output=True, text=True, timeout=120)


def test_lazy_unmount_under_a_running_site_is_a_failure_and_stop_ends_everything(disk_site, tmp_path):
    from cjc.ocf.agent import AGENT_PATH
    from cjc.site.processes import site_processes
    ns, layout, image, mount, db, env = disk_site
    spool, starts = os.path.join(db, "nqs"), tmp_path / "starts"
    agent_env = dict(env, PATH="/usr/sbin:/usr/bin:/sbin:/bin", OCF_RESKEY_site=SITE, OCF_RESKEY_db_path=db,
                     OCF_RESKEY_root=layout.root, OCF_RESKEY_CRM_meta_interval="10000",
                     HA_RSCTMP=str(tmp_path / "rsctmp"), OCF_RESOURCE_INSTANCE="cjcsite-disk")
    agent = [layout.path(AGENT_PATH)]
    # one mount namespace for the node: `ip netns exec` makes a new one at each call
    holder = ns.popen(["sleep", "600"])
    node_pid = holder.pid
    wait_until(lambda: os.readlink("/proc/%d/ns/net" % node_pid) != os.readlink("/proc/self/ns/net"), 10, "the node")
    done = _in_ns_of(node_pid, agent + ["start"], agent_env)
    assert done.returncode == 0, done.stderr
    done = subprocess.run(["nsenter", "--target", str(node_pid), "--mount", "--net", layout.path(QSUB)],
                          env=dict(env, NQS_SITE=SITE), input="trap \"\" TERM\necho $$ >> %s\nsleep 300\n" % starts,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    wait_until(lambda: starts.exists() and starts.read_text(), 30, "the job to run")
    first_pid = int(starts.read_text())
    owner = int((tmp_path / "rsctmp" / "cjcsite-cjcsite-disk.serving").read_text())  # cjcpw: not marked by the spool
    everything = [p.pid for p in site_processes(spool)] + [owner]
    assert _in_ns_of(node_pid, agent + ["monitor"], agent_env).returncode == 0
    subprocess.run(["umount", "-l", mount], check=True)
    if _in_ns_of(node_pid, ["test", "-e", os.path.join(spool, "siteinfo")], env).returncode == 0:
        assert _in_ns_of(node_pid, ["umount", "-l", mount], env).returncode == 0
    assert site_processes(spool)  # the site lives on, on a disk nobody sees
    monitor = _in_ns_of(node_pid, agent + ["monitor"], agent_env)
    assert monitor.returncode == 1, monitor  # OCF_ERR_GENERIC, never OCF_NOT_RUNNING (7)
    assert "still run here" in monitor.stderr
    probe = _in_ns_of(node_pid, agent + ["monitor"], dict(agent_env, OCF_RESKEY_CRM_meta_interval="0"))
    assert probe.returncode == 1, probe
    stop = _in_ns_of(node_pid, agent + ["stop"], agent_env)
    assert stop.returncode == 0, stop
    assert site_processes(spool) == []

    def gone(pid):
        return not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert all(gone(pid) for pid in everything)
    assert gone(first_pid)
    # the other node takes the disk over: the job runs again once, never beside its first run
    device = subprocess.run(["losetup", "--find", "--show", image], check=True, capture_output=True,
                            text=True).stdout.strip()
    try:
        subprocess.run(["mount", device, mount], check=True)
        assert _in_ns_of(node_pid, ["mount", device, mount], env).returncode == 0  # one file system, two views
        _take_over(node_pid, agent, agent_env, spool, starts)
    finally:
        _in_ns_of(node_pid, ["umount", "-l", mount], env)
        holder.kill()
        holder.wait()
        subprocess.run(["umount", "-l", mount], capture_output=True)
        subprocess.run(["losetup", "-d", device], capture_output=True)


def _take_over(node_pid, agent, agent_env, spool, starts):
    from cjc.jobs.store import open_store
    with open_store(spool) as store:
        row = store.db.execute("SELECT state, runs FROM jobs WHERE id = 1").fetchone()
    assert (row["state"], row["runs"]) == ("RUNNING", 1)
    done = _in_ns_of(node_pid, agent + ["start"], agent_env)
    assert done.returncode == 0, done.stderr
    wait_until(lambda: len(starts.read_text().split()) == 2, 30, "the job to run again")
    with open_store(spool) as store:
        row = store.db.execute("SELECT state, runs FROM jobs WHERE id = 1").fetchone()
    assert (row["state"], row["runs"]) == ("RUNNING", 2)
    assert len(starts.read_text().split()) == 2
    # the job ignores SIGTERM: an orderly stop would wait STOP_TIMEOUT for it
    from cjc.site.processes import end_processes, site_processes
    end_processes(site_processes(spool, jobs_only=True), grace=0)
    assert _in_ns_of(node_pid, agent + ["stop"], agent_env).returncode == 0
