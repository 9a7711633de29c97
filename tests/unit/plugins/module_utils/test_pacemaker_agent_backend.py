"""The OCF agent ocf:cjc:cjcsite without a cluster (meta-data, exit codes of the actions that
need no running site) and the Pacemaker backend's options and difference-only plan (pure)."""

import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.cjc.cluster.plugins.module_utils.cjc.ocf import agent as ocfagent
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.plan import products
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.errors import ConfigError
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.plan.install import install_engine
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.config.layout import Layout
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.plan.products import pacemaker
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.config.siteconf import SiteTimings

DTD = "/usr/share/resource-agents/ra-api-1.dtd"


def test_metadata_advertises_timeouts_above_boot_and_stop_timeout():
    root = ET.fromstring(ocfagent.metadata(SiteTimings(300, 240, 10)).split("\n", 2)[2])
    actions = {a.get("name"): a.get("timeout") for a in root.iter("action")}
    assert actions["start"] == "330s" and actions["stop"] == "270s"
    assert set(actions) == {"start", "stop", "monitor", "validate-all", "meta-data"}
    assert (root.get("version"), root.find("version").text) == ("1.1", "1.1")  # OCF 1.1
    monitors = [(a.get("depth"), a.get("interval")) for a in root.iter("action") if a.get("name") == "monitor"]
    assert monitors == [("0", "10s"), ("10", "60s")]


def test_metadata_advertises_the_timeouts_the_module_writes():
    root = ET.fromstring(ocfagent.metadata().split("\n", 2)[2])
    advertised = {(a.get("name"), a.get("interval", "0s")): a.get("timeout") for a in root.iter("action")
                  if a.get("depth", "0") == "0"}
    site = pacemaker.wanted_group(request()).find("primitive[@id='cjc-jobsite-site']")
    written = {(op.get("name"), op.get("interval")): op.get("timeout") for op in site.iter("op")}
    assert written == {key: advertised[key] for key in written}  # start, stop, monitor: same timeouts and interval
    params = {p.get("name"): (p.get("required"), p.find("content").get("default")) for p in root.iter("parameter")}
    assert params == {"site": ("1", ""), "db_path": ("1", ""), "root": ("0", "/")}
    assert all(p.find("shortdesc") is not None and p.find("longdesc") is not None for p in root.iter("parameter"))


@pytest.fixture
def agent(tmp_path):
    layout = Layout(str(tmp_path))
    install_engine(layout, sys.executable, 100)
    return layout.path(ocfagent.AGENT_PATH), layout


