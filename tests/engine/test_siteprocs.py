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
