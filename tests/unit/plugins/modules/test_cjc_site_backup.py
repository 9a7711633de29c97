"""cjc_site_backup against the real engine on temporary node roots: check mode writes nothing and
predicts the real run, the diff is what the backup holds, a restore is idempotent."""

import json
import os
import sys

import pytest

from ansible_collections.cjc.cluster.plugins.modules import cjc_site, cjc_site_backup
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.config.layout import Layout
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.plan.install import install_engine

SITE = "localhost"  # 127.0.0.1 on lo


@pytest.fixture
def site(run, node, tmp_path):
    """A stopped cluster site made by cjc_site: its DB path."""
    db = str(tmp_path / "shared" / "jobdb")
    os.makedirs(os.path.dirname(db))
    assert run(cjc_site, dict(name=SITE, machine_id=200, db_path=db, root=node.root))["changed"] is True
    return db


def test_a_node_where_the_site_does_not_run_makes_no_backup(run, node, site, tmp_path):
    result = run(cjc_site_backup, dict(site=SITE, dest=str(tmp_path / "b"), root=node.root))
    assert result["changed"] is False and result["skipped_reason"] == "site localhost does not run on this node"
    assert not os.path.exists(tmp_path / "b")


def test_backup_in_check_mode_writes_nothing_and_predicts_the_real_run(run, node, site, tmp_path):
    args = dict(site=SITE, dest=str(tmp_path / "b"), only_where_running=False, root=node.root)
    checked = run(cjc_site_backup, args, check_mode=True)
    assert checked["changed"] is True and not os.path.exists(tmp_path / "b")
    assert checked["summary"] == {"requests": 0, "requests_by_state": {}, "queues": ["guibs_1", "guilb_def"],
                                  "definitions": {"managers": 0, "machines": 0, "user_map": 0}}
    assert checked["diff"]["before"] == {} and checked["diff"]["after"]["queues"] == ["guibs_1", "guilb_def"]
    real = run(cjc_site_backup, args)
    assert real["changed"] is True and real["summary"] == checked["summary"]
    assert real["backup"].startswith(str(tmp_path / "b" / "localhost-"))
    assert sorted(os.listdir(real["backup"])) == ["daemon.conf", "manifest.json", "nqs.db", "siteinfo"]
    with open(os.path.join(real["backup"], "manifest.json")) as handle:
        manifest = json.load(handle)
    assert (manifest["site"], manifest["machine_id"], manifest["db_path"]) == (SITE, 200, site)
    assert real["records"] == [{"kind": "site_backup", "item": real["backup"], "before": None, "after": real["summary"]}]


def test_restore_check_real_idempotent_on_another_node(run, node, site, tmp_path):
    made = run(cjc_site_backup, dict(site=SITE, dest=str(tmp_path / "b"), only_where_running=False, root=node.root))
    other = Layout(str(tmp_path / "other"))
    os.mkdir(other.root)
    install_engine(other, sys.executable, 101)
    db2 = str(tmp_path / "shared" / "jobdb2")
    args = dict(site=SITE, state="restored", backup=made["backup"], db_path=db2, root=other.root)
    checked = run(cjc_site_backup, args, check_mode=True)
    assert checked["changed"] is True and not os.path.exists(db2)
    assert checked["records"][0]["kind"] == "site_db" and checked["records"][0]["after"]["machine_id"] == 200
    real = run(cjc_site_backup, args)
    assert real["changed"] is True and real["records"] == checked["records"] and real["diff"] == checked["diff"]
    assert os.readlink(os.path.join(other.spool, "7F000001")) == db2
    assert run(cjc_site_backup, args, check_mode=True)["changed"] is False
    assert run(cjc_site_backup, args)["changed"] is False


def test_a_restore_of_another_sites_backup_is_refused(run, node, site, tmp_path):
    made = run(cjc_site_backup, dict(site=SITE, dest=str(tmp_path / "b"), only_where_running=False, root=node.root))
    result = run(cjc_site_backup, dict(site="other.example.com", state="restored", backup=made["backup"],
                                       db_path=str(tmp_path / "db3"), root=node.root))
    assert result["failed"] is True and result["msg"] == "backup %s is of site localhost, not other.example.com" % made[
        "backup"]
