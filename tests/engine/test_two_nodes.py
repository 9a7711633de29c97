"""Two lab nodes sharing one site DB: the ownership lock across nodes (guide §2.5.4).

Node = network + mount + UTS namespace (tests/lab); each node has its own engine
install in its own /usr/lib/nqs, both see the shared disk at the same path.
"""

import os
import time

import pytest

from cjc.site.processes import site_processes

pytestmark = pytest.mark.netns

CJCPW = "/usr/lib/nqs/cluster/cjcpw"


@pytest.fixture(scope="module")
def lab(engine_lab):
    return engine_lab


def on(lab, node, *argv):
    return lab.nsx(node, *argv, check=False)


def test_second_node_is_refused_while_the_owner_lives_and_takes_over_after_a_crash(lab):
    site, db = lab.site_fqdn, lab.config.shared_path + "/jobdb"
    lab.move_vip("node1")
    made = on(lab, "node1", "/usr/lib/nqs/cluster/cjcmksite", site, "200", db)
    assert made.returncode == 0, made.stderr
    first = lab.spawn("node1", CJCPW, site, db)
    try:
        deadline = time.monotonic() + 10
        while "ON" not in on(lab, "node1", "/usr/lib/nqs/cluster/cjcls").stdout:
            assert time.monotonic() < deadline, "cjcpw on node1 never served"
            time.sleep(0.05)
        started = time.monotonic()
        refused = on(lab, "node2", CJCPW, "-c", site, db)
        assert time.monotonic() - started < 1.5  # including the interpreter start
        assert refused.returncode == 5
        assert "is already owned by cjcpw pid %d on host node1 since " % first.pid in refused.stderr
        assert "refusing to start a second owner (split brain)" in refused.stderr
        # the standby registered the site (its link) before asking for ownership, as documented
        assert "registered site %s on this node" % site in refused.stdout

        lab.kill_node("node1")  # link down + SIGKILL of every process of node1
        first.wait(timeout=5)
        lab.move_vip("node2")
        took_over = on(lab, "node2", CJCPW, "-c", site, db)
        assert took_over.returncode == 0, took_over.stderr
        assert took_over.stdout.startswith("cjcpw: site %s started (daemon pid " % site)
        listing = on(lab, "node2", "/usr/lib/nqs/cluster/cjcls").stdout.splitlines()
        assert listing[3].split()[0] == site and listing[3].split()[1].isdigit()
        stopped = on(lab, "node2", CJCPW, "-stop", site)
        assert stopped.returncode == 0, stopped.stderr
        assert site_processes(os.path.join(lab.shared_dir, "jobdb", "nqs")) == []
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
        lab.reset()
