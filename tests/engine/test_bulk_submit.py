"""Bulk submission: one qsub call, many requests, one transaction, one round trip (docs/job-engine.md).

Real site, real users: a useradd user's qsub goes over nqsdaemon's local socket, root's
opens the site database; both must record every request of a call or none.
"""

import json
import os
import pwd
import shutil
import subprocess
import tempfile

import pytest

from cjc.jobs.jobstore import JobStore, NqsError
from cjc.jobs.requests import MAX_BULK, Caller, list_jobs
from cjc.jobs.store import open_store
from cjc.net import wire
from cjc.site import endpoints

from jobsite import USER_PYTHON, Node, make_root, remove_root

QSUB = "/usr/bin/qsub"


@pytest.fixture
def site(users):
    """A running local site; guibs_1 runs 5 at a time."""
    layout = make_root()
    node = Node(layout)
    try:
        node.start_daemon("logdaemon")
        node.start()
        node.qmgr("set queue guibs_1 run_limit=5")
        yield node
    finally:
        node.cleanup()
        remove_root(layout)


@pytest.fixture
def scripts():
    """Script files every test user can read: ``scripts(name, text)`` -> path (pytest's tmp_path is 0700)."""
    directory = tempfile.mkdtemp(prefix="cjct-bulk-", dir="/tmp")
    os.chmod(directory, 0o755)

    def make(name, text):
        path = os.path.join(directory, name)
        with open(path, "w") as handle:
            handle.write(text)
        os.chmod(path, 0o644)
        return path
    yield make
    shutil.rmtree(directory)


def jobs_of(node):
    with open_store(node.spool) as store:
        return list_jobs(store, include_ended=True)


def submitted_ids(done):
    assert done.returncode == 0, done.stderr
    return [int(line.split()[1].split(".")[0]) for line in done.stdout.splitlines()]


@pytest.mark.parametrize("user", ["cjct1", None])
def test_several_scripts_are_several_requests_of_the_caller(site, scripts, user):
    paths = [scripts(name, "echo I am %s\n" % name) for name in ("a.sh", "b.sh", "c.sh")]
    ids = submitted_ids(site.run(QSUB, "-q", "guibs_1", *paths, user=user))
    assert len(ids) == 3
    for job_id, name in zip(ids, ("a.sh", "b.sh", "c.sh")):
        job = site.wait_state(job_id, "EXITED")
        assert job["name"] == name and job["owner"] == (user or "root") and job["exit_status"] == 0
        assert site.tracker(job_id)["outputs"][-1]["stdout"] == "I am %s\n" % name


def test_index_range_gives_each_job_its_index(site, scripts, users):
    path = scripts("arr.sh", "echo index=$QSUB_INDEX name=$QSUB_REQNAME mine=$MINE\n")
    ids = submitted_ids(site.run(QSUB, "-q", "guibs_1", "-v", "MINE=yes", "-t", "3-11:4", path, user="cjct2"))
    assert len(ids) == 3  # 3, 7, 11
    for job_id, index in zip(ids, (3, 7, 11)):
        job = site.wait_state(job_id, "EXITED")
        assert job["owner"] == "cjct2" and job["name"] == "arr.sh[%d]" % index
        assert site.tracker(job_id)["outputs"][-1]["stdout"] == "index=%d name=arr.sh[%d] mine=yes\n" % (index, index)


def test_index_range_of_stdin_and_of_several_scripts(site, scripts, users):
    site.qmgr("stop queue guibs_1")
    ids = submitted_ids(site.run(QSUB, "-q", "guibs_1", "-t", "5", user="cjct1", stdin="true\n"))
    assert [job["name"] for job in jobs_of(site) if job["id"] in ids] == ["STDIN[5]"]
    both = [scripts("x", "true\n"), scripts("y", "true\n")]
    ids = submitted_ids(site.run(QSUB, "-q", "guibs_1", "-t", "0-1", *both, user="cjct1"))
    assert [job["name"] for job in jobs_of(site) if job["id"] in ids] == ["x[0]", "x[1]", "y[0]", "y[1]"]


def test_a_thousand_requests_in_one_call(site, users):
    site.qmgr("stop queue guibs_1")
    ids = submitted_ids(site.run(QSUB, "-q", "guibs_1", "-t", "1-1000", user="cjct1", stdin="true\n"))
    assert len(ids) == len(set(ids)) == 1000
    recorded = {job["id"]: job for job in jobs_of(site)}
    assert all(recorded[job_id]["owner"] == "cjct1" and recorded[job_id]["state"] == "QUEUED" for job_id in ids)
    assert [recorded[job_id]["name"] for job_id in ids] == ["STDIN[%d]" % n for n in range(1, 1001)]


