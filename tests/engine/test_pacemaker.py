"""The site under a real two-node Pacemaker cluster: the OCF agent passes
ocf-tester, cjc_cluster_service's pacemaker backend registers the site (idempotent,
check mode, absent removes only its own objects), and failover drills with jobs in
flight: SIGKILL of cjcpw, standby, hard node kill, split brain without fencing.

One lab for the whole module (Corosync + Pacemaker on two namespace nodes, about 8 s
to come up); the drills run in order and each starts from where the last one left
the group. Runs in ``make test`` (about 2.5 minutes).
"""

import os
import shutil
import tempfile
import xml.etree.ElementTree as ET

import pytest

from failover import EXPECTED, SiteCluster, format_table
from lab import Lab, LabConfig
from lab.fixtures import lab_unavailable_reason, unique_name
from lab.pacemaker import pacemaker_unavailable_reason

pytestmark = [pytest.mark.netns, pytest.mark.slow, pytest.mark.cluster]

AGENT = "/usr/lib/ocf/resource.d/cjc/cjcsite"
#: bounds of the recovery time (trigger -> jobs re-running on the standby), generous for
#: a loaded CI machine; bench/failover_time.py measures the real figures
BOUND = {"kill_cjcpw": 30, "standby": 30, "kill_node": 45}


@pytest.fixture(scope="module")
def cluster():
    reason = lab_unavailable_reason() or pacemaker_unavailable_reason()
    if reason:
        pytest.skip(reason)
    lab = Lab(LabConfig(name=unique_name("pcm"), connection="local"))
    try:
        lab.up(pacemaker=True)
        sc = SiteCluster(lab)
        sc.install()
        sc.make_site()
        yield sc
    finally:
        lab.down()


def cib(sc, node, scope):
    return ET.fromstring(sc.lab.nsx(node, "cibadmin", "--query", "--scope", scope).stdout)


def test_agent_passes_ocf_tester(cluster):
    lab = cluster.lab
    lab.move_vip("node1")  # the agent alone, before Pacemaker owns the address
    try:
        done = lab.nsx("node1", "ocf-tester", "-n", "cjcsite-test", "-o", "site=%s" % cluster.site,
                       "-o", "db_path=%s" % cluster.db, AGENT, check=False, timeout=300)
    finally:
        lab.release_vip()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "%s passed all tests" % AGENT in done.stdout
    if shutil.which("pcs"):  # pcs reads the agent without pcsd (docs/pacemaker.md, "pcs")
        described = lab.nsx("node1", "pcs", "resource", "describe", "ocf:cjc:cjcsite", check=False)
        assert described.returncode == 0, described.stderr
        assert "db_path (required)" in described.stdout, described.stdout
        assert "monitor:\n    interval=10s\n    timeout=30s\n" in described.stdout, described.stdout
        assert "interval=60s\n    timeout=30s\n    OCF_CHECK_LEVEL=10" in described.stdout, described.stdout
    # a probe on a node where the disk is not mounted: not running, never "not installed"
    probe = lab.nsx("node2", AGENT, "monitor", check=False, env={
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "OCF_RESKEY_site": cluster.site,
        "OCF_RESKEY_db_path": "/mnt/no-such-disk/jobdb", "OCF_RESKEY_CRM_meta_interval": "0"})
    assert (probe.returncode, probe.stderr) == (7, "")


def test_register_with_pacemaker_starts_the_group_and_is_idempotent(cluster):
    lab = cluster.lab
    # an object that is not ours: it must survive everything below
    lab.nsx("node1", "cibadmin", "--create", "--scope", "resources", "--xml-text",
            '<primitive id="other-dummy" class="ocf" provider="pacemaker" type="Dummy"/>')
    check = cluster.register(check=True)
    assert check["changed"] is True and check["node"] is None
    assert cib(cluster, "node1", "resources").find("group") is None  # check mode changed nothing
    first = cluster.register()
    assert first["changed"] is True
    assert [a["action"] for a in first["actions"]] == ["create", "patch", "wait"]
    assert first["node"] in ("node1", "node2") and cluster.group_node() == first["node"]
    # the deep monitor (OCF_CHECK_LEVEL=10) asks comagent's /health on the site's address too
    deep = lab.nsx(first["node"], AGENT, "monitor", check=False, env={
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "OCF_RESKEY_site": cluster.site, "OCF_RESKEY_db_path": cluster.db,
        "OCF_RESKEY_CRM_meta_interval": "60000", "OCF_CHECK_LEVEL": "10"})
    assert (deep.returncode, deep.stderr) == (0, ""), deep.stderr
    group = cib(cluster, "node1", "resources").find("group[@id='cjc-testsite']")
    assert [p.get("id") for p in group.findall("primitive")] == ["cjc-testsite-ip", "cjc-testsite-site"]
    assert cluster.register(check=True)["changed"] is False
    assert cluster.register()["changed"] is False
    # drift in check mode: only the group's meta attributes would change (no member is restarted)
    drift = cluster.register(check=True, options={"migration_threshold": 2})
    assert [(a["action"], a.get("id")) for a in drift["actions"]] == [
        ("update", "cjc-testsite-meta_attributes"), ("patch", None), ("wait", "cjc-testsite")]
    assert 'name="migration-threshold" value="2"' in drift["diff"]["after"]
    cluster.setup_queues(first["node"])


