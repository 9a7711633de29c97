"""Attacks by the site's disk: a site database that is not one, a disk that fills up (guide §2.3).

Real daemons, a real tmpfs as the site's disk, real jobs that fill it with dd.
docs/security.md "Disks that fill up or vanish" says what must hold.
"""

import hashlib
import os
import subprocess

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
                                            (b"queues: guibs_1\njobs: none\n" * 10, "not an SQLite database")])
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
