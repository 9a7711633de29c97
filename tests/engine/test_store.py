"""The site database (guide §2.5.4): versioned schema, forward migrations, durability, atomicity."""

import os
import signal
import sqlite3
import subprocess
import sys

import pytest

from cjc.jobs import store as store_mod
from cjc.plan.install import install_engine
from cjc.config.layout import Layout
from cjc.jobs.requests import Caller, NqsError, qmgr, queue_status, submit_job
from cjc.jobs.store import SCHEMA_VERSION, StoreError, create_store, db_path, open_store

ROOT = Caller(0, "root")


@pytest.fixture
def spool(tmp_path):
    path = tmp_path / "nqs"
    path.mkdir()
    return str(path)


def test_new_database_has_the_default_queues_and_the_current_schema(spool):
    create_store(spool)
    with open_store(spool) as store:
        assert store.version() == SCHEMA_VERSION == 5
        queues = [(q.name, q.type, q.priority, q.destination) for q in queue_status(store)]
        assert queues == [("guilb_def", "PIPE", 10, "guibs_1"), ("guibs_1", "BATCH", 10, None)]
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert os.stat(db_path(spool)).st_mode & 0o777 == 0o600  # every user's scripts are inside


def test_older_database_is_upgraded_once_and_keeps_its_data(spool):
    create_store(spool, target=1)
    raw = sqlite3.connect(db_path(spool))
    raw.execute("INSERT INTO jobs (name, queue, owner, uid, state, script, submitted) "
                "VALUES ('old', 'guibs_1', 'root', 0, 'QUEUED', x'74727565', 1.0)")
    raw.commit()
    assert raw.execute("PRAGMA user_version").fetchone()[0] == 1
    raw.close()
    with open_store(spool) as store:
        assert store.version() == SCHEMA_VERSION
        assert store.db.execute("SELECT name FROM jobs").fetchall()[0][0] == "old"
        assert store.db.execute("SELECT count(*) FROM peer_nonces").fetchone()[0] == 0
        assert store.db.execute("SELECT count(*) FROM machines").fetchone()[0] == 0
        assert store.db.execute("SELECT count(*) FROM queues").fetchone()[0] == 2  # defaults not made twice
        # the expired requests are found through their index, not by a walk through every request
        plan = store.db.execute("EXPLAIN QUERY PLAN SELECT id FROM jobs INDEXED BY jobs_finished_by_end WHERE "
                                "state IN ('EXITED', 'DELETED', 'MIGRATED') AND ended < 1 ORDER BY ended").fetchall()
        assert "USING INDEX jobs_finished_by_end" in str([tuple(row) for row in plan])
    with open_store(spool) as store:
        assert store.version() == SCHEMA_VERSION


def test_newer_database_is_refused_with_a_clear_message(spool):
    create_store(spool)
    raw = sqlite3.connect(db_path(spool))
    raw.execute("PRAGMA user_version=99")
    raw.commit()
    raw.close()
    with pytest.raises(StoreError, match=r"schema version 99, newer than this engine knows \(\d+\): install the newer"):
        open_store(spool)


def test_missing_database_is_reported(spool):
    with pytest.raises(StoreError, match="no site database at .*nqs.db"):
        open_store(spool)


def test_a_failed_transaction_leaves_nothing(spool):
    create_store(spool)
    with open_store(spool) as store:
        with pytest.raises(RuntimeError):
            with store.transaction() as db:
                db.execute("DELETE FROM queues")
                raise RuntimeError("boom")
        assert len(queue_status(store)) == 2
        with pytest.raises(NqsError, match="no such queue: nosuch"):
            qmgr(store, ROOT, "set queue nosuch priority=1")


def test_a_submit_is_on_disk_when_it_returns(spool):
    """The submitter is SIGKILLed right after submit returns: the job is there."""
    create_store(spool)
    code = ("import os, signal, sys; sys.path.insert(0, %r); from cjc.jobs.store import open_store; "
            "from cjc.jobs.requests import Caller, submit_job; s = open_store(%r); "
            "print(submit_job(s, Caller(0, 'root'), 'true', 'guibs_1'), flush=True); "
            "os.kill(os.getpid(), signal.SIGKILL)" % (os.path.dirname(os.path.dirname(os.path.dirname(store_mod.__file__))), spool))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL
    with open_store(spool) as store:
        row = store.db.execute("SELECT state, queue FROM jobs WHERE id = ?", (int(done.stdout),)).fetchone()
        assert tuple(row) == ("QUEUED", "guibs_1")


def test_submit_checks_its_input(spool):
    create_store(spool)
    with open_store(spool) as store:
        with pytest.raises(NqsError, match="restart flag 'MAYBE' is not valid"):
            submit_job(store, ROOT, "true", restart="MAYBE")
        with pytest.raises(NqsError, match="environment variable 'BAD-NAME' is not valid"):
            submit_job(store, ROOT, "true", env={"BAD-NAME": "x"})
        with pytest.raises(NqsError, match="not an NQS manager"):
            submit_job(store, Caller(23001, "someone"), "true", owner_uid=0)


def test_install_makes_the_local_site_database_once(tmp_path):
    layout = Layout(str(tmp_path))
    first = install_engine(layout, sys.executable, 100)
    assert db_path(layout.spool) in first
    assert install_engine(layout, sys.executable, 100) == []
    with open_store(layout.spool) as store:
        assert [q.name for q in queue_status(store)] == ["guilb_def", "guibs_1"]
