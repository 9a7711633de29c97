"""The crash torture's verdicts catch what they claim to: fed made-up evidence, no lab."""

import os
import sqlite3
import types

import pytest

from reliability.torture import Torture


@pytest.fixture
def torture(tmp_path):
    lab = types.SimpleNamespace(site_fqdn="t.example", config=types.SimpleNamespace(shared_path="/mnt/d"),
                                shared_dir=str(tmp_path), node_names=["node1", "node2"])
    made = Torture(lab, seed=1, out=lambda text: None)
    os.makedirs(os.path.join(made.host_spool, "private"))
    os.makedirs(made.host_tdir)
    db = sqlite3.connect(os.path.join(made.host_spool, "private", "nqs.db"))
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    return made


def _row(job_id, state="EXITED", runs=1, exit_status=0, reason=None, events=()):
    return {"id": job_id, "name": "T0_%d" % job_id, "state": state, "runs": runs, "exit_status": exit_status,
            "reason": reason, "events": [{"state": s, "message": m} for s, m in events]}


def _verdict(torture, rows, log, ids=None):
    with open(os.path.join(torture.host_tdir, "runs.log"), "w") as handle:
        handle.write(log)
    ids = ids or {r["id"]: r["name"] for r in rows}
    found = torture.check(0, ids, {r["id"]: r for r in rows}, gone_at=100.0)
    return found


def test_a_clean_trial_has_no_findings(torture):
    rows = [_row(1),
            _row(2, state="DELETED", exit_status=None, reason="interrupted; deleted", events=[("DELETED", "deleted")]),
            _row(3, runs=2, events=[("QUEUED", "interrupted...: re-queued to run again from the beginning")])]
    log = "start 1 10 1.0\nend 1 10 2.0\nstart 3 11 1.0\nstart 3 12 101.0\nend 3 12 102.0\n"
    assert _verdict(torture, rows, log) == ""


@pytest.mark.parametrize("rows,log,kind", [
    ([_row(1)], "start 1 10 1.0\ndouble 1 11 1.5\nend 1 10 2.0\nstart 1 11 2.1\nend 1 11 3.0\n", "double-run"),
    ([_row(1, runs=2, events=[("QUEUED", "re-queued")])], "start 1 10 1.0\nstart 1 11 1.5\nend 1 11 2.0\n",
     "double-run"),  # the first run (no end) lived until the crash was over (gone_at=100)
    ([_row(1, runs=2)], "start 1 10 1.0\nend 1 10 2.0\nstart 1 11 3.0\nend 1 11 4.0\n", "double-run"),
    ([_row(1, runs=1)], "start 1 10 1.0\nstart 1 11 101.0\nend 1 11 102.0\n", "double-run"),
    ([_row(1, state="RUNNING")], "start 1 10 1.0\n", "lost"),
    ([_row(1)], "start 1 10 1.0\n", "lost"),
    ([_row(1, state="DELETED", reason=None)], "", "lost"),
])
def test_each_kind_of_failure_is_found(torture, rows, log, kind):
    assert kind + "=" in _verdict(torture, rows, log)


def test_a_job_missing_from_the_database_is_lost(torture):
    assert _verdict(torture, [], "", ids={7: "T0_7"}) == "lost=1"


def test_a_corrupt_database_is_found(torture):
    with open(os.path.join(torture.host_spool, "private", "nqs.db"), "r+b") as handle:
        handle.seek(0)
        handle.write(b"garbage" * 20)
    assert "corrupt=1" in _verdict(torture, [_row(1)], "start 1 10 1.0\nend 1 10 2.0\n")