def run(path, action, env=None):
    base = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    base.update(env or {})
    return subprocess.run([path, action], env=base, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.skipif(shutil.which("xmllint") is None or not os.path.exists(DTD), reason="xmllint or ra-api-1.dtd")
def test_installed_agent_meta_data_is_valid_against_ra_api_dtd(agent):
    path, _layout = agent
    assert os.stat(path).st_mode & 0o777 == 0o755
    done = run(path, "meta-data")
    assert done.returncode == 0
    lint = subprocess.run(["xmllint", "--noout", "--valid", "-"], input=done.stdout, capture_output=True,
                          text=True, cwd=os.path.dirname(DTD), check=False)
    assert lint.returncode == 0, lint.stderr


def test_actions_without_a_site(agent, tmp_path):
    path, layout = agent
    params = {"OCF_RESKEY_site": "s.example.com", "OCF_RESKEY_db_path": str(tmp_path / "nodisk"),
              "OCF_RESKEY_root": layout.root}
    assert run(path, "usage").returncode == 0
    assert run(path, "promote", params).returncode == 3  # OCF_ERR_UNIMPLEMENTED
    bad = run(path, "validate-all", dict(params, OCF_RESKEY_db_path="relative"))
    assert bad.returncode == 6 and bad.stderr.startswith("ocf-exit-reason:site DB path 'relative'")
    missing = run(path, "validate-all", {"OCF_RESKEY_db_path": "/mnt/x"})
    assert missing.returncode == 6 and "parameter site is required" in missing.stderr
    probe = run(path, "monitor", dict(params, OCF_RESKEY_CRM_meta_interval="0"))
    assert (probe.returncode, probe.stderr) == (7, "")  # a probe without the disk: not running, quietly
    recurring = run(path, "monitor", dict(params, OCF_RESKEY_CRM_meta_interval="10000"))
    assert recurring.returncode == 7 and "not accessible on this node" in recurring.stderr
    assert run(path, "stop", params).returncode == 0  # stopping a stopped site succeeds
    start = run(path, "start", params)
    assert start.returncode == 1 and "not accessible on this node" in start.stderr  # soft: 5 would ban the node
    no_engine = dict(params, OCF_RESKEY_root=str(tmp_path / "empty"))
    assert run(path, "monitor", dict(no_engine, OCF_RESKEY_CRM_meta_interval="0")).returncode == 7
    assert run(path, "validate-all", no_engine).returncode == 5


def request(**extra):
    base = dict(product="pacemaker", site="jobsite.example.com", db_path="/mnt/jobdb", address="10.213.0.100/24")
    base.update(extra)
    return products.make_request(**base)


@pytest.mark.parametrize("options, message", [
    ({"migration_threshold": -1}, "option migration_threshold=-1 is not valid"),
    ({"wait": "soon"}, "option wait='soon' is not valid"),
    ({"filesystem": {"device": "/dev/sdb1"}}, "option filesystem="),
    ({"colour": "red"}, "unknown pacemaker option(s) colour"),
])
def test_bad_options_are_refused(options, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        pacemaker.wanted_group(request(options=options))


def test_options_shape_the_group():
    fs = {"device": "/dev/sdb1", "directory": "/mnt/jobdb", "fstype": "xfs"}
    group = pacemaker.wanted_group(request(options={"migration_threshold": 1, "resource_stickiness": 100,
                                                    "failure_timeout": 60, "ip_nic": "eth0",
                                                    "filesystem": fs}))
    assert [p.get("id") for p in group.findall("primitive")] == ["cjc-jobsite-ip", "cjc-jobsite-fs",
                                                                 "cjc-jobsite-site"]
    meta = {n.get("name"): n.get("value") for n in group.find("meta_attributes")}
    assert meta == {"resource-stickiness": "100", "migration-threshold": "1", "failure-timeout": "60"}
    assert group.find("primitive[@id='cjc-jobsite-site']").find("meta_attributes") is None
    assert group.find(".//nvpair[@name='nic']").get("value") == "eth0"
    assert {n.get("name"): n.get("value") for n in group.find("primitive[@id='cjc-jobsite-fs']").iter("nvpair")} \
        == {"device": "/dev/sdb1", "directory": "/mnt/jobdb", "fstype": "xfs"}


def test_wait_for_group_reads_crm_mon():
    xml = ('<crm_mon><resources><group id="g" number_resources="2">'
           '<resource id="g-ip" role="Started" active="true" failed="false"><node name="node2"/></resource>'
           '<resource id="g-site" role="Started" active="true" failed="false"><node name="node2"/></resource>'
           '</group></resources></crm_mon>')
    assert pacemaker.wait_for_group(lambda argv, env: (0, xml, ""), "g", "started", 1) == "node2"
    stopped = xml.replace('active="true"', 'active="false"').replace("Started", "Stopped")
    with pytest.raises(products.ProductError, match="resource group g was not started within 0 s"):
        pacemaker.wait_for_group(lambda argv, env: (0, stopped, ""), "g", "started", 0, sleep=lambda s: None)
    assert pacemaker.wait_for_group(lambda argv, env: (0, stopped, ""), "g", "stopped", 1) is None


def test_a_vanished_disk_under_a_site_started_here_is_a_failure_until_stopped(agent, tmp_path):
    """The start's mark says this node runs the site: without its disk nothing of it can be read, so the
    recurring monitor fails (the cluster stops it here) instead of "not running" (it would start it elsewhere
    without a stop here). The stop ends what is left and removes the mark."""
    path, layout = agent
    marks = tmp_path / "rsctmp"
    marks.mkdir()
    params = {"OCF_RESKEY_site": "s.example.com", "OCF_RESKEY_db_path": str(tmp_path / "gone"),
              "OCF_RESKEY_root": layout.root, "HA_RSCTMP": str(marks), "OCF_RESOURCE_INSTANCE": "cjc-s-site"}
    mark = marks / "cjcsite-cjc-s-site.serving"
    mark.write_text("%d\n" % (2 ** 22 + 17))  # the cjcpw it started: no longer alive
    recurring = dict(params, OCF_RESKEY_CRM_meta_interval="10000")
    failed = run(path, "monitor", recurring)
    assert failed.returncode == 1 and "vanished under the site started on this node" in failed.stderr
    assert run(path, "monitor", dict(params, OCF_RESKEY_CRM_meta_interval="0")).returncode == 7  # a probe
    assert run(path, "stop", params).returncode == 0 and not mark.exists()
    assert run(path, "monitor", recurring).returncode == 7


@pytest.mark.parametrize("timeout_ms, wanted, expected", [
    (None, 190, 190), ("20000", 190, 20 - ocfagent.RESERVE), ("600000", 190, 190), ("2000", 190, 1.0),
    ("junk", 190, 190)])
def test_deadlines_fit_inside_the_actions_cluster_timeout(timeout_ms, wanted, expected):
    environ = {} if timeout_ms is None else {"OCF_RESKEY_CRM_meta_timeout": timeout_ms}
    agent = ocfagent.SiteAgent(environ)
    before = time.monotonic()
    assert expected - 0.5 <= agent.deadline(wanted) - before <= expected + 0.5
