"""The Pacemaker backend's plan and its one-patch apply, on real CIB files.

Every CIB here is made by ``cibadmin --empty`` and changed by Pacemaker's own tools
with ``CIB_file`` (no cluster): the plan is applied by the backend's real apply, so
the CIB's schema validation and version check judge it, as on a cluster. Behaviour
that needs a running cluster (the stop, the waits) is in tests/engine/test_pacemaker.py.
"""

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.cjc.cluster.plugins.module_utils.cjc.plan import products
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.plan.products import cib as cibdoc
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.plan.products import pacemaker
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.config.siteconf import DEFAULT_TIMINGS

pytestmark = pytest.mark.skipif(any(shutil.which(t) is None for t in ("cibadmin", "crm_diff", "crm_resource")),
                                reason="Pacemaker's command-line tools (apt-get install pacemaker-cli-utils)")

SVC = "cjc-jobsite"


class CibFile:
    """A CIB file and the ``run`` of the backend against it; ``calls`` records every argv run."""

    def __init__(self, path):
        self.path = str(path)
        self.calls = []
        with open(self.path, "w") as handle:
            handle.write(self.tool("cibadmin", "--empty").stdout)

    def tool(self, *argv):
        return subprocess.run(list(argv), env={"PATH": os.environ["PATH"], "CIB_file": self.path, "LC_ALL": "C"},
                              capture_output=True, text=True, timeout=60, check=False)

    def run(self, argv, env=None):
        self.calls.append(list(argv))
        done = self.tool(*argv)
        return done.returncode, done.stdout, done.stderr

    def create(self, scope, xml):
        done = self.tool("cibadmin", "--create", "--scope", scope, "--xml-text", xml)
        assert done.returncode == 0, done.stderr

    def root(self):
        return ET.fromstring(self.tool("cibadmin", "--query").stdout)

    def find(self, element_id):
        return self.root().find(".//*[@id='%s']" % element_id)

    def current(self, timings=DEFAULT_TIMINGS):
        return {"cib": self.root(), "timings": timings}


@pytest.fixture
def cib(tmp_path):
    found = CibFile(tmp_path / "cib.xml")
    for rid in ("jobdb-fs", "other-dummy"):
        found.create("resources", '<primitive id="%s" class="ocf" provider="pacemaker" type="Dummy"/>' % rid)
    return found


@pytest.fixture
def agent(tmp_path):
    path = tmp_path / "cjcsite"
    path.write_text("#!/bin/sh\n")
    return str(path)


def request(**extra):
    base = dict(product="pacemaker", site="jobsite.example.com", db_path="/mnt/jobdb", address="10.213.0.100/24",
                dependencies=["jobdb-fs"], options={"wait": 0})
    base.update(extra)
    return products.make_request(**base)


def plan_and_apply(cib, req, agent, timings=DEFAULT_TIMINGS):
    backend = pacemaker.PacemakerBackend()
    plan = backend.plan(req, cib.current(timings), agent=agent)
    if plan.changed:
        backend.apply(plan, cib.run)
    return plan


def changes(plan):
    return [(a["action"], a["id"]) for a in plan.actions if a["action"] not in ("patch", "wait", "stop")]


def patches(cib):
    return [argv for argv in cib.calls if argv[:2] == ["cibadmin", "--patch"]]


# ------------------------------------------------------------------ one patch, version-checked
def test_a_new_service_is_one_patch_and_a_second_run_changes_nothing(cib, agent):
    first = plan_and_apply(cib, request(), agent)
    assert changes(first) == [("create", SVC), ("create", "%s-after-jobdb-fs" % SVC),
                              ("create", "%s-with-jobdb-fs" % SVC)]
    assert [a["action"] for a in first.actions].count("patch") == 1 and len(patches(cib)) == 1
    assert [p.get("id") for p in cib.find(SVC).findall("primitive")] == ["%s-ip" % SVC, "%s-site" % SVC]
    assert pacemaker.PacemakerBackend().plan(request(), cib.current(), agent=agent).changed is False


def test_a_patch_is_refused_when_the_configuration_changed_since_the_read(cib, agent):
    plan = pacemaker.PacemakerBackend().plan(request(), cib.current(), agent=agent)
    assert cib.tool("crm_attribute", "--name", "placement-strategy", "--update", "utilization").returncode == 0
    with pytest.raises(products.ProductError, match="configuration changed since it was read") as caught:
        pacemaker.PacemakerBackend().apply(plan, cib.run)
    assert caught.value.changed is False
    assert cib.find(SVC) is None  # nothing of the plan was applied


