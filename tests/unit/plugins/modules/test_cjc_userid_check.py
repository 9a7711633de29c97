"""cjc_userid_check (the node side) against real account files under a temporary root,
and the engine's comparison table."""

import os

import pytest

from ansible_collections.cjc.cluster.plugins.modules import cjc_userid_check
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.plan import userids

# the nodes' accounts are changed with the real usermod/groupmod on files owned by those users
pytestmark = pytest.mark.root

PASSWD = "root:x:0:0:root:/root:/bin/bash\n{users}"
GROUP = "root:x:0:\n{groups}"


def make_node(base, users, groups):
    """A node root with etc/passwd, etc/group (and shadow files usermod expects)."""
    os.makedirs(os.path.join(base, "etc"))
    with open(os.path.join(base, "etc", "passwd"), "w") as handle:
        handle.write(PASSWD.format(users="".join("%s:x:%d:%d::/home/%s:/bin/sh\n" % (n, u, g, n)
                                                 for n, u, g in users)))
    with open(os.path.join(base, "etc", "group"), "w") as handle:
        handle.write(GROUP.format(groups="".join("%s:x:%d:\n" % (n, g) for n, g in groups)))
    with open(os.path.join(base, "etc", "shadow"), "w") as handle:
        handle.write("root:*:1::::::\n" + "".join("%s:*:1::::::\n" % n for n, _u, _g in users))
    with open(os.path.join(base, "etc", "gshadow"), "w") as handle:
        handle.write("root:*::\n" + "".join("%s:*::\n" % n for n, _g in groups))
    for name, uid, gid in users:
        home = os.path.join(base, "home", name)
        os.makedirs(home)
        with open(os.path.join(home, "job.out"), "w"):
            pass
        for path in (home, os.path.join(home, "job.out")):
            os.chown(path, uid, gid)
    os.makedirs(os.path.join(base, "data"))
    return base


REFERENCE = {"users": {"jobu": {"uid": 45001, "gid": 45001}}, "groups": {"jobg": 45001}}


@pytest.fixture
def standby(tmp_path):
    base = make_node(str(tmp_path / "standby"), [("jobu", 45005, 45005)], [("jobg", 45005)])
    stray = os.path.join(base, "data", "result.txt")
    with open(stray, "w"):
        pass
    os.chown(stray, 45005, 45005)
    return base


def test_reads_accounts_without_reference(run, standby):
    result = run(cjc_userid_check, dict(users=["jobu", "nobody_here"], groups=["jobg"], root=standby))
    assert result["changed"] is False
    assert result["accounts"] == {"users": {"jobu": {"uid": 45005, "gid": 45005}, "nobody_here": None},
                                  "groups": {"jobg": 45005}}


def test_gather_only_reads_and_never_compares_or_fixes(run, standby):
    result = run(cjc_userid_check, dict(users=["jobu"], groups=["jobg"], root=standby, reference=REFERENCE,
                                        fix=True, gather_only=True))
    assert result["changed"] is False and result["commands"] == [] and result["records"] == []
    assert result["accounts"]["users"]["jobu"] == {"uid": 45005, "gid": 45005}
    assert os.stat(os.path.join(standby, "data", "result.txt")).st_uid == 45005


def test_mismatch_fails_with_table(run, standby):
    result = run(cjc_userid_check, dict(users=["jobu"], groups=["jobg"], root=standby, reference=REFERENCE))
    assert result["failed"] is True
    assert "IDs differ from the reference" in result["msg"]
    lines = result["table"].splitlines()
    assert lines[0].split() == ["KIND", "NAME", "NODE", "UID", "GID", "PROBLEM"]
    assert lines[2].split() == "user jobu this node 45005 45005 active has uid 45001 gid 45001".split()


def test_fix_check_mode_then_real_then_idempotent(run, standby):
    args = dict(users=["jobu"], groups=["jobg"], root=standby, reference=REFERENCE, fix=True)
    checked = run(cjc_userid_check, args, check_mode=True)
    assert checked["changed"] is True
    assert checked["commands"] == [["groupmod", "--prefix", standby, "-g", "45001", "jobg"],
                                   ["usermod", "--prefix", standby, "-u", "45001", "jobu"]]
    assert checked["reowned"] == 3  # home, home/job.out, data/result.txt
    assert checked["records"] == [
        {"kind": "group_id", "item": "jobg", "before": 45005, "after": 45001},
        {"kind": "user_ids", "item": "jobu", "before": {"uid": 45005, "gid": 45005}, "after": {"uid": 45001, "gid": 45001}}]
    assert checked["diff"]["after"]["users"]["jobu"] == {"uid": 45001, "gid": 45001}
    assert os.stat(os.path.join(standby, "data", "result.txt")).st_uid == 45005
    real = run(cjc_userid_check, args)
    assert real.get("changed") is True, real
    assert real["commands"] == checked["commands"]
    assert real["records"] == checked["records"]
    assert real["accounts"]["users"]["jobu"] == {"uid": 45001, "gid": 45001}
    st = os.stat(os.path.join(standby, "data", "result.txt"))
    assert (st.st_uid, st.st_gid) == (45001, 45001)
    assert run(cjc_userid_check, args, check_mode=True)["changed"] is False
    assert run(cjc_userid_check, args)["changed"] is False


def test_fix_refuses_when_target_uid_taken(run, tmp_path):
    base = make_node(str(tmp_path / "n"), [("jobu", 45005, 45005), ("other", 45001, 45005)], [("jobg", 45005)])
    result = run(cjc_userid_check, dict(users=["jobu"], root=base, fix=True,
                                        reference={"users": {"jobu": {"uid": 45001, "gid": 45005}}}))
    assert result["failed"] and "uid 45001 belongs to user other there" in result["msg"]


def test_fix_refuses_missing_user(run, standby):
    result = run(cjc_userid_check, dict(users=["ghost"], root=standby, fix=True,
                                        reference={"users": {"ghost": {"uid": 45100, "gid": 45100}}}))
    assert result["failed"] and "user ghost is missing" in result["msg"]


def test_compare_and_table_for_two_nodes():
    reports = {"node1": {"users": {"a": {"uid": 1, "gid": 1}, "b": {"uid": 2, "gid": 2}}, "groups": {"g": 1}},
               "node2": {"users": {"a": {"uid": 1, "gid": 1}, "b": None}, "groups": {"g": 5}}}
    rows = userids.compare(reports, "node1")
    assert [(r["kind"], r["name"], r["node"], r["problem"]) for r in rows] == [
        ("user", "b", "node2", "missing"), ("group", "g", "node2", "active has gid 1")]
    table = userids.format_table(rows, reports, "node1").splitlines()
    assert table[1].split() == ["user", "b", "node1", "(active)", "2", "2", "ok"]
    assert table[2].split() == ["user", "b", "node2", "-", "-", "missing"]


def test_processes_of_a_moving_user_refuse_the_fix():
    local = {"users": {"me": {"uid": os.getuid(), "gid": 0}}, "groups": {}}
    reference = {"users": {"me": {"uid": 45999, "gid": 0}}, "groups": {}}
    with pytest.raises(userids.UserIdError, match="has running processes"):
        userids.check_no_processes(local, reference)
