"""Attacks by the site's disk: a site database that is not one, a disk that fills up (guide §2.3).

Real daemons, a real tmpfs as the site's disk, real jobs that fill it with dd.
docs/security.md "Disks that fill up or vanish" says what must hold.
"""

import hashlib
import os
import subprocess
import time

import pytest

from cjc.jobs.store import db_path

from jobsite import Node, make_root, make_users, remove_root, remove_users, wait_until, USERS

pytestmark = pytest.mark.root

QSTAT = "/usr/bin/qstat"
QSUB = "/usr/bin/qsub"


@pytest.fixture(scope="module")
def users():
    make_users()
    yield USERS
    remove_users()


@pytest.fixture
def node():
    layout = make_root()
    node = Node(layout)
    yield node
    node.cleanup()
    remove_root(layout)


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
