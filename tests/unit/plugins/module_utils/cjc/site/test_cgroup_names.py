"""The names and the parsing behind the site's control groups (site/cgroup.py), without root.

Two nodes of a lab share one cgroup tree and mount the shared disk at one path, so a
group is named by site *and* node; these tests pin the naming and what the engine reads
back from /proc/<pid>/cgroup and /proc/self/mountinfo.
"""

import pytest

from ansible_collections.cjc.cluster.plugins.module_utils.cjc.site import cgroup


def test_the_site_key_is_the_escaped_spool_path_and_never_holds_a_slash():
    assert cgroup.site_key("/mnt/jobdb/nqs") == "mnt-jobdb-nqs"
    assert cgroup.site_key("/mnt/jobdb/nqs/") == "mnt-jobdb-nqs"
    assert cgroup.site_key("/mnt/job-db/nqs") == "mnt-job\\x2ddb-nqs"  # '-' is escaped: no two paths meet
    assert cgroup.site_key("/mnt/job/db/nqs") == "mnt-job-db-nqs"
    assert cgroup.site_key("/tmp/a b/.x/nqs") == "tmp-a\\x20b-.x-nqs"
    assert cgroup.site_key("/.hidden/nqs") == "\\x2ehidden-nqs"
    assert "/" not in cgroup.site_key("/a/../b//c")


def test_a_long_spool_path_keeps_a_unique_name_within_one_path_component():
    long_a, long_b = "/" + "d" * 300 + "/a/nqs", "/" + "d" * 300 + "/b/nqs"
    key_a, key_b = cgroup.site_key(long_a), cgroup.site_key(long_b)
    assert len(key_a) <= cgroup.MAX_KEY and len(key_b) <= cgroup.MAX_KEY
    assert key_a != key_b and key_a == cgroup.site_key(long_a)


def test_the_group_is_per_site_and_per_node():
    one = cgroup.group_path("/mnt/jobdb/nqs", cgroup.node_key(4026532178))
    other_node = cgroup.group_path("/mnt/jobdb/nqs", cgroup.node_key(4026532299))
    assert one == "cjc/mnt-jobdb-nqs/net4026532178"
    assert other_node != one and not cgroup.within(other_node, one)
    assert cgroup.group_path("/mnt/jobdb/nqs", "net1", cgroup.JOBS) == "cjc/mnt-jobdb-nqs/net1/jobs"


@pytest.mark.parametrize("text, kind, path", [
    ("0::/cjc/mnt-jobdb-nqs/net7/jobs\n", cgroup.CGROUP2, "cjc/mnt-jobdb-nqs/net7/jobs"),
    ("9:name=systemd:/\n6:freezer:/cjc/s/net7\n0::/\n", cgroup.FREEZER, "cjc/s/net7"),
    ("9:name=systemd:/\n6:freezer:/cjc/s/net7\n0::/\n", cgroup.CGROUP2, ""),
    ("4:cpu,freezer:/x\n", cgroup.FREEZER, "x"),
    ("6:freezer:/x\n", cgroup.CGROUP2, None),
    ("1:name=freezer-like:/x\n", cgroup.FREEZER, None),
])
def test_membership_is_read_from_the_right_hierarchy(text, kind, path):
    assert cgroup.parse_membership(text, kind) == path


def test_within_a_group_means_the_group_or_below_not_a_name_that_starts_alike():
    assert cgroup.within("cjc/s/net7", "cjc/s/net7")
    assert cgroup.within("cjc/s/net7/jobs", "cjc/s/net7")
    assert not cgroup.within("cjc/s/net77", "cjc/s/net7")
    assert not cgroup.within(None, "cjc/s/net7")


HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
PURE = "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
SHIFTED = "30 23 0:26 /lxc/payload /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw\n"
ESCAPED = "30 23 0:26 / /mnt/cg\\040two rw,relatime - cgroup2 cgroup2 rw\n"


def test_mounts_are_found_in_hybrid_and_pure_layouts_and_a_shifted_root_is_refused():
    assert cgroup.find_mounts(HYBRID) == {cgroup.CGROUP2: "/sys/fs/cgroup/unified",
                                          cgroup.FREEZER: "/sys/fs/cgroup/freezer"}
    assert cgroup.find_mounts(PURE) == {cgroup.CGROUP2: "/sys/fs/cgroup"}
    assert cgroup.find_mounts(SHIFTED) == {}
    assert cgroup.find_mounts(ESCAPED) == {cgroup.CGROUP2: "/mnt/cg two"}
    assert cgroup.find_mounts("") == {}
