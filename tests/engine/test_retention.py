"""Retention on a real local site: nqsdaemon purges finished requests past history_retention, in
small batches, exporting them first when asked, without holding dispatch up (docs/job-engine.md
"Retention").

The tests age finished requests by moving their recorded end back in time (the only thing that
differs between a request that ended a minute ago and one that ended a week ago); everything
else -- submits, runs, the purge -- is the site's own work.
"""

import base64
import json
import os
import sqlite3
import stat
import time

import pytest

from cjc.jobs import retention
from cjc.jobs.jobstore import JobStore
from cjc.jobs.requests import Caller
from cjc.jobs.store import db_path, open_store

from jobsite import wait_until

HOUR = 3600


def _site(node, *conf):
    with open(node.layout.local_daemon_conf, "a") as handle:
        handle.write("".join(line + "\n" for line in conf))
    node.start_daemon("logdaemon")
    node.daemon = node.start()
    node.qmgr("set queue guibs_1 run_limit=5")
    return node


def _age(node, job_ids, seconds):
    """Move the recorded end of ``job_ids`` ``seconds`` back."""
    with sqlite3.connect(db_path(node.spool), timeout=60) as db:
        db.executemany("UPDATE jobs SET ended = ended - ? WHERE id = ?", [(seconds, j) for j in job_ids])


def _rows(node, job_id):
    """(jobs, events, outputs) rows the database holds for ``job_id``."""
    with sqlite3.connect(db_path(node.spool), timeout=60) as db:
        return tuple(db.execute("SELECT count(*) FROM %s WHERE %s = ?" % (table, column), (job_id,)).fetchone()[0]
                     for table, column in (("jobs", "id"), ("events", "job_id"), ("outputs", "job_id")))


def _run(node, scripts, user="cjct1"):
    job_ids = [node.qsub(script, user=user) for script in scripts]
    for job_id in job_ids:
        node.wait_state(job_id, "EXITED", 30)
    return job_ids


def _exported(node):
    directory = os.path.join(node.spool, retention.EXPORT_DIR)
    lines = []
    for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
        with open(os.path.join(directory, name)) as handle:
            lines += [json.loads(line) for line in handle]
    return lines


def test_expired_requests_are_purged_exported_first_and_the_rest_kept(node, users):
    site = _site(node, "history_retention=1h", "history_export=ON")
    old, young, newest = _run(site, ["echo old; echo olderr >&2\n", "echo young\n", "echo newest\n"])
    site.qmgr("stop queue guibs_1")
    _age(site, [old, newest], 2 * HOUR)  # ``young`` ended a moment ago
    wait_until(lambda: _rows(site, old) == (0, 0, 0), 10, "the expired request to be purged")
    assert _rows(site, young)[0] == 1
    # the highest request number stays, expired or not: numbers are never given out twice
    time.sleep(1.5)
    assert _rows(site, newest)[0] == 1
    [line] = _exported(site)
    assert line["job"]["id"] == old and line["job"]["owner"] == "cjct1" and line["job"]["state"] == "EXITED"
    assert base64.b64decode(line["job"]["script"]) == b"echo old; echo olderr >&2\n"
    assert [base64.b64decode(line["outputs"][0][s]) for s in ("stdout", "stderr")] == [b"old\n", b"olderr\n"]
    assert [event["state"] for event in line["events"]] == ["QUEUED", "QUEUED", "RUNNING", "EXITED"]
    path = retention.export_path(site.spool, time.time())
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and os.stat(path).st_uid == 0
    waiting = site.qsub("echo waits\n", user="cjct2")  # its queue stopped: it never runs, never expires
    assert waiting == newest + 1
    wait_until(lambda: _rows(site, newest)[0] == 0, 10, "the expired request, no longer the newest, to go")
    assert [line["job"]["id"] for line in _exported(site)] == [old, newest]
    assert _rows(site, young)[0] == 1 and site.job(waiting)["state"] == "QUEUED"
    with open(os.path.join(site.spool, "log", "nqs.log")) as handle:
        assert "purged 1 finished request(s)" in handle.read()


def test_retention_off_keeps_everything(node, users):
    site = _site(node, "history_retention=OFF", "history_export=ON")
    first, _second = _run(site, ["true\n", "true\n"])
    _age(site, [first], 3650 * 24 * HOUR)
    time.sleep(2.5)  # two ticks of the daemon
    assert _rows(site, first)[0] == 1 and _exported(site) == []


def test_a_large_backlog_goes_in_batches_while_dispatch_goes_on(node, users):
    """Three batches of expired requests: purged over rounds of the loop, without export by default,
    while a request submitted meanwhile still starts at once."""
    site = _site(node)
    site.qmgr("set queue guibs_1 run_limit=64")
    count = 3 * retention.BATCH
    with open_store(site.spool) as store:
        jobs = JobStore(store)
        caller = Caller(0, "root")
        job_ids = jobs.submit_many(caller, Caller(23001, "cjct1"),
                                   [("guilb_def", "bulk", "ENABLE", b"true\n", "/bin/sh", {})] * count)
    wait_until(lambda: _count_finished(site) == count, 120, "every bulk request to end")
    _age(site, job_ids, 8 * 24 * HOUR)  # older than the default (7d)
    started = time.monotonic()
    probe = site.qsub("echo probe\n", user="cjct2")
    site.wait_state(probe, "EXITED", 10)
    assert time.monotonic() - started < 5
    wait_until(lambda: _count_finished(site) <= 2, 60, "the backlog to be purged")
    assert _rows(site, job_ids[0]) == (0, 0, 0) and _exported(site) == []


def _count_finished(site):
    with sqlite3.connect(db_path(site.spool), timeout=60) as db:
        return db.execute("SELECT count(*) FROM jobs WHERE state = 'EXITED'").fetchone()[0]


@pytest.mark.parametrize("conf", ["history_retention=5m", "history_export=yes"])
def test_a_bad_setting_is_reported_and_the_default_applies(node, users, conf):
    site = _site(node, conf)
    first, _second = _run(site, ["true\n", "true\n"])
    _age(site, [first], 6 * 24 * HOUR)  # inside the default 7 days: kept
    time.sleep(2.5)
    assert _rows(site, first)[0] == 1
    _age(site, [first], 2 * 24 * HOUR)
    wait_until(lambda: _rows(site, first)[0] == 0, 10, "the request to be purged under the default")
    assert _exported(site) == []
    with open(os.path.join(site.spool, "log", "nqs.log")) as handle:
        assert conf in handle.read()
