"""A planned change as data: ``{kind, item, before, after}``, the same shape from every plan.

Every module returns its plan's changes as such records (``records``), so a reader --
the drift report of the role's verify step, an operator's own playbook -- compares
``before`` with ``after`` and never has to know one plan's action names. ``None`` means
"does not exist" (no line, no link, no DB).
"""


def change(kind, item, before, after):
    """One planned change of ``item`` (a path, a key, a name) of the sort ``kind``."""
    return {"kind": kind, "item": item, "before": before, "after": after}


def conf_changes(path, key_changes):
    """Records of a configuration file plan's ``changes`` (``{key, before, after}`` each)."""
    return [change("conf_key", "%s: %s" % (path, c["key"]), c["before"], c["after"]) for c in key_changes]


def site_changes(plan):
    """Records of a :class:`..plan.site.SitePlan`: links, DB, configuration keys, daemons."""
    label = "local site" if plan.request.local else "site %s" % plan.request.name
    records = []
    for action in plan.actions:
        kind = action["action"]
        if kind == "register_link":
            records.append(change("site_link", action["link"], action["previous"], action["target"]))
        elif kind == "unregister_link":
            records.append(change("site_link", action["link"], action["target"], None))
        elif kind == "make_site":
            records.append(change("site_db", action["db_path"], None,
                                  {"name": action["name"], "machine_id": action["machine_id"]}))
        elif kind == "purge_db":
            records.append(change("site_db", action["db_path"], "present", None))
        elif kind == "set_conf":
            records += conf_changes(action["path"], action["changes"])
        elif kind == "run":
            records.append(change("site_daemons", label, plan.before["daemons"], plan.after["daemons"]))
            if plan.before.get("cjcpw") != plan.after.get("cjcpw"):
                records.append(change("site_cjcpw", label, plan.before["cjcpw"], plan.after["cjcpw"]))
    return records


_SERVICE_STATES = {"create": (None, "present"), "delete": ("present", None)}


def service_changes(product, service_name, actions):
    """Records of a cluster product plan: one per file, resource or command it would change."""
    records = []
    for action in actions:
        what = action.get("path") or action.get("id") or service_name
        before, after = _SERVICE_STATES.get(action["action"], ("differs", action["action"]))
        if action["action"] == "chmod":
            before, after = "other mode", action.get("mode")
        records.append(change("cluster_service", "%s %s" % (product, what), before, after))
    return records
