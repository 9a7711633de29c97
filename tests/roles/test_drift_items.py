"""The filter cjc.cluster.drift_items names each drifted setting of check-mode results."""

import importlib.util
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_spec = importlib.util.spec_from_file_location("drift_items", os.path.join(REPO, "plugins", "filter", "drift_items.py"))
drift = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(drift)

CONF = {"changed": True, "path": "/usr/lib/nqs/rc/daemon.conf",
        "changes": [{"key": "local_daemon", "before": "OFF", "after": "SITE"},
                    {"key": "maintenance", "before": None, "after": "ON"}]}
LINK = {"changed": True, "site": {}, "diff": {"before": {}, "after": {}},
        "actions": [{"action": "register_link", "link": "/usr/spool/nqs/0AD50064", "target": "/mnt/jobdb",
                     "previous": None}]}
MAKE = {"changed": True, "site": {}, "actions": [{"action": "make_site", "name": "s.example", "machine_id": 200,
                                                  "db_path": "/mnt/jobdb"}]}
STOP = {"changed": True, "site": {}, "diff": {"before": {"daemons": "running"}, "after": {"daemons": "SHUT"}},
        "actions": [{"action": "run", "argv": ["/usr/lib/nqs/nqsstop"]}]}
IDS = {"changed": True, "changes": ["user job1: uid 1005 gid 1001 -> uid 1001 gid 1001"]}
PENDING = {"changed": True, "found": "no record", "wanted": "checked"}


@pytest.mark.parametrize("label, result, texts", [
    ("common daemon.conf", CONF, ["n2: /usr/lib/nqs/rc/daemon.conf: local_daemon: found OFF, wanted SITE",
                                  "n2: /usr/lib/nqs/rc/daemon.conf: maintenance: found unset, wanted ON"]),
    ("site registration", LINK, ["n2: site link /usr/spool/nqs/0AD50064: found missing, wanted -> /mnt/jobdb"]),
    ("site DB", MAKE, ["n2: site DB /mnt/jobdb: found missing, wanted site s.example, machine ID 200"]),
    ("local site", STOP, ["n2: local site daemons: found running, wanted SHUT"]),
    ("user IDs", IDS, ["n2: user IDs: found user job1: uid 1005 gid 1001 -> uid 1001 gid 1001, "
                       "wanted IDs of the active node"]),
    ("start check", PENDING, ["n2: start check: found no record, wanted checked"]),
])
def test_each_drifted_setting_is_named_with_found_and_wanted(label, result, texts):
    items = drift.drift_items([[label, result]], "n2")
    assert [item["text"] for item in items] == texts
    assert all(item["node"] == "n2" and item["item"] == label for item in items)


@pytest.mark.parametrize("result", [{}, {"changed": False, "changes": []}, {"skipped": True, "changed": True},
                                    {"changed": False, "actions": [{"action": "run"}], "site": {}}])
def test_unchanged_skipped_and_missing_results_are_no_drift(result):
    assert drift.drift_items({"x": result}) == []


def test_order_follows_the_results_and_text_has_no_node_without_one():
    items = drift.drift_items([["b", PENDING], ["a", CONF]])
    assert [i["item"] for i in items] == ["b", "a", "a"]
    assert items[0]["text"] == "b: found no record, wanted checked"
