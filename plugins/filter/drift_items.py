# -*- coding: utf-8 -*-
# Copyright: cjc.cluster maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter ``cjc.cluster.drift_items``: turn registered results of the cjc modules into drift items.

Used by the role ``cjc.cluster.cjc_cluster`` (its verification step) and by
``playbooks/verify.yml``: run in check mode, every task that *would* change
something is a drifted setting; this filter names each one (file and key, link,
database, daemons, user IDs, cluster service) with what was found and what is
wanted. Pure data in, data out: no Ansible import.
"""

from __future__ import annotations


def _text(value):
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "ON" if value else "OFF"
    return str(value)


def _conf_items(label, result):
    path = result.get("path") or label
    for change in result.get("changes") or []:
        if isinstance(change, dict):
            yield {"setting": "%s: %s" % (path, change.get("key")),
                   "found": _text(change.get("before")), "wanted": _text(change.get("after"))}
        else:
            yield {"setting": label, "found": str(change), "wanted": "as on the active node"}


def _site_items(label, result):
    diff = result.get("diff") or {}
    before, after = diff.get("before") or {}, diff.get("after") or {}
    for action in result.get("actions") or []:
        kind = action.get("action")
        if kind == "register_link":
            yield {"setting": "site link %s" % action.get("link"),
                   "found": "-> %s" % action["previous"] if action.get("previous") else "missing",
                   "wanted": "-> %s" % action.get("target")}
        elif kind == "unregister_link":
            yield {"setting": "site link %s" % action.get("link"), "found": "-> %s" % action.get("target"),
                   "wanted": "missing"}
        elif kind == "make_site":
            yield {"setting": "site DB %s" % action.get("db_path"), "found": "missing",
                   "wanted": "site %s, machine ID %s" % (action.get("name"), action.get("machine_id"))}
        elif kind == "purge_db":
            yield {"setting": "site DB %s" % action.get("db_path"), "found": "present", "wanted": "deleted"}
        elif kind == "set_conf":
            for key, value in sorted((action.get("settings") or {}).items()):
                yield {"setting": "%s: %s" % (action.get("path"), key), "found": "other", "wanted": _text(value)}
        elif kind == "run":
            yield {"setting": "%s daemons" % label, "found": _text(before.get("daemons")),
                   "wanted": _text(after.get("daemons"))}
        else:
            yield {"setting": label, "found": "differs", "wanted": str(action)}


def _service_items(label, result):
    for action in result.get("actions") or []:
        yield {"setting": "%s %s (%s)" % (label, result.get("service_name") or "", result.get("product") or ""),
               "found": "differs", "wanted": action.get("action") or "configured"}


def drift_items(results, node=None):
    """``results``: dict label -> registered result (skipped and unchanged ones are ignored).

    Returns a list of dicts ``{node, item, setting, found, wanted, text}``, one per drifted
    setting, in the order of ``results`` (a list of ``[label, result]`` pairs keeps its own
    order); ``text`` starts with ``node:`` when ``node`` is given.
    """
    pairs = results.items() if isinstance(results, dict) else results
    items = []
    for label, result in pairs:
        if not isinstance(result, dict) or result.get("skipped") or not result.get("changed"):
            continue
        if "changes" in result and "path" in result:
            found = list(_conf_items(label, result))
        elif "changes" in result:  # cjc_userid_check
            found = [{"setting": label, "found": c, "wanted": "IDs of the active node"}
                     for c in result.get("changes") or []]
        elif "site" in result and "actions" in result:
            found = list(_site_items(label, result))
        elif "product" in result:
            found = list(_service_items(label, result))
        else:
            found = []
        if not found:
            found = [{"setting": label, "found": result.get("found", "differs"),
                      "wanted": result.get("wanted", result.get("msg", "as configured"))}]
        for item in found:
            item["item"] = label
            item["node"] = node
            item["text"] = "%s%s: found %s, wanted %s" % ("%s: " % node if node else "", item["setting"],
                                                          item["found"], item["wanted"])
            items.append(item)
    return items


class FilterModule(object):
    """cjc.cluster filters."""

    def filters(self):
        return {"drift_items": drift_items}