@pytest.mark.parametrize("user", ["cjct1", None])
def test_one_bad_item_refuses_the_whole_call(site, scripts, user):
    site.qmgr("stop queue guibs_1")
    good = scripts("good.sh", "true\n")
    too_big = scripts("big.sh", "#" * (200 * 1024 + 1))
    before = jobs_of(site)
    refused = [
        (site.run(QSUB, "-q", "guibs_1", good, too_big, good, user=user), "larger than the limit"),
        (site.run(QSUB, "-q", "guibs_1", "-r", "bad\tname", good, good, user=user), "control characters"),
        (site.run(QSUB, "-q", "guibs_1", "-t", "1-%d" % (MAX_BULK + 1), good, user=user), "more than the limit"),
        (site.run(QSUB, "-q", "guibs_1", "-t", "1-%d" % (MAX_BULK // 2 + 1), good, good, user=user),
         "more than the limit"),
        (site.run(QSUB, "-q", "nosuchqueue", good, good, user=user), "nosuchqueue"),
        (site.run(QSUB, "-q", "guibs_1", good, "/nonexistent/script", user=user), "cannot read the script"),
        (site.run(QSUB, "-q", "guibs_1", "-t", "9-1", good, user=user), "not valid"),
        (site.run(QSUB, "-q", "guibs_1", "-t", "1-x", good, user=user), "expected FIRST-LAST[:STEP]"),
        (site.run(QSUB, "-q", "guibs_1", "-t", "1-10:0", good, user=user), "not valid"),
    ]
    for done, why in refused:
        assert done.returncode != 0 and done.stdout == "", done.stdout
        assert why in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "Traceback" not in done.stderr
    assert jobs_of(site) == before  # nothing of any refused call recorded


def test_scripts_larger_than_a_frame_are_refused_before_sending(site, scripts, users):
    """Five scripts of 200 KiB exceed a frame in base64: the user's qsub says so, sends nothing."""
    big = [scripts("big%d.sh" % n, "#" * (200 * 1024 - 1) + "\n") for n in range(5)]
    before = jobs_of(site)
    done = site.run(QSUB, "-q", "guibs_1", *big, user="cjct1")
    assert done.returncode == 1 and "request not sent" in done.stderr and "frame limit" in done.stderr
    assert jobs_of(site) == before


def test_the_reply_of_the_largest_bulk_call_fits_a_frame():
    assert len(wire.encode({"ok": True, "ids": [2 ** 63 - 1] * MAX_BULK})) < wire.MAX_FRAME


def test_a_job_refused_inside_the_transaction_undoes_the_ones_before_it(site):
    """The queue is checked as each job is inserted: the third job's missing queue must take the
    first two back (JobStore.submit_many, one transaction)."""
    root = Caller(0, "root")
    good = ("guibs_1", "good", "ENABLE", b"true\n", None, {})
    before = jobs_of(site)
    with open_store(site.spool) as store:
        with pytest.raises(NqsError, match="nosuchqueue"):
            JobStore(store).submit_many(root, root, [good, good, ("nosuchqueue",) + good[1:], good])
    assert jobs_of(site) == before


RAW_CALLS = r"""
import json, socket, struct, sys
from cjc.site import endpoints
replies = []
for args in json.loads(sys.argv[2]):
    body = json.dumps({"op": "submit_many", "args": args}).encode()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    endpoints.connect(sock, sys.argv[1])
    sock.sendall(struct.pack(">I", len(body)) + body)
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    replies.append(json.loads(data[4:]))
print(json.dumps(replies))
"""


def test_hostile_bulk_requests_over_the_socket_are_refused_whole(site):
    """A user's own frames: another owner, malformed jobs or ranges, a range too large to count."""
    job = {"script_base64": "dHJ1ZQo=", "name": "x"}
    calls = [
        {"jobs": [job, job], "queue": "guibs_1", "owner_uid": 0},
        {"jobs": "not a list", "queue": "guibs_1"},
        {"jobs": [job, "not a job"], "queue": "guibs_1"},
        {"jobs": [], "queue": "guibs_1"},
        {"jobs": [job, dict(job, script_base64="***")], "queue": "guibs_1"},
        {"jobs": [job], "queue": "guibs_1", "indices": [1, 10 ** 30, 1]},
        {"jobs": [job], "queue": "guibs_1", "indices": [1, 5]},
        {"jobs": [job], "queue": "guibs_1", "indices": [True, 5, 1]},
        {"jobs": [job], "queue": "guibs_1", "indices": [-1, 5, 1]},
        {"jobs": [job, job], "queue": "guibs_1", "env": {"BAD NAME": "x"}},
    ]
    before = jobs_of(site)
    entry = pwd.getpwnam("cjct1")
    done = subprocess.run([USER_PYTHON, "-c", RAW_CALLS, endpoints.endpoint(site.layout, site.spool, "nqs"),
                           json.dumps(calls)], capture_output=True, text=True, timeout=60, user=entry.pw_uid,
                          group=entry.pw_gid, env={"PYTHONPATH": site.layout.engine_lib})
    assert done.returncode == 0, done.stderr
    replies = json.loads(done.stdout)
    assert [reply["ok"] for reply in replies] == [False] * len(calls), replies
    assert "not an NQS manager" in replies[0]["error"] and "more than the limit" in replies[5]["error"]
    assert jobs_of(site) == before
    assert site.run("/usr/bin/qstat", user="cjct1").returncode == 0  # the daemon still serves
