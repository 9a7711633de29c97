"""cjc_node_facts against the real engine on temporary node roots.

The site is ``localhost`` (127.0.0.1 on ``lo``: forward and reverse lookups agree and the
address is configured here). A running daemon is a real process (``sleep``) whose pid
record the engine itself writes, so ``read_status`` judges it exactly as it judges a daemon.
"""

import hashlib
import os
import sqlite3
import subprocess

import pytest

from ansible_collections.cjc.cluster.plugins.modules import cjc_node_facts, cjc_site
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.site import pidrecords
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.site.cgroup import SiteGroup

SITE = "localhost"
ADDRESS = "127.0.0.1"
HEX = "7F000001"


@pytest.fixture
def site(run, node, tmp_path):
    db = str(tmp_path / "shared" / "jobdb")
    os.makedirs(os.path.dirname(db))
    made = run(cjc_site, dict(name=SITE, machine_id=200, db_path=db, root=node.root))
    assert made["changed"] is True
    return db


def facts(run, node, check_mode=False, **args):
    result = run(cjc_node_facts, dict(args, root=node.root), check_mode=check_mode)
    assert result["changed"] is False, result
    return result["ansible_facts"]["cjc_node"]


def test_a_registered_site_is_a_row_of_data(run, node, site, tmp_path):
    record = str(tmp_path / "start_check.localhost")
    got = facts(run, node, site_name=SITE, address=ADDRESS, db_path=site, start_check_record=record)
    row = {"name": SITE, "machine_id": 200, "db_path": site, "is_local": False, "link": "/usr/spool/nqs/" + HEX,
           "address": ADDRESS, "available": True, "running": False, "daemon_pid": None, "cjcpw": None,
           "owner": None, "daemons": {}}
    assert got["sites"] == [row] and got["site"] == row
    assert got["names"] == {"site_name": SITE, "forward": [ADDRESS], "address": ADDRESS, "canonical": SITE,
                            "link": HEX, "agree": True}
    assert got["address_interface"] == "lo"
    assert got["db"] == {"path": site, "present": True, "machines": [], "users": []}
    assert got["start_check"] == {"path": record, "passed": False}
    assert got["missing_commands"] == []
    assert got["local_site"]["machine_id"] == 100 and got["local_site"]["is_local"] is True
    open(record, "w").close()
    assert facts(run, node, start_check_record=record, check_mode=True)["start_check"]["passed"] is True


def test_the_machine_table_is_read_and_the_database_left_untouched(run, node, site):
    """The machine table (qmgr machines) the role checks the site's ID against (guide §2.2.1),
    read without changing a byte of the site's database (the -shm index, where every reader
    marks what it reads, aside)."""
    path = os.path.join(site, "nqs", "private", "nqs.db")
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO machines VALUES (300, 'peer.example.com', '192.0.2.3', 607)")
        db.execute("INSERT INTO machines VALUES (200, 'localhost', '127.0.0.1', 607)")
    before = {name: hashlib.sha256(open(os.path.join(os.path.dirname(path), name), "rb").read()).hexdigest()
              for name in os.listdir(os.path.dirname(path)) if not name.endswith("-shm")}
    got = facts(run, node, db_path=site)["db"]["machines"]
    assert got == [{"machine_id": 200, "name": "localhost"}, {"machine_id": 300, "name": "peer.example.com"}]
    after = {name: hashlib.sha256(open(os.path.join(os.path.dirname(path), name), "rb").read()).hexdigest()
             for name in os.listdir(os.path.dirname(path)) if not name.endswith("-shm")}
    assert after == before


def test_the_users_the_site_knows_are_read(run, node, site):
    """Owners of queued and running requests, mapped local users and managers (guide §2.2.1): the
    users whose IDs step 4 compares when the operator lists none. Ended requests' owners are not."""
    path = os.path.join(site, "nqs", "private", "nqs.db")
    with sqlite3.connect(path) as db:
        for owner, state in (("queued1", "QUEUED"), ("running1", "RUNNING"), ("gone1", "EXITED"), ("queued1", "RUNNING")):
            db.execute("INSERT INTO jobs (name, queue, owner, uid, state, script, submitted) VALUES ('j', 'guibs_1', ?, 1, ?, x'', 0)",
                       (owner, state))
        db.execute("INSERT INTO user_map VALUES (300, 'remote1', 'mapped1')")
        db.execute("INSERT INTO managers VALUES ('manager1')")
    assert facts(run, node, db_path=site)["db"]["users"] == ["manager1", "mapped1", "queued1", "running1"]


def test_an_unreadable_database_has_no_machine_table(run, node, site):
    path = os.path.join(site, "nqs", "private", "nqs.db")
    with open(path, "r+b") as handle:
        handle.write(b"garbage, not SQLite" * 10)
    assert facts(run, node, db_path=site)["db"] == {"path": site, "present": True, "machines": None, "users": None}


def test_a_running_daemon_is_seen_through_its_pid_record(run, node, site):
    spool = os.path.join(site, "nqs", "run")
    os.makedirs(spool, exist_ok=True)
    sleeper = subprocess.Popen(["sleep", "60"])
    group = SiteGroup(os.path.join(site, "nqs"))  # a record counts for a process of the site's group only
    try:
        if group.tracked:
            group.enter(pid=sleeper.pid)
        pidrecords.write_record(os.path.join(spool, "nqsdaemon.pid"), sleeper.pid)
        row = facts(run, node, site_name=SITE)["site"]
        assert row["running"] is True and row["daemon_pid"] == sleeper.pid
        assert row["daemons"] == {"nqsdaemon": sleeper.pid}
    finally:
        sleeper.kill()
        sleeper.wait()
        group.remove()
    row = facts(run, node, site_name=SITE)["site"]  # a dead pid's record is not a running daemon
    assert row["running"] is False and row["daemons"] == {}


def test_names_that_disagree_and_an_unconfigured_address_are_reported(run, node):
    got = facts(run, node, site_name="no-such-site.invalid", address="192.0.2.77", db_path="/nonexistent/jobdb")
    assert got["site"] is None and got["sites"] == []
    assert got["names"]["forward"] == [] and got["names"]["agree"] is False
    assert got["address_interface"] is None
    assert got["db"] == {"path": "/nonexistent/jobdb", "present": False, "machines": None, "users": None}


def test_an_empty_node_lists_every_missing_command(run, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run(cjc_node_facts, dict(root=str(empty)))
    got = result["ansible_facts"]["cjc_node"]
    assert "/usr/lib/nqs/cluster/cjcls" in got["missing_commands"] and "/usr/bin/qsub" in got["missing_commands"]
    assert got["local_site"] is None and got["sites"] == []
    only = run(cjc_node_facts, dict(root=str(empty), commands=["/usr/bin/qsub"]))
    assert only["ansible_facts"]["cjc_node"]["missing_commands"] == ["/usr/bin/qsub"]
    assert os.listdir(empty) == []  # read only


def test_bad_input_fails_with_one_clear_message(run, node):
    bad = run(cjc_node_facts, dict(root=node.root, address="300.1.1.1"))
    assert bad["failed"] is True and bad["msg"] == "address must be an IPv4 address, got '300.1.1.1'"
    assert "absolute" in run(cjc_node_facts, dict(root="relative"))["msg"]
