"""cjc_site against the real engine on temporary node roots.

The site is ``localhost`` (127.0.0.1 on ``lo``: forward and reverse lookups agree and
the address is configured here), its DB in the test's temporary directory.
"""

import os
import sys

import pytest

from ansible_collections.cjc.cluster.plugins.modules import cjc_site
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.plan.install import install_engine
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.config.layout import Layout

SITE = "localhost"  # 127.0.0.1 on lo
HEX = "7F000001"


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "shared" / "jobdb")


@pytest.fixture
def standby(tmp_path):
    root = tmp_path / "standby"
    root.mkdir()
    layout = Layout(str(root))
    install_engine(layout, sys.executable, 101)
    return layout


def site_args(node, db, **extra):
    os.makedirs(os.path.dirname(db), exist_ok=True)
    return dict(dict(name=SITE, machine_id=200, db_path=db, root=node.root), **extra)


def test_make_site_check_real_idempotent(run, node, db):
    args = site_args(node, db)
    link = os.path.join(node.spool, HEX)
    checked = run(cjc_site, args, check_mode=True)
    assert checked["changed"] is True
    assert [a["action"] for a in checked["actions"]] == ["make_site"]
    assert checked["records"] == [{"kind": "site_db", "item": db, "before": None,
                                   "after": {"name": SITE, "machine_id": 200}}]
    assert not os.path.exists(db) and not os.path.lexists(link)
    real = run(cjc_site, args)
    assert real["changed"] is True and real["actions"] == checked["actions"] and real["records"] == checked["records"]
    assert real["diff"] == checked["diff"]
    assert os.readlink(link) == db and os.path.isfile(os.path.join(db, "nqs", "siteinfo"))
    assert real["link"] == link and real["machine_id"] == 200 and real["db_path"] == db
    assert real["site"]["daemon"] == "SHUT" and real["site"]["cjcpw"] == "OFF"
    assert real["site"]["cjcls"][0].split() == [SITE, "SHUT", db, "OFF"]
    assert "cjcmksite Complete" in real["messages"]
    assert run(cjc_site, args, check_mode=True)["changed"] is False
    assert run(cjc_site, args)["changed"] is False


def test_standby_registers_link_only_and_repairs_drift(run, node, standby, db):
    run(cjc_site, site_args(node, db))
    args = site_args(standby, db)
    link = os.path.join(standby.spool, HEX)
    checked = run(cjc_site, args, check_mode=True)
    assert checked["changed"] and [a["action"] for a in checked["actions"]] == ["register_link"]
    assert not os.path.lexists(link)
    assert run(cjc_site, args)["changed"] and os.readlink(link) == db
    assert run(cjc_site, args)["changed"] is False
    os.unlink(link)  # drift: the standby's link is gone
    drifted = run(cjc_site, args, check_mode=True)
    assert drifted["changed"] is True
    assert drifted["records"] == [{"kind": "site_link", "item": link, "before": None, "after": db}]
    assert not os.path.lexists(link)
    assert run(cjc_site, args)["changed"] is True and os.readlink(link) == db


@pytest.mark.parametrize("extra, message", [
    (dict(machine_id=100), "machine ID 100 is already used by site"),
    (dict(name="localhost.invalid"), "site name localhost.invalid does not resolve"),
    (dict(machine_id=0), "machine ID 0 is not valid"),
    (dict(machine_id=None), "machine_id is required to make site localhost"),
])
def test_refusals_carry_the_engine_message(run, node, db, extra, message):
    result = run(cjc_site, site_args(node, db, **extra))
    assert result["failed"] is True and message in result["msg"], result["msg"]
    assert not os.path.exists(os.path.join(db, "nqs"))


def test_existing_db_of_another_identity_is_refused(run, node, db):
    run(cjc_site, site_args(node, db))
    result = run(cjc_site, site_args(node, db, machine_id=201))
    assert result["failed"] and "has machine ID 200, not 201" in result["msg"]


def test_absent_unregisters_then_purge_deletes_db(run, node, db):
    run(cjc_site, site_args(node, db))
    link = os.path.join(node.spool, HEX)
    args = site_args(node, db, state="absent")
    checked = run(cjc_site, args, check_mode=True)
    assert checked["changed"] and os.path.lexists(link)
    assert checked["records"] == [{"kind": "site_link", "item": link, "before": db, "after": None}]
    assert run(cjc_site, args)["changed"] and not os.path.lexists(link)
    assert os.path.isdir(os.path.join(db, "nqs"))
    assert run(cjc_site, args)["changed"] is False
    purge = dict(args, purge_db=True)
    assert run(cjc_site, purge, check_mode=True)["changed"] and os.path.isdir(db)
    result = run(cjc_site, purge)
    assert result["changed"] and not os.path.exists(db)
    assert run(cjc_site, purge)["changed"] is False


