"""site.yml --check --diff on lab nodes where nothing is installed yet (docs/check-mode.md).

The check run must go through every step and predict the build; the real run that follows
must make exactly the predicted changes, and a check run after it must find nothing to do.
"""

import pytest

from demo import playbook
from lab.fixtures import lab_unavailable_reason

pytestmark = [pytest.mark.netns, pytest.mark.slow,
              pytest.mark.skipif(lab_unavailable_reason() is not None, reason=lab_unavailable_reason() or "")]

REPORT = "Report the drift of this node"


def _split(messages):
    """(changes, pending) of one node's drift report."""
    if messages == "no drift":
        return [], []
    pending = [m for m in messages if ": pending: " in m]
    return [m for m in messages if m not in pending], pending


def test_check_run_on_fresh_nodes_predicts_the_real_run(cjc_lab_factory, tmp_path):
    lab = cjc_lab_factory()
    env = {"ANSIBLE_COLLECTIONS_PATH": playbook.collections_path(str(tmp_path / "collections")),
           "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp")}

    def run(name, *args):
        result = playbook.run_playbook(lab.inventory_path, "site.yml", *args, log=str(tmp_path / name),
                                       extra_env=env)
        assert not result.failed, "%s failed, see %s:\n%s" % (name, tmp_path / name, result.output[-3000:])
        return result

    check = run("check.log", "--check", "--diff")
    for node in lab.nodes:
        for path in ("/usr/lib/nqs/cluster/cjcpw", "/usr/spool/nqs/siteinfo", "/usr/lib/nqs/rc"):
            assert lab.nsx(node, "test", "-e", path, check=False).returncode != 0, \
                "the check run made %s on %s" % (path, node)
    predicted = {host: _split(msg) for host, msg in check.host_messages(REPORT).items()}
    assert set(predicted) == set(lab.nodes)
    active, standby = "node1", "node2"
    changes, pending = predicted[active]
    db = "%s/jobdb-%s" % (lab.config.shared_path, lab.config.name)
    assert lab.nsx(active, "test", "-e", db, check=False).returncode != 0, "the check run made " + db
    for wanted in ("engine file /usr/lib/nqs/cluster/cjcpw: found differs, wanted as packaged",
                   "/usr/lib/nqs/rc/daemon.conf: local_daemon: found missing, wanted SITE",
                   "site DB %s: found missing, wanted machine id 200, name %s" % (db, lab.site_fqdn),
                   "%s/etc/site.conf: STOP_TIMEOUT: found missing, wanted 60" % db,
                   "start check record /var/lib/cjc_cluster/start_check.%s: found missing" % lab.site_fqdn):
        assert any(wanted in line for line in changes), "%s: not predicted: %s" % (active, wanted)
    for wanted in ("the local site is made by this run's engine install, and does not run after it",
                   "is moved to this node by this run before the site DB is made",
                   "the site DB %s is made by this run (cjcmksite)" % db):
        assert any(wanted in line for line in pending), "%s: not pending: %s" % (active, wanted)
    assert any("site link /usr/spool/nqs/" in line and db in line for line in predicted[standby][0])

    real = run("real.log", "--diff")
    made = {host: _split(msg) for host, msg in real.host_messages(REPORT).items()}
    for host in lab.nodes:
        assert made[host][0] == predicted[host][0], host
        assert made[host][1] == [], "%s: a real run assumed %s" % (host, made[host][1])

    again = run("check-again.log", "--check", "--diff")
    assert again.host_messages(REPORT) == {host: "no drift" for host in lab.nodes}
