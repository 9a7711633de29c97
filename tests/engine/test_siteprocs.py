"""site_pids() finds a site's processes on this node only: its control group (site/cgroup.py).

Lab nodes share one process table and one cgroup tree and mount the shared disk at the
same path, so a process of the same site in another node's network namespace must
never be found (and ended) by a stop on this node; and a process that only carries the
site's environment mark is nobody's.
"""

import json
import os
import subprocess
import sys
import time

import pytest

from cjc.site.cgroup import SiteGroup

from jobsite import make_netns, remove_netns, wait_until

pytestmark = pytest.mark.netns

ENGINE = os.path.dirname(os.path.dirname(os.path.abspath(sys.modules["cjc"].__file__)))


def _in_node(ns, code):
    return ["ip", "netns", "exec", ns, sys.executable, "-c", "import sys; sys.path.insert(0, %r); %s" % (ENGINE, code)]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_each_node_sees_and_ends_only_its_own_group_of_the_same_site(tmp_path):
    spool = str(tmp_path / "jobdb" / "nqs")
    names = ["cjcsp%d-%d" % (i, os.getpid()) for i in (1, 2)]
    for name in names:
        make_netns(name)
    keys = ["net%d" % os.stat("/run/netns/" + name).st_ino for name in names]
    member = "from cjc.site.cgroup import SiteGroup; SiteGroup(%r).enter(); import time; time.sleep(60)" % spool
    listing = "import json; from cjc.site.processes import site_pids; print(json.dumps(site_pids(%r)))" % spool
    ending = "from cjc.site.cgroup import SiteGroup; g = SiteGroup(%r); g.end(); print(g.wait_empty(5))" % spool
    procs = [subprocess.Popen(_in_node(name, member)) for name in names]
    marked = subprocess.Popen(["ip", "netns", "exec", names[0], "env", "CJC_SITE_SPOOL=%s" % spool, "sleep", "60"])
    try:
        for proc, key in zip(procs, keys):
            wait_until(lambda: SiteGroup(spool, key).members() == [proc.pid], 10, "the member in %s" % key)
        seen = [json.loads(subprocess.run(_in_node(name, listing), capture_output=True, text=True, check=True).stdout)
                for name in names]
        assert seen == [[procs[0].pid], [procs[1].pid]]  # the marked process is nobody's
        ended = subprocess.run(_in_node(names[0], ending), capture_output=True, text=True, check=True)
        assert ended.stdout.strip() == "[]"
        assert procs[0].wait(timeout=5) == -9
        time.sleep(0.2)
        assert procs[1].poll() is None and marked.poll() is None  # the other node's member and the impostor live
    finally:
        for proc in procs + [marked]:
            proc.kill()
            proc.wait()
        for name, key in zip(names, keys):
            remove_netns(name)
            SiteGroup(spool, key).remove()


FORKER = "i=0; while [ $i -lt 4000 ]; do sleep 120 & i=$((i+1)); done; wait"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
@pytest.mark.parametrize("how", ["cgroup.kill", "cgroup2 freeze", "v1 freezer"])
def test_ending_a_group_beats_a_process_forking_in_a_loop(tmp_path, monkeypatch, how):
    """Each way of ending a group (site/cgroup.py) ends a member that keeps forking."""
    from cjc.site import cgroup
    if how == "v1 freezer":
        with open("/proc/self/mountinfo") as handle:
            point = cgroup.find_mounts(handle.read()).get(cgroup.FREEZER)
        if not point:
            pytest.skip("no cgroup v1 freezer mounted here")
        monkeypatch.setattr(cgroup, "_TRACKER", (cgroup.FREEZER, point))
    elif cgroup.tracker()[0] != cgroup.CGROUP2:
        pytest.skip("no cgroup2 here")
    if how == "cgroup2 freeze":
        monkeypatch.setattr(cgroup, "KILL_FILE", "no-such-file")  # as on a kernel before 5.14
    group = cgroup.SiteGroup(str(tmp_path / "nqs"), "nettest")
    forker = subprocess.Popen(["sh", "-c", "read go; " + FORKER], stdin=subprocess.PIPE, text=True)
    try:
        group.enter(cgroup.JOBS, forker.pid)
        forker.stdin.write("go\n")
        forker.stdin.flush()
        wait_until(lambda: len(group.members()) > 100, 20, "the loop to fork")
        group.end(cgroup.JOBS)
        assert group.wait_empty(10) == []
        assert forker.wait(timeout=5) == -9
    finally:
        group.end(cgroup.JOBS)
        group.wait_empty(10)
        forker.wait()
        group.remove()
