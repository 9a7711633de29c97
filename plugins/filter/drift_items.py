# -*- coding: utf-8 -*-
# Copyright: cjc.cluster maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter ``cjc.cluster.drift_items``: turn registered results of the cjc modules into drift items.

Used by the role ``cjc.cluster.cjc_cluster`` (its verification step) and by
``playbooks/verify.yml``: run in check mode, every task that *would* change
something is a drifted setting. Every cjc module returns its planned changes as typed
records ``{kind, item, before, after}`` (``records``); this filter reads only those, so
it knows no module's action names. Pure data in, data out: no Ansible import.
"""

from __future__ import annotations


def _text(value):
    """A record value for a person: null is "missing", dicts are ``key value`` pairs."""
    if value is None:
        return "missing"
    if isinstance(value, bool):
        return "ON" if value else "OFF"
    if isinstance(value, dict):
        return ", ".join("%s %s" % (key.replace("_", " "), _text(val)) for key, val in sorted(value.items()))
    return str(value)


# How a record's item reads in a sentence, by kind (a kind not named reads as its item).
SETTING_WORDS = {"site_link": "site link %s", "site_db": "site DB %s", "site_daemons": "daemons of %s",
                 "site_cjcpw": "cjcpw of %s", "user_ids": "user %s", "group_id": "group %s",
                 "engine_path": "engine file %s", "start_check": "start check record %s"}


def drift_items(results, node=None):
    """``results``: dict label -> registered result, or a list of ``[label, result]`` pairs.

    Returns a list of dicts ``{node, item, kind, setting, found, wanted, text}``, one per
    record of every changed result, in the order of ``results``; ``text`` starts with
    ``node:`` when ``node`` is given. Skipped and unchanged results give nothing; a
    changed result without records gives one item for its label (found: differs).
    """
    pairs = results.items() if isinstance(results, dict) else results
    items = []
    for label, result in pairs:
        if not isinstance(result, dict) or result.get("skipped") or not result.get("changed"):
            continue
        records = result.get("records") or [{"kind": "unknown", "item": label, "before": "differs",
                                             "after": "as configured"}]
        for record in records:
            item = {"node": node, "item": label, "kind": record.get("kind"), "setting": SETTING_WORDS.get(record.get("kind"), "%s") % record.get("item"),
                    "found": _text(record.get("before")), "wanted": _text(record.get("after"))}
            item["text"] = "%s%s: found %s, wanted %s" % ("%s: " % node if node else "", item["setting"],
                                                          item["found"], item["wanted"])
            items.append(item)
    return items


class FilterModule(object):
    """cjc.cluster filters."""

    def filters(self):
        return {"drift_items": drift_items}
