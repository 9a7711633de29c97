"""cjc_daemon_conf against the real engine on a temporary node root."""

import os

import pytest

from ansible_collections.cjc.cluster.plugins.modules import cjc_daemon_conf


def read(path):
    with open(path) as handle:
        return handle.read()


def test_sets_key_in_check_then_real_then_idempotent(run, node):
    args = dict(scope="common", settings={"local_daemon": "SITE"}, root=node.root)
    path = node.common_daemon_conf
    checked = run(cjc_daemon_conf, args, check_mode=True)
    assert checked["changed"] is True
    assert not os.path.exists(path)
    assert checked["diff"]["after"] == "local_daemon=SITE\n"
    assert checked["records"] == [{"kind": "conf_key", "item": path + ": local_daemon", "before": None, "after": "SITE"}]
    real = run(cjc_daemon_conf, args)
    assert real["changed"] is True and real["diff"] == checked["diff"] and real["records"] == checked["records"]
    assert read(path) == "local_daemon=SITE\n"
    assert run(cjc_daemon_conf, args, check_mode=True)["changed"] is False
    again = run(cjc_daemon_conf, args)
    assert again["changed"] is False and again["settings"] == {"local_daemon": "SITE"} and again["records"] == []


def test_keeps_comments_order_and_unknown_keys(run, node):
    path = node.local_daemon_conf
    text = "# local site\nfoo=bar\nipaddress=10.0.0.1\n\n# end\n"
    with open(path, "w") as handle:
        handle.write(text)
    result = run(cjc_daemon_conf, dict(scope="local", settings={"ipaddress": "10.0.0.2"}, root=node.root))
    assert result["changed"] is True
    assert read(path) == text.replace("10.0.0.1", "10.0.0.2")
    assert result["changes"] == [{"key": "ipaddress", "before": "10.0.0.1", "after": "10.0.0.2"}]


@pytest.mark.parametrize("scope, settings, message", [
    ("common", {"local_daemon": "ON"}, "local_daemon=ON is not valid: use SITE or OFF"),
    ("common", {"maintenance": "yes"}, "maintenance=yes is not valid: use ON or OFF"),
    ("local", {"ipaddress": "10.0.0.300"}, "ipaddress=10.0.0.300 is not an IPv4 address"),
    ("site_conf", {"STOP_TIMEOUT": 10}, "STOP_TIMEOUT=10 is out of range"),
    ("site_conf", {"BOOT": 60}, "site.conf has no key 'BOOT'"),
])
def test_refuses_bad_values_without_writing(run, node, scope, settings, message):
    result = run(cjc_daemon_conf, dict(scope=scope, settings=settings, root=node.root))
    assert result["failed"] is True
    assert message in result["msg"]
    assert not os.path.exists(node.common_daemon_conf)


def test_yaml_booleans_become_on_off(run, node):
    result = run(cjc_daemon_conf, dict(scope="common", settings={"maintenance": True}, root=node.root))
    assert read(node.common_daemon_conf) == "maintenance=ON\n" and result["changed"]


def test_absent_and_null_remove_keys(run, node):
    with open(node.common_daemon_conf, "w") as handle:
        handle.write("# c\nlocal_daemon=SITE\nmaintenance=ON\n")
    result = run(cjc_daemon_conf, dict(scope="common", settings={"maintenance": None}, root=node.root))
    assert result["changed"] and read(node.common_daemon_conf) == "# c\nlocal_daemon=SITE\n"
    result = run(cjc_daemon_conf, dict(scope="common", settings={"local_daemon": "x"}, state="absent",
                                       root=node.root))
    assert result["changed"] and read(node.common_daemon_conf) == "# c\n"
    assert run(cjc_daemon_conf, dict(scope="common", settings={"local_daemon": "x"}, state="absent",
                                     root=node.root))["changed"] is False


def test_warns_when_forcekill_not_below_stop_timeout(run, node):
    result = run(cjc_daemon_conf, dict(scope="site_conf", root=node.root,
                                       settings={"STOP_TIMEOUT": 30, "FORCEKILL_TIME": 30}))
    assert result["changed"]
    assert "FORCEKILL_TIME=30 >= STOP_TIMEOUT=30" in str(result["warnings"]), result["warnings"]


def test_cluster_scope_needs_the_site_db(run, node, tmp_path):
    result = run(cjc_daemon_conf, dict(scope="cluster", db_path=str(tmp_path / "nodb"),
                                       settings={"ipaddress": "10.0.0.1"}, root=node.root))
    assert result["failed"] and "no site database at" in result["msg"]
    result = run(cjc_daemon_conf, dict(scope="cluster", settings={"ipaddress": "10.0.0.1"}, root=node.root))
    assert result["failed"] and "db_path" in result["msg"]


def test_cluster_site_conf_edits_db_file(run, node, tmp_path):
    db = tmp_path / "db"
    (db / "nqs").mkdir(parents=True)
    (db / "etc").mkdir()
    result = run(cjc_daemon_conf, dict(scope="site_conf", db_path=str(db), settings={"BOOT_TIMEOUT": 60},
                                       root=node.root))
    assert result["path"] == str(db / "etc" / "site.conf")
    assert read(result["path"]) == "BOOT_TIMEOUT=60\n"


def test_check_mode_plans_a_cluster_file_of_a_db_still_to_be_made(run, node, tmp_path):
    """assume=[site_db]: the files as cjcmksite writes them (daemon.conf names the site address);
    without the address, or in a real run, it refuses; nothing is written."""
    db = str(tmp_path / "jobdb")
    args = dict(scope="cluster", db_path=db, settings={"ipaddress": "10.1.2.3", "nqs_port": 1607},
                assume=["site_db"], site_address="10.1.2.3", root=node.root)
    checked = run(cjc_daemon_conf, args, check_mode=True)
    assert checked["changes"] == [{"key": "nqs_port", "before": None, "after": "1607"}]
    assert checked["diff"]["before"] == "ipaddress=10.1.2.3\n"
    assert checked["pending"] == ["the site DB %s is made by this run (cjcmksite) before this file is edited" % db]
    site_conf = run(cjc_daemon_conf, dict(args, scope="site_conf", settings={"STOP_TIMEOUT": 60}), check_mode=True)
    assert site_conf["changes"] == [{"key": "STOP_TIMEOUT", "before": None, "after": "60"}]
    assert "needs the site's address" in run(cjc_daemon_conf, dict(args, site_address=None), check_mode=True)["msg"]
    assert "no site database at" in run(cjc_daemon_conf, args)["msg"]
    assert not os.path.exists(db)


def test_check_mode_plans_a_node_file_before_the_engine(run, tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    args = dict(scope="common", settings={"local_daemon": "SITE"}, assume=["engine"], root=str(bare))
    checked = run(cjc_daemon_conf, args, check_mode=True)
    assert checked["changed"] is True and checked["diff"]["after"] == "local_daemon=SITE\n" and checked["pending"]
    assert "the engine is not installed" in run(cjc_daemon_conf, args)["msg"]
    assert os.listdir(str(bare)) == []
