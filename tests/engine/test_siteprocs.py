"""site_processes() finds a site's processes on this node only (its network namespace).

Lab nodes share one process table and mount the shared disk at the same path, so a
process of the same spool path in another node's network namespace must never be
found (and ended) by a stop on this node. From the machine's initial namespace (the
host) every namespace is seen.
"""

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from cjc.site.processes import site_processes

pytestmark = pytest.mark.netns


def _spawn(spool, *prefix):
    env = dict(os.environ, CJC_SITE_SPOOL=spool)
    return subprocess.Popen(list(prefix) + [sys.executable, "-c", "import time; time.sleep(60)"], env=env)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root and unshare")
def test_site_processes_ignores_the_same_spool_in_another_network_namespace(tmp_path):
    spool = str(tmp_path / "jobdb" / "nqs")
    subprocess.run(["ip", "netns", "add", "cjcsp-%d" % os.getpid()], check=True)
    netns = "cjcsp-%d" % os.getpid()
    enter = ["ip", "netns", "exec", netns]
    here = _spawn(spool, *enter)
    other = _spawn(spool, "unshare", "--net")
    probe = ("import json, sys; sys.path.insert(0, %r); from cjc.site.processes import site_processes; "
             "print(json.dumps(sorted(p.pid for p in site_processes(%r))))"
             % (os.path.dirname(os.path.dirname(os.path.abspath(sys.modules["cjc"].__file__))), spool))
    try:
        deadline = time.monotonic() + 10
        while not {here.pid, other.pid} <= {p.pid for p in site_processes(spool)}:
            assert time.monotonic() < deadline, "the test processes never showed up"
            time.sleep(0.05)
        # from the host (initial namespace): both; from the node's namespace: its own only
        seen_from_node = json.loads(subprocess.run(enter + [sys.executable, "-c", probe], capture_output=True,
                                                   text=True, check=True).stdout)
        assert here.pid in seen_from_node
        assert other.pid not in seen_from_node
    finally:
        for proc in (here, other):
            proc.kill()
            proc.wait()
        subprocess.run(["ip", "netns", "del", netns], check=False)