def test_maintenance_sets_common_conf_and_keeps_site(run, node, db):
    run(cjc_site, site_args(node, db))
    args = site_args(node, db, state="maintenance")
    checked = run(cjc_site, args, check_mode=True)
    assert checked["changed"] and checked["diff"]["after"]["maintenance"] == "ON"
    assert checked["records"] == [{"kind": "conf_key", "item": node.common_daemon_conf + ": maintenance",
                                   "before": None, "after": "ON"}]
    assert not os.path.exists(node.common_daemon_conf)
    result = run(cjc_site, args)
    assert result["changed"] and result["site"]["maintenance"] is True
    with open(node.common_daemon_conf) as handle:
        assert handle.read() == "maintenance=ON\n"
    assert run(cjc_site, args)["changed"] is False


def test_started_runs_cjcpw_c_in_check_mode_plan(run, node, db):
    run(cjc_site, site_args(node, db))
    checked = run(cjc_site, site_args(node, db, state="started"), check_mode=True)
    assert checked["changed"]
    assert checked["actions"] == [{"action": "run", "argv": [
        os.path.join(node.root, "usr/lib/nqs/cluster/cjcpw"), "-c", SITE, db]}]
    assert checked["records"] == [{"kind": "site_daemons", "item": "site " + SITE, "before": "SHUT", "after": "running"}]
    assert run(cjc_site, site_args(node, db, state="stopped"), check_mode=True)["changed"] is False


def test_started_under_maintenance_uses_nqsstart(run, node, db):
    run(cjc_site, site_args(node, db, state="maintenance"))
    checked = run(cjc_site, site_args(node, db, state="started"), check_mode=True)
    assert checked["actions"][0]["argv"] == [os.path.join(node.root, "usr/lib/nqs/nqsstart"), SITE]


def test_local_site(run, node):
    stopped = run(cjc_site, dict(local=True, state="stopped", root=node.root))
    assert stopped["changed"] is False and stopped["site"]["local"] is True
    assert stopped["machine_id"] == 100 and stopped["site"]["daemon"] == "SHUT"
    started = run(cjc_site, dict(local=True, state="started", root=node.root), check_mode=True)
    assert started["actions"] == [{"action": "run", "argv": [os.path.join(node.root, "usr/lib/nqs/nqsstart")]}]
    absent = run(cjc_site, dict(local=True, state="absent", root=node.root))
    assert absent["failed"] and "local_daemon=OFF" in absent["msg"]


def test_needs_installed_engine(run, tmp_path, db):
    result = run(cjc_site, dict(name=SITE, machine_id=200, db_path=db, root=str(tmp_path / "bare")))
    assert result["failed"] and "install it first" in result["msg"]


def test_check_mode_before_the_engine_plans_on_the_assumption(run, tmp_path, db):
    """Nothing installed under the root: check mode with assume=[engine] predicts the build,
    names what it assumed as pending, and writes nothing; without it, or in a real run, it refuses."""
    bare = tmp_path / "bare"
    bare.mkdir()
    local = dict(local=True, state="stopped", root=str(bare), assume=["engine"])
    checked = run(cjc_site, local, check_mode=True)
    assert checked["changed"] is False and checked["records"] == []
    assert checked["pending"] == ["the engine is installed by this run (%s/usr/spool/nqs is made then)" % bare,
                                  "the local site is made by this run's engine install, and does not run after it"]
    assert run(cjc_site, dict(local, assume=[]), check_mode=True)["msg"].startswith("the engine is not installed")
    assert run(cjc_site, local)["msg"].startswith("the engine is not installed")
    made = run(cjc_site, dict(site_args(Layout(str(bare)), db), assume=["engine"]), check_mode=True)
    assert [a["action"] for a in made["actions"]] == ["make_site"] and made["pending"]
    assert os.listdir(str(bare)) == [] and not os.path.exists(db)


def test_real_state_needs_no_assumption(run, node, db):
    """On an installed node the assumption is never used: nothing pending, the same plan."""
    args = site_args(node, db)
    plain = run(cjc_site, args, check_mode=True)
    assumed = run(cjc_site, dict(args, assume=["engine", "address"]), check_mode=True)
    assert assumed["pending"] == [] and assumed["actions"] == plain["actions"]
