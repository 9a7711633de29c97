"""plan/userids.py without root: account files under a temporary root prefix, the comparison
and the repair plan (guide §2.2.1). A user whose primary group differs is repaired together
with that group, though only the user was named."""

import os

import pytest

from ansible_collections.cjc.cluster.plugins.module_utils.cjc.plan import userids


def node_root(base, users, groups):
    """A node root with etc/passwd and etc/group: users (name, uid, gid), groups (name, gid)."""
    os.makedirs(os.path.join(base, "etc"))
    with open(os.path.join(base, "etc", "passwd"), "w") as handle:
        handle.write("root:x:0:0:root:/root:/bin/sh\n")
        handle.writelines("%s:x:%d:%d::/home/%s:/bin/sh\n" % (n, u, g, n) for n, u, g in users)
    with open(os.path.join(base, "etc", "group"), "w") as handle:
        handle.write("root:x:0:\n")
        handle.writelines("%s:x:%d:\n" % (n, g) for n, g in groups)
    return base


@pytest.fixture
def nodes(tmp_path):
    """The active node and a standby whose job user and its primary group have other IDs."""
    active = node_root(str(tmp_path / "active"), [("jobu", 45001, 45001)], [("jobg", 45001)])
    standby = node_root(str(tmp_path / "standby"), [("jobu", 45005, 45005)], [("jobg", 45005), ("other", 45009)])
    return active, standby


def test_a_users_primary_group_is_read_without_being_named(nodes):
    _active, standby = nodes
    report = userids.read_accounts(["jobu"], [], standby)
    assert report["users"] == {"jobu": {"uid": 45005, "gid": 45005}}
    assert report["groups"] == {"jobg": 45005}


def test_a_named_group_and_a_missing_user_add_no_group(nodes):
    _active, standby = nodes
    report = userids.read_accounts(["jobu", "nobody_here"], ["other"], standby)
    assert report["groups"] == {"jobg": 45005, "other": 45009}
    assert report["users"]["nobody_here"] is None


def test_the_primary_group_mismatch_is_a_row_and_is_fixed_with_the_user(nodes):
    active, standby = nodes
    reports = {"node1": userids.read_accounts(["jobu"], [], active), "node2": userids.read_accounts(["jobu"], [], standby)}
    rows = userids.compare(reports, "node1")
    assert [(r["kind"], r["name"], r["node"]) for r in rows] == [("user", "jobu", "node2"), ("group", "jobg", "node2")]
    plan = userids.plan_fix(reports["node2"], reports["node1"], "node2", root=standby)
    assert plan["commands"] == [["groupmod", "--prefix", standby, "-g", "45001", "jobg"],
                                ["usermod", "--prefix", standby, "-u", "45001", "jobu"]]
    assert plan["reown"] == {"uids": {45005: 45001}, "gids": {45005: 45001}}
    assert userids.predicted_accounts(reports["node2"], reports["node1"]) == {
        "users": {"jobu": {"uid": 45001, "gid": 45001}}, "groups": {"jobg": 45001}}


def test_a_primary_gid_held_by_another_group_refuses_the_fix(tmp_path):
    active = node_root(str(tmp_path / "active"), [("jobu", 45001, 45001)], [("jobg", 45001)])
    standby = node_root(str(tmp_path / "standby"), [("jobu", 45001, 45005)], [("jobg", 45005), ("taken", 45001)])
    local, reference = userids.read_accounts(["jobu"], [], standby), userids.read_accounts(["jobu"], [], active)
    with pytest.raises(userids.UserIdError, match="cannot give group jobg gid 45001 on node2: gid 45001 belongs to group taken"):
        userids.plan_fix(local, reference, "node2", root=standby)


def test_equal_nodes_have_no_row(nodes):
    active, _standby = nodes
    report = userids.read_accounts(["jobu"], [], active)
    assert userids.compare({"node1": report, "node2": dict(report)}, "node1") == []


def test_the_real_accounts_of_this_machine_name_roots_group():
    assert userids.read_accounts(["root"], [], "/")["groups"]["root"] == 0
