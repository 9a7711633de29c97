"""The filter cjc.cluster.drift_items names each drifted setting from the modules' typed records.

The records come from the engine's own plan functions (plan/changes.py), the ones the
modules return, so a change of their shape breaks this test rather than the drift report.
"""

import collections
import importlib.util
import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_spec = importlib.util.spec_from_file_location("drift_items", os.path.join(REPO, "plugins", "filter", "drift_items.py"))
drift = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(drift)
sys.path.insert(0, os.path.join(REPO, "plugins", "module_utils"))
from cjc.plan import changes  # noqa: E402  (the engine package, as the nodes import it)

SitePlan = collections.namedtuple("SitePlan", "request actions before after")
Request = collections.namedtuple("Request", "name local")

CONF = {"changed": True, "records": changes.conf_changes("/usr/lib/nqs/rc/daemon.conf", [
    {"key": "local_daemon", "before": "OFF", "after": "SITE"}, {"key": "maintenance", "before": None, "after": "ON"}])}
LINK = {"changed": True, "records": changes.site_changes(SitePlan(Request("s.example", False), [
    {"action": "register_link", "link": "/usr/spool/nqs/0AD50064", "target": "/mnt/jobdb", "previous": None}], {}, {}))}
MAKE = {"changed": True, "records": changes.site_changes(SitePlan(Request("s.example", False), [
    {"action": "make_site", "name": "s.example", "machine_id": 200, "db_path": "/mnt/jobdb"}], {}, {}))}
STOP = {"changed": True, "records": changes.site_changes(SitePlan(Request(None, True), [
    {"action": "run", "argv": ["/usr/lib/nqs/nqsstop"]}], {"daemons": "running", "cjcpw": "OFF"},
    {"daemons": "SHUT", "cjcpw": "OFF"}))}
IDS = {"changed": True, "records": [changes.change("user_ids", "job1", {"uid": 1005, "gid": 1001},
                                                   {"uid": 1001, "gid": 1001})]}
SERVICE = {"changed": True, "records": changes.service_changes("pacemaker", "cjc-site", [
    {"action": "create", "id": "cjc-site"}, {"action": "chmod", "path": "/etc/cjc/start.sh", "mode": "0755"}])}
PENDING = {"changed": True, "records": [changes.change("start_check", "/var/lib/cjc/start_check.s", None,
                                                       "site started, every daemon seen, stopped")]}


@pytest.mark.parametrize("label, result, texts", [
    ("common daemon.conf", CONF, ["n2: /usr/lib/nqs/rc/daemon.conf: local_daemon: found OFF, wanted SITE",
                                  "n2: /usr/lib/nqs/rc/daemon.conf: maintenance: found missing, wanted ON"]),
    ("site registration", LINK, ["n2: site link /usr/spool/nqs/0AD50064: found missing, wanted /mnt/jobdb"]),
    ("site DB", MAKE, ["n2: site DB /mnt/jobdb: found missing, wanted machine id 200, name s.example"]),
    ("local site", STOP, ["n2: daemons of local site: found running, wanted SHUT"]),
    ("user IDs", IDS, ["n2: user job1: found gid 1001, uid 1005, wanted gid 1001, uid 1001"]),
    ("cluster service", SERVICE, ["n2: pacemaker cjc-site: found missing, wanted present",
                                  "n2: pacemaker /etc/cjc/start.sh: found other mode, wanted 0755"]),
    ("start check", PENDING, ["n2: start check record /var/lib/cjc/start_check.s: found missing, wanted site started, every daemon seen, "
                              "stopped"]),
])
def test_each_drifted_setting_is_named_with_found_and_wanted(label, result, texts):
    items = drift.drift_items([[label, result]], "n2")
    assert [item["text"] for item in items] == texts
    assert all(item["node"] == "n2" and item["item"] == label for item in items)
    assert [item["kind"] for item in items] == [record["kind"] for record in result["records"]]


@pytest.mark.parametrize("result", [{}, {"changed": False, "records": []}, {"skipped": True, "changed": True},
                                    {"changed": False, "records": CONF["records"]}])
def test_unchanged_skipped_and_missing_results_are_no_drift(result):
    assert drift.drift_items({"x": result}) == []


def test_a_changed_result_without_records_is_still_named():
    assert [i["text"] for i in drift.drift_items({"other": {"changed": True, "actions": [{"action": "run"}]}})] == [
        "other: found differs, wanted as configured"]


def test_order_follows_the_results_and_text_has_no_node_without_one():
    items = drift.drift_items([["b", PENDING], ["a", CONF]])
    assert [i["item"] for i in items] == ["b", "a", "a"]
    assert items[0]["text"] == ("start check record /var/lib/cjc/start_check.s: found missing, wanted site started, "
                                "every daemon seen, stopped")
