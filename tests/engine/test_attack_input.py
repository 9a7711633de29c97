"""Attacks by the data users hand the site: script bytes in any encoding, hostile job names,
root-only commands run by a user, replies bigger than one frame (docs/security.md "Data that
enters the site"). Real daemons, a real unprivileged user (useradd) on the local socket.
"""

import os
import sqlite3

import pytest

from cjc.jobs.store import db_path

from jobsite import Node, make_root, remove_root

pytestmark = pytest.mark.root

QSTAT = "/usr/bin/qstat"
QSUB = "/usr/bin/qsub"
TEXT = "# ジョブの説明: 日本語のコメント\necho '結果は表の通り' \n"


@pytest.fixture
def site(users):
    node = Node(make_root())
    try:
        node.start_daemon("logdaemon")
        node.daemon = node.start()
        node.qmgr("set queue guibs_1 run_limit=5")
        yield node
    finally:
        node.cleanup()
        remove_root(node.layout)


def _raw(node, sql, *args):
    db = sqlite3.connect(db_path(node.spool))
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def _qsub_bytes(node, script, user=None):
    """qsub of a script file holding ``script`` (bytes); the request number."""
    path = os.path.join(node.layout.root, "job.sh")
    with open(path, "wb") as handle:
        handle.write(script)
    os.chmod(path, 0o644)
    done = node.run(QSUB, path, user=user)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[1].split(".")[0])


@pytest.mark.parametrize("encoding", ["shift_jis", "euc_jp"])
@pytest.mark.parametrize("user", [None, "cjct1"])
def test_script_is_stored_and_run_byte_for_byte(site, encoding, user):
    script = TEXT.encode(encoding)
    assert script.decode("utf-8", "replace").encode("utf-8") != script  # not UTF-8: a decode would change it
    job_id = _qsub_bytes(site, script, user)
    assert site.wait_state(job_id, "EXITED")["exit_status"] == 0
    assert _raw(site, "SELECT script FROM jobs WHERE id = ?", job_id) == [(script,)]
    assert _raw(site, "SELECT stdout FROM outputs WHERE job_id = ?", job_id) == [("結果は表の通り\n".encode(encoding),)]


@pytest.mark.parametrize("name", ["evil\x1b]0;owned\x07", "two\nlines", "tab\tx", "del\x7fx", "c1\x9bx"])
@pytest.mark.parametrize("user", [None, "cjct1"])
def test_job_name_with_control_characters_is_refused_at_submit(site, name, user):
    before = _raw(site, "SELECT count(*) FROM jobs")
    done = site.run(QSUB, "-r", name, user=user, stdin="true\n")
    assert done.returncode == 1, done
    assert "control characters" in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert _raw(site, "SELECT count(*) FROM jobs") == before


@pytest.mark.parametrize("argv", [["/usr/lib/nqs/cluster/cjcpw", "-stop", "vm"], ["/usr/lib/nqs/nqsstop"],
                                  ["/usr/lib/nqs/nqsstart"]])
def test_root_only_command_run_by_a_user_gets_one_line(site, argv):
    daemon_pid = site.record_pid("nqsdaemon")
    done = site.run(argv[0], *argv[1:], user="cjct1")
    assert done.returncode == 1, done
    assert done.stderr.strip().endswith("belong to root)") and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert site.record_pid("nqsdaemon") == daemon_pid


def test_replies_of_any_size_reach_the_user_page_by_page(site):
    from cjc.net import wire
    job_id = site.qsub("head -c 1000000 /dev/zero | tr '\\0' '\\1'; echo\n", user="cjct1")
    site.wait_state(job_id, "EXITED", 30)
    done = site.run(QSTAT, "-f", job_id, user="cjct1")
    assert done.returncode == 0, done.stderr
    assert "\x01" * 1000000 in done.stdout  # more than a frame holds once escaped: it came in pages
    assert 6 * 1000000 > wire.MAX_FRAME
    import json
    from cjc.jobs.requests import Caller, list_jobs, submit_job
    from cjc.jobs.store import open_store
    site.qmgr("stop queue guibs_1")
    with open_store(site.spool) as store:
        ids = [submit_job(store, Caller.of_uid(23001), "true\n", name="n%04d-%s" % (n, "y" * 55)) for n in range(4000)]
        assert len(json.dumps(list_jobs(store))) > wire.MAX_FRAME  # one reply could not hold them
    done = site.run(QSTAT, "-a", user="cjct1")
    assert done.returncode == 0, done.stderr
    listed = [int(line.split(".")[0]) for line in done.stdout.splitlines()[1:]]
    assert listed == ids