def test_a_patch_is_rebuilt_when_only_the_status_moved(cib, agent):
    plan = pacemaker.PacemakerBackend().plan(request(), cib.current(), agent=agent)
    assert cib.tool("cibadmin", "--modify", "--scope", "status", "--xml-text",
                    '<status><node_state id="1" uname="node1"/></status>').returncode == 0
    assert cibdoc.version(cib.root())[2] > cibdoc.version(plan.result["cib"]["read"])[2]
    pacemaker.PacemakerBackend().apply(plan, cib.run)
    assert cib.find(SVC) is not None and len(patches(cib)) == 2
    assert cib.root().find("status/node_state[@uname='node1']") is not None  # the status kept


def test_a_meta_attribute_is_added_to_a_group_that_has_none(cib, agent):
    plan_and_apply(cib, request(), agent)
    meta = cib.find(SVC).find("meta_attributes")
    assert cib.tool("cibadmin", "--delete", "--xml-text", '<meta_attributes id="%s"/>' % meta.get("id")).returncode == 0
    assert cib.find(SVC).find("meta_attributes") is None
    plan = plan_and_apply(cib, request(options={"wait": 0, "migration_threshold": 2}), agent)
    assert changes(plan) == [("update", "%s-meta_attributes" % SVC)]
    assert cibdoc.meta_value(cib.find(SVC), "migration-threshold") == "2"
    assert cibdoc.meta_value(cib.find(SVC), "resource-stickiness") == "100"


# ------------------------------------------------------------------ state: absent
def test_absent_removes_a_foreign_cli_ban_and_every_other_reference(cib, agent):
    plan_and_apply(cib, request(), agent)
    cib.create("constraints", '<rsc_location id="cli-ban-%s-on-node1" rsc="%s" role="Started" node="node1" '
                              'score="-INFINITY"/>' % (SVC, SVC))
    cib.create("constraints", '<rsc_location id="cli-prefer-%s-site" rsc="%s-site" node="node2" score="INFINITY"/>'
               % (SVC, SVC))
    cib.create("constraints", '<rsc_colocation id="dummy-with-site" rsc="other-dummy" with-rsc="%s" '
                              'score="100"/>' % SVC)
    cib.create("constraints", '<rsc_order id="set-order" kind="Optional"><resource_set id="set-order-0">'
                              '<resource_ref id="other-dummy"/><resource_ref id="%s"/></resource_set></rsc_order>'
               % SVC)
    plan = plan_and_apply(cib, request(state="absent"), agent)
    assert changes(plan) == [
        ("delete", SVC), ("delete", "%s-after-jobdb-fs" % SVC), ("delete", "%s-with-jobdb-fs" % SVC),
        ("delete", "cli-ban-%s-on-node1" % SVC), ("delete", "cli-prefer-%s-site" % SVC),
        ("delete", "dummy-with-site"), ("update", "set-order")]
    assert len(patches(cib)) == 2  # the create, then the whole delete in one patch
    for gone in (SVC, "cli-ban-%s-on-node1" % SVC, "dummy-with-site", "%s-with-jobdb-fs" % SVC):
        assert cib.find(gone) is None, gone
    assert [r.get("id") for r in cib.find("set-order").iter("resource_ref")] == ["other-dummy"]
    assert cib.find("other-dummy") is not None and cib.find("jobdb-fs") is not None
    assert pacemaker.PacemakerBackend().plan(request(state="absent"), cib.current(), agent=agent).changed is False


def test_absent_reports_changed_when_the_stop_was_applied_before_a_failure(cib, agent):
    plan_and_apply(cib, request(), agent)
    plan = pacemaker.PacemakerBackend().plan(request(state="absent", options={"wait": 5}), cib.current(),
                                             agent=agent)
    assert [a["action"] for a in plan.actions[:2]] == ["stop", "wait"]
    assert cib.tool("crm_attribute", "--name", "placement-strategy", "--update", "utilization").returncode == 0
    with pytest.raises(products.ProductError, match="configuration changed while group %s was being stopped"
                       % SVC) as caught:
        pacemaker.PacemakerBackend().apply(plan, cib.run)
    assert caught.value.changed is True  # target-role=Stopped was written
    assert cibdoc.meta_value(cib.find(SVC), "target-role") == "Stopped"