@pytest.mark.parametrize("trigger", ["kill_cjcpw", "standby", "kill_node"])
def test_failover_drill_moves_the_site_and_applies_the_restart_rules(cluster, trigger):
    result = cluster.drill(trigger)
    print(format_table(result))
    assert result["all_ok"], format_table(result)
    assert len(result["rows"]) == len(EXPECTED)
    assert result["both_nodes"] == {}  # never a job with processes on both nodes at once
    assert result["overlapping_runs"] == []
    assert result["stopped_queues"] == ["q_mstop", "q_stop"]
    assert result["recovery_s"] < BOUND[trigger], format_table(result)
    assert cluster.group_node() == result["to"]  # stickiness: it stays after the node came back


def test_absent_removes_only_the_service_objects_and_a_foreign_ban(cluster):
    node = cluster.active()
    other = [n for n in cluster.lab.node_names if n != node][0]
    # what an operator's "crm resource ban" / "pcs resource ban" leaves: a cli-ban location constraint
    if shutil.which("pcs"):  # offline with pcs -f, pushed as a diff, without pcsd (docs/pacemaker.md, "pcs")
        work = tempfile.mkdtemp(prefix="pcmk-cib-")
        orig, edited = os.path.join(work, "orig.xml"), os.path.join(work, "cib.xml")
        try:
            cluster.lab.nsx(node, "pcs", "cluster", "cib", orig)
            shutil.copy(orig, edited)
            cluster.lab.nsx(node, "pcs", "-f", edited, "resource", "ban", cluster.service, other)
            cluster.lab.nsx(node, "pcs", "cluster", "cib-push", edited, "diff-against=%s" % orig)
        finally:
            shutil.rmtree(work)
    else:
        cluster.lab.nsx(node, "crm_resource", "--ban", "--resource", cluster.service, "--node", other)
    ban = "cli-ban-%s-on-%s" % (cluster.service, other)
    assert cib(cluster, node, "constraints").find("rsc_location[@id='%s']" % ban) is not None
    gone = cluster.register(state="absent")
    assert [(a["action"], a.get("id")) for a in gone["actions"]] == [
        ("stop", cluster.service), ("wait", cluster.service), ("delete", cluster.service), ("delete", ban),
        ("patch", None)]
    assert gone["changed"] is True
    resources = cib(cluster, node, "resources")
    assert resources.find("group") is None
    assert cib(cluster, node, "constraints").find("rsc_location[@id='%s']" % ban) is None
    assert resources.find("primitive[@id='other-dummy']") is not None
    assert cluster.owner() is None  # the site was stopped orderly before its group went
    assert cluster.register(state="absent")["changed"] is False
    again = cluster.register()
    assert again["changed"] is True and again["node"] == cluster.active()


def test_split_brain_without_fencing_keeps_one_site(cluster):
    result = cluster.drill("split_brain")
    print(format_table(result))
    active = result["from"]
    # without fencing the standby believes the active node is gone and starts the group there ...
    assert result["standby_started_group"] is True
    # ... but the ownership lock refuses the second cjcpw: the site keeps running on the old node only
    assert result["owner"]["host"] == active and result["owner_alive"]
    assert result["jobs_rerun"] == [] and result["jobs_running_on"] == [active]
    assert result["both_nodes"] == {}
    assert result["processes"] and all(nodes == [active] for nodes in result["processes"].values())
    # the standby's failed start says why (the agent's exit reason)
    assert "split-brain guard" in result["standby_view"], result["standby_view"]
