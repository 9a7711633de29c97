"""cjc_cluster_service: the product-neutral interface, the backend registry and the
Pacemaker backend's plan (pure: CIB XML in, cibadmin argv lists out)."""

import os
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.cjc.cluster.plugins.modules import cjc_cluster_service
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.plan import products
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.plan.products import pacemaker
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.config.siteconf import DEFAULT_TIMINGS

BASE = dict(site="jobsite.example.com", db_path="/mnt/jobdb")


RENDERED = {"serviceguard": {}, "clusterpro": {}, "suncluster": {}, "suncluster22": {},
            "clusterpro_windows": {"site_directory": "X:\\Jobdb", "admin": "Job-Admin"},
            "msfc": {"site_directory": "Y:\\Jobdb", "disk": "Cluster Disk 1"}}


@pytest.mark.parametrize("product", sorted(RENDERED))
def test_rendering_products_write_files_once_and_return_commands(run, tmp_path, product):
    """The products  (tested in depth in tests/engine/test_products_*.py)."""
    args = dict(BASE, product=product, config_dir=str(tmp_path), options=RENDERED[product])
    check = run(cjc_cluster_service, args, check_mode=True)
    assert check["changed"] is True and os.listdir(str(tmp_path)) == []
    first = run(cjc_cluster_service, args)
    assert first["changed"] is True and sorted(first["files"]) == sorted(check["files"])
    assert first["records"] == check["records"] and first["records"]
    assert {(r["kind"], r["before"], r["after"]) for r in first["records"]} <= {
        ("cluster_service", None, "present"), ("cluster_service", "other mode", "0755")}
    assert {r["item"] for r in first["records"]} >= {"%s %s" % (product, path) for path in first["files"]}
    assert all(os.path.isfile(path) for path in first["files"]) and first["diff"]["after"]
    again = run(cjc_cluster_service, args)
    assert again["changed"] is False and again["actions"] == [] and again["records"] == []
    assert set(again) >= {"files", "commands", "settings", "resources"}


def test_rendering_products_need_config_dir(run):
    result = run(cjc_cluster_service, dict(BASE, product="clusterpro"))
    assert result["failed"] and "give config_dir" in result["msg"]


def test_unknown_product_is_refused_by_the_spec(run):
    result = run(cjc_cluster_service, dict(BASE, product="heartbeat1"))
    assert result["failed"] and "value of product must be one of" in result["msg"]


@pytest.mark.parametrize("extra, message", [
    (dict(address="10.0.0.300"), "address '10.0.0.300' is not an IPv4 address"),
    (dict(monitor_interval=0), "monitor_interval 0 is not valid"),
    (dict(dependencies=["bad name"]), "'bad name' is not a usable service or resource name"),
    (dict(db_path="relative/db"), "must be an absolute path"),
])
def test_request_is_validated_before_any_product_call(run, extra, message):
    result = run(cjc_cluster_service, dict(BASE, product="pacemaker", **extra))
    assert result["failed"] and message in result["msg"], result["msg"]


def test_pacemaker_without_cibadmin_says_so(run, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    result = run(cjc_cluster_service, dict(BASE, product="pacemaker"))
    assert result["failed"] and "cibadmin is not on this node's PATH" in result["msg"]


def request(**extra):
    return products.make_request(**dict(dict(BASE, product="pacemaker", address="10.213.0.100/24",
                                             dependencies=["jobdb-fs"]), **extra))


def current():
    """A CIB as ``cibadmin --empty`` makes it, with the dependency's resource (the plan is pure)."""
    root = ET.fromstring('<cib validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0">'
                         '<configuration><crm_config/><nodes/><resources><primitive id="jobdb-fs" class="ocf" '
                         'provider="heartbeat" type="Filesystem"/></resources><constraints/></configuration>'
                         '<status/></cib>')
    return {"cib": root, "timings": DEFAULT_TIMINGS}


@pytest.fixture
def agent(tmp_path):
    path = tmp_path / "cjcsite"
    path.write_text("#!/bin/sh\n")
    return str(path)


def test_pacemaker_plan_creates_group_and_constraints(agent):
    plan = pacemaker.PacemakerBackend().plan(request(), current(), agent=agent)
    assert plan.changed
    assert plan.actions[-1] == {"action": "wait", "id": "cjc-jobsite", "until": "started", "seconds": 120}
    assert [(a["action"], a.get("id")) for a in plan.actions[:-1]] == [
        ("create", "cjc-jobsite"), ("create", "cjc-jobsite-after-jobdb-fs"), ("create", "cjc-jobsite-with-jobdb-fs"),
        ("patch", None)]
    group = plan.result["cib"]["planned"].find("configuration/resources/group")
    assert [p.get("id") for p in group.findall("primitive")] == ["cjc-jobsite-ip", "cjc-jobsite-site"]
    site = group.find("primitive[@id='cjc-jobsite-site']")
    assert (site.get("class"), site.get("provider"), site.get("type")) == ("ocf", "cjc", "cjcsite")
    ops = {op.get("name"): op.get("timeout") for op in site.iter("op")}
    assert ops == {"start": "210s", "stop": "210s", "monitor": "30s"}  # BOOT/STOP_TIMEOUT 180 + 30
    nv = {n.get("name"): n.get("value") for n in group.iter("nvpair")}
    assert nv == {"ip": "10.213.0.100", "cidr_netmask": "24", "site": "jobsite.example.com",
                  "db_path": "/mnt/jobdb", "root": "/", "resource-stickiness": "100"}
    assert plan.result["resources"] == {"group": "cjc-jobsite", "site": "cjc-jobsite-site", "ip": "cjc-jobsite-ip"}
    assert current()["cib"].find("configuration/resources/group") is None  # planning changed nothing read


def test_pacemaker_refuses_without_agent(tmp_path):
    with pytest.raises(products.ProductError, match="ocf:cjc:cjcsite is not installed"):
        pacemaker.PacemakerBackend().plan(request(), current(), agent=os.path.join(str(tmp_path), "none"))