def test_absent_deletes_after_its_own_stop(cib, agent):
    plan_and_apply(cib, request(), agent)
    plan = plan_and_apply(cib, request(state="absent", options={"wait": 5}), agent)
    assert [a["action"] for a in plan.actions] == ["stop", "wait", "delete", "delete", "delete", "patch"]
    assert cib.find(SVC) is None and cib.find("%s-with-jobdb-fs" % SVC) is None


def test_absent_refuses_an_unmanaged_group_before_touching_anything(cib, agent):
    plan_and_apply(cib, request(), agent)
    assert cib.tool("crm_resource", "--resource", SVC, "--meta", "--set-parameter", "is-managed",
                    "--parameter-value", "false").returncode == 0
    with pytest.raises(products.ProductError, match="is unmanaged .*Pacemaker would not stop group"):
        pacemaker.PacemakerBackend().plan(request(state="absent", options={"wait": 5}), cib.current(), agent=agent)


# ------------------------------------------------------------------ dependencies
def test_constraints_of_a_dropped_dependency_are_deleted(cib, agent):
    cib.create("resources", '<primitive id="jobdb-lvm" class="ocf" provider="pacemaker" type="Dummy"/>')
    plan_and_apply(cib, request(dependencies=["jobdb-lvm", "jobdb-fs"]), agent)
    assert cib.find("%s-after-jobdb-lvm" % SVC) is not None
    plan = plan_and_apply(cib, request(), agent)
    assert changes(plan) == [("delete", "%s-after-jobdb-lvm" % SVC), ("delete", "%s-with-jobdb-lvm" % SVC)]
    assert cib.find("%s-after-jobdb-lvm" % SVC) is None and cib.find("%s-with-jobdb-lvm" % SVC) is None
    assert cib.find("%s-after-jobdb-fs" % SVC) is not None


def test_a_promotable_dependency_is_followed_in_its_promoted_role(cib, agent):
    cib.create("resources", '<clone id="jobdb-drbd-clone"><meta_attributes id="drbd-meta">'
                            '<nvpair id="drbd-meta-promotable" name="promotable" value="true"/></meta_attributes>'
                            '<primitive id="jobdb-drbd" class="ocf" provider="pacemaker" type="Stateful"/></clone>')
    plan_and_apply(cib, request(dependencies=["jobdb-drbd-clone"]), agent)
    order = cib.find("%s-after-jobdb-drbd-clone" % SVC)
    colocation = cib.find("%s-with-jobdb-drbd-clone" % SVC)
    assert (order.get("first-action"), order.get("then-action")) == ("promote", "start")
    assert colocation.get("with-rsc-role") == "Promoted" and colocation.get("score") == "INFINITY"
    plain = cib.find("%s-after-jobdb-fs" % SVC)
    assert plain is None  # the dependency list replaced, not extended


def test_a_missing_dependency_is_refused_naming_it(cib, agent):
    with pytest.raises(products.ProductError, match="dependency jobdb-nfs is not a resource in the CIB"):
        pacemaker.PacemakerBackend().plan(request(dependencies=["jobdb-nfs"]), cib.current(), agent=agent)


# ------------------------------------------------------------------ failure policy
def test_failure_policy_is_on_the_group_with_a_stickiness_and_a_ping_rule(cib, agent):
    plan_and_apply(cib, request(options={"wait": 0, "migration_threshold": 1, "failure_timeout": 120,
                                         "ping_attribute": "pingd"}), agent)
    group = cib.find(SVC)
    assert {n.get("name"): n.get("value") for n in group.find("meta_attributes")} == {
        "resource-stickiness": "100", "migration-threshold": "1", "failure-timeout": "120"}
    assert all(p.find("meta_attributes") is None for p in group.findall("primitive"))
    rule = cib.find("%s-connected" % SVC).find("rule")
    assert (rule.get("score"), rule.get("boolean-op")) == ("-INFINITY", "or")
    assert [(e.get("attribute"), e.get("operation")) for e in rule] == [("pingd", "not_defined"), ("pingd", "lte")]
    plan = plan_and_apply(cib, request(options={"wait": 0}), agent)
    assert ("delete", "%s-connected" % SVC) in changes(plan) and cib.find("%s-connected" % SVC) is None


