"""The store's crash-test hook: off by default, fires once, kills before COMMIT."""

import os
import sqlite3
import subprocess
import sys

from cjc.jobs.store import FAULT_ENV, create_store, db_path

HERE = os.path.dirname(os.path.abspath(__file__))
ENGINE = os.path.join(os.path.dirname(os.path.dirname(HERE)), "plugins", "module_utils")
WRITER = """
import sys
sys.path.insert(0, %r)
from cjc.jobs.store import open_store
with open_store(sys.argv[1]) as store:
    with store.transaction() as db:
        db.execute("INSERT INTO managers (name) VALUES (?)", (sys.argv[2],))
print("committed")
""" % ENGINE


def _write(spool, name, fault=None, program="writer"):
    env = dict(os.environ)
    env.pop(FAULT_ENV, None)
    if fault:
        env[FAULT_ENV] = fault
    return subprocess.run([sys.executable, "-c", WRITER, spool, name], env=env, capture_output=True, text=True,
                          timeout=30)


def _managers(spool):
    db = sqlite3.connect(db_path(spool))
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return [row[0] for row in db.execute("SELECT name FROM managers ORDER BY name")]
    finally:
        db.close()


def test_armed_fault_point_kills_the_writer_before_commit_once(tmp_path):
    spool = str(tmp_path / "spool")
    create_store(spool)
    arm = str(tmp_path / "fault")
    open(arm, "w").close()  # empty: any program fires
    died = _write(spool, "lost", fault=arm)
    assert died.returncode == -9 and died.stdout == ""
    assert not os.path.exists(arm)  # disarmed by the process that fired
    assert _write(spool, "kept", fault=arm).stdout == "committed\n"  # not armed any more
    assert _managers(spool) == ["kept"]


def test_fault_point_named_for_another_program_does_not_fire(tmp_path):
    spool = str(tmp_path / "spool")
    create_store(spool)
    arm = str(tmp_path / "fault")
    with open(arm, "w") as handle:
        handle.write("nqsdaemon\n")
    assert _write(spool, "kept", fault=arm).returncode == 0  # argv[0] is "-c", not nqsdaemon
    assert os.path.exists(arm)
    assert _write(spool, "also").returncode == 0  # no variable: no hook at all
    assert _managers(spool) == ["also", "kept"]


def test_fault_point_ignores_transactions_that_wrote_nothing(tmp_path):
    spool = str(tmp_path / "spool")
    create_store(spool)
    arm = str(tmp_path / "fault")
    open(arm, "w").close()
    reader = WRITER.replace('db.execute("INSERT INTO managers (name) VALUES (?)", (sys.argv[2],))',
                            'db.execute("SELECT count(*) FROM managers").fetchone()')
    env = dict(os.environ, **{FAULT_ENV: arm})
    done = subprocess.run([sys.executable, "-c", reader, spool, "x"], env=env, capture_output=True, text=True)
    assert done.stdout == "committed\n" and os.path.exists(arm)