# ------------------------------------------------------------------ operator state
def test_operator_state_is_kept_and_not_drift(cib, agent):
    plan_and_apply(cib, request(), agent)
    for rid, name, value in ((SVC, "target-role", "Stopped"), ("%s-site" % SVC, "is-managed", "false"),
                             ("%s-ip" % SVC, "maintenance", "true")):
        assert cib.tool("crm_resource", "--resource", rid, "--meta", "--set-parameter", name,
                        "--parameter-value", value).returncode == 0
    monitor = cib.find("%s-site" % SVC).find("operations/op[@name='monitor']")
    assert cib.tool("cibadmin", "--modify", "--xml-text", '<op id="%s" enabled="false"/>'
                    % monitor.get("id")).returncode == 0
    same = pacemaker.PacemakerBackend().plan(request(options={"wait": 30}), cib.current(), agent=agent)
    assert same.changed is False
    drift = plan_and_apply(cib, request(monitor_interval=20, options={"wait": 30}), agent)
    assert changes(drift) == [("replace", "%s-ip" % SVC), ("replace", "%s-site" % SVC)]
    assert "wait" not in [a["action"] for a in drift.actions]
    assert drift.warnings == ["not waiting for %s to start: %s-ip is in maintenance (maintenance=true)" % (SVC, SVC)]
    site = cib.find("%s-site" % SVC)
    assert cibdoc.meta_value(cib.find(SVC), "target-role") == "Stopped"
    assert cibdoc.meta_value(site, "is-managed") == "false"
    assert cibdoc.meta_value(cib.find("%s-ip" % SVC), "maintenance") == "true"
    assert site.find("operations/op[@name='monitor']").get("enabled") == "false"
    assert site.find("operations/op[@name='monitor']").get("interval") == "20s"


@pytest.mark.parametrize("setup, why", [
    (["crm_attribute", "--name", "maintenance-mode", "--update", "true"], "the cluster is in maintenance-mode"),
    (["crm_resource", "--resource", SVC, "--meta", "--set-parameter", "target-role", "--parameter-value",
      "Stopped"], "%s has target-role=Stopped" % SVC),
])
def test_the_wait_is_skipped_when_pacemaker_would_not_start_the_group(cib, agent, setup, why):
    plan_and_apply(cib, request(), agent)
    assert cib.tool(*setup).returncode == 0
    plan = pacemaker.PacemakerBackend().plan(request(monitor_interval=20, options={"wait": 30}), cib.current(),
                                             agent=agent)
    assert plan.changed and plan.actions[-1]["action"] == "patch"
    assert plan.warnings == ["not waiting for %s to start: %s" % (SVC, why)]


# ------------------------------------------------------------------ timeouts from site.conf
def test_timeouts_come_from_the_site_conf_beside_the_db(cib, agent, tmp_path):
    db = tmp_path / "jobdb"
    assert pacemaker.site_timings(str(db)) is None  # no site DB on this node: unknown, not the defaults
    (db / "nqs").mkdir(parents=True)
    (db / "nqs" / "siteinfo").write_text("name=jobsite.example.com\n")
    assert pacemaker.site_timings(str(db)) == DEFAULT_TIMINGS
    (db / "etc").mkdir()
    (db / "etc" / "site.conf").write_text("BOOT_TIMEOUT=300\nSTOP_TIMEOUT=240\n")
    timings = pacemaker.site_timings(str(db))
    plan_and_apply(cib, request(), agent, timings=timings)
    ops = {op.get("name"): op.get("timeout") for op in cib.find("%s-site" % SVC).iter("op")}
    assert (ops["start"], ops["stop"]) == ("330s", "270s")
    # on a node without the disk: the timeouts already in the CIB, never the defaults
    assert pacemaker.PacemakerBackend().plan(request(), cib.current(timings=None), agent=agent).changed is False


def test_a_new_service_on_a_node_without_the_disk_is_refused(cib, agent):
    with pytest.raises(products.ProductError, match="site database /mnt/jobdb is not on this node"):
        pacemaker.PacemakerBackend().plan(request(), cib.current(timings=None), agent=agent)
