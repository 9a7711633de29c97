"""Pacemaker/Corosync backend of ``cjc_cluster_service`` (guide §3-§6).

What it configures: one resource **group** named ``service_name`` (a group is
ordered and colocated: members start in order on one node), with the failure policy
as group meta attributes (``resource-stickiness``, default 100; ``migration-threshold``,
``failure-timeout``: a group's meta attributes hold for every member, so an address or
file system failure counts as the site's), holding

1. ``<service>-ip``: ``ocf:heartbeat:IPaddr2`` with the floating ``address``
   (``ip``, ``cidr_netmask`` when the address has a prefix);
2. ``<service>-fs``: ``ocf:heartbeat:Filesystem`` (only with ``options.filesystem``);
3. ``<service>-site``: ``ocf:cjc:cjcsite`` with ``site``, ``db_path`` and ``root``;
   start/stop timeouts are the site's ``BOOT_TIMEOUT``/``STOP_TIMEOUT`` plus a
   margin, from the ``site.conf`` beside the DB, monitor every ``monitor_interval`` s.

Each name in ``dependencies`` (the Filesystem resource of the shared disk, a DRBD
promotable clone) gets an ``order <dep> then <service>`` (mandatory) and a
``colocation <service> with <dep>`` (INFINITY) constraint, ids
``<service>-after-<dep>`` / ``<service>-with-<dep>``; for a promotable clone the order
is ``promote`` then ``start`` and the colocation is with its ``Promoted`` role.
``options.ping_attribute`` adds ``<service>-connected``: never on a node where that
node attribute (set by an ``ocf:pacemaker:ping`` clone) is undefined or 0.

read
    ``cibadmin --query`` (the whole CIB, C locale) and the site's ``site.conf`` when the
    site DB is on this node.
plan (pure)
    a copy of the CIB with the wanted group and constraints, compared object by object
    after canonicalising (attribute order, whitespace, the operator's state left out):
    a missing group is created whole; in an existing group with the same members only
    the members that differ (or the group's own meta attributes) are replaced, so
    unaffected members are not restarted; a change of the member list replaces the
    group. Constraints of dependencies no longer listed are deleted.
apply
    the planned CIB as one version-checked patch (:mod:`.cib`), then a bounded wait.

The operator's state is kept and is not drift: the meta attributes ``target-role``,
``is-managed``, ``maintenance`` and an op's ``enabled``; the wait is skipped (with a
warning) when the group is stopped, unmanaged or in maintenance, or the cluster in
``maintenance-mode``. ``state=absent`` stops the group (``target-role=Stopped``),
waits, then deletes in one patch the group and every reference to it or its members
(its constraints, a ``cli-ban`` of ``crm_resource --ban``, resource sets, tags); it
refuses before touching anything when Pacemaker would not stop the group. A failure
after something was applied reports ``changed``.

The OCF agent ``ocf:cjc:cjcsite`` (:mod:`..ocfagent`) is installed by the engine
installer; until it is on the node the plan refuses (the CIB would name an agent
that cannot run), so no run pretends.
"""

import copy
import os
import shutil
import time
import xml.etree.ElementTree as ET

from ...errors import CjcError, CommandError, ConfigError
from ...config.layout import C_LOCALE
from ...config.siteconf import DEFAULT_TIMINGS, MONITOR_TIMEOUT, load_site_conf
from . import ABSENT, ProductError, ServicePlan
from .cib import (apply_patch, canonical, cluster_property, drop_references, keep_operator_state, meta_value,
                  query_cib, resource_ids, section)

AGENT = "/usr/lib/ocf/resource.d/cjc/cjcsite"
OPTIONS = ("migration_threshold", "failure_timeout", "resource_stickiness", "ip_nic", "filesystem", "wait",
           "ping_attribute")
FS_KEYS = ("device", "directory", "fstype", "options")
DEFAULT_WAIT = 120
#: the group stays where it runs when a failed node comes back (a move is a restart of every job)
DEFAULT_STICKINESS = 100
IP_MONITOR_TIMEOUT = 20
#: what a change of the group itself is made of (the diff shows the whole group)
_GROUP_PARTS = ("group", "meta_attributes", "primitive")
_FALSE = ("false", "no", "off", "0", "n")
_TRUE = ("true", "yes", "on", "1", "y")


def check_options(options):
    """The backend's options with defaults, or ConfigError naming the bad one."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ConfigError("unknown pacemaker option(s) %s; known: %s" % (", ".join(unknown), ", ".join(OPTIONS)))
    out = dict(options)
    for key, low in (("migration_threshold", 0), ("failure_timeout", 1), ("resource_stickiness", 0),
                     ("wait", 0)):
        value = out.get(key)
        if value is None:
            continue
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = None
        if number is None or number < low or str(value).strip() != str(number):
            raise ConfigError("option %s=%r is not valid: a whole number >= %d" % (key, value, low))
        out[key] = number
    fs = out.get("filesystem")
    if fs is not None:
        if not isinstance(fs, dict) or not all(fs.get(k) for k in FS_KEYS[:3]) or set(fs) - set(FS_KEYS):
            raise ConfigError("option filesystem=%r is not valid: give device, directory, fstype (and optional "
                              "options) of the shared disk" % (fs,))
    for key in ("ip_nic", "ping_attribute"):
        if out.get(key) is not None and not str(out[key]).replace("-", "").replace(".", "").replace("_", "").isalnum():
            raise ConfigError("option %s=%r is not a usable name (letters, digits, '-', '_', '.')" % (key, out[key]))
    out.setdefault("wait", DEFAULT_WAIT)
    out.setdefault("resource_stickiness", DEFAULT_STICKINESS)
    return out


def _nvpairs(parent, owner, values):
    attrs = ET.SubElement(parent, "instance_attributes", id="%s-instance_attributes" % owner)
    for name, value in values:
        ET.SubElement(attrs, "nvpair", id="%s-instance_attributes-%s" % (owner, name), name=name, value=str(value))


def _meta(parent, owner, values):
    values = [(n, v) for n, v in values if v is not None]
    if values:
        attrs = ET.SubElement(parent, "meta_attributes", id="%s-meta_attributes" % owner)
        for name, value in values:
            ET.SubElement(attrs, "nvpair", id="%s-meta_attributes-%s" % (owner, name), name=name, value=str(value))


def _op(parent, owner, name, interval, timeout):
    ET.SubElement(parent, "op", id="%s-%s-interval-%ds" % (owner, name, interval), name=name,
                  interval="%ds" % interval, timeout=timeout if isinstance(timeout, str) else "%ds" % timeout)


def op_timeouts(timings):
    """{"start": ..., "stop": ...} of the site member from the site's ``SiteTimings``."""
    return {"start": timings.advised_start_timeout, "stop": timings.advised_stop_timeout}


def wanted_group(request, timeouts=None):
    """The ``<group>`` element for ``request`` (pure); ``timeouts`` of the site's start and stop."""
    options = check_options(request.options)
    timeouts = timeouts or op_timeouts(DEFAULT_TIMINGS)
    group = ET.Element("group", id=request.service_name)
    _meta(group, request.service_name, [("resource-stickiness", options.get("resource_stickiness")),
                                        ("migration-threshold", options.get("migration_threshold")),
                                        ("failure-timeout", options.get("failure_timeout"))])
    if request.address:
        ip_id = "%s-ip" % request.service_name
        primitive = ET.SubElement(group, "primitive", id=ip_id,
                                  **{"class": "ocf", "provider": "heartbeat", "type": "IPaddr2"})
        address, _, prefix = request.address.partition("/")
        _nvpairs(primitive, ip_id, [("ip", address)] + ([("cidr_netmask", prefix)] if prefix else [])
                 + ([("nic", options["ip_nic"])] if options.get("ip_nic") else []))
        ops = ET.SubElement(primitive, "operations")
        _op(ops, ip_id, "monitor", request.monitor_interval, IP_MONITOR_TIMEOUT)
    fs = options.get("filesystem")
    if fs:
        fs_id = "%s-fs" % request.service_name
        primitive = ET.SubElement(group, "primitive", id=fs_id,
                                  **{"class": "ocf", "provider": "heartbeat", "type": "Filesystem"})
        _nvpairs(primitive, fs_id, [(k, fs[k]) for k in FS_KEYS if fs.get(k)])
        ops = ET.SubElement(primitive, "operations")
        _op(ops, fs_id, "monitor", max(request.monitor_interval, 20), 40)
        _op(ops, fs_id, "start", 0, 60)
        _op(ops, fs_id, "stop", 0, 60)
    site_id = "%s-site" % request.service_name
    primitive = ET.SubElement(group, "primitive", id=site_id,
                              **{"class": "ocf", "provider": "cjc", "type": "cjcsite"})
    _nvpairs(primitive, site_id, [("site", request.site), ("db_path", request.db_path), ("root", request.root)])
    ops = ET.SubElement(primitive, "operations")
    _op(ops, site_id, "start", 0, timeouts["start"])
    _op(ops, site_id, "stop", 0, timeouts["stop"])
    _op(ops, site_id, "monitor", request.monitor_interval, MONITOR_TIMEOUT)
    return group


def is_promotable(element):
    """Whether ``element`` is a promotable clone (DRBD's mirrored disk is one)."""
    return element is not None and (element.tag == "master" or element.tag == "clone" and
                                    (meta_value(element, "promotable") or "").lower() in _TRUE)


def _promoted_role(cib):
    """The role name of a promoted instance in constraints: ``Promoted`` from schema 3.7 on, else ``Master``."""
    schema = (cib.get("validate-with") if cib is not None else None) or ""
    try:
        major, minor = (int(x) for x in schema.split("-", 1)[1].split(".")[:2])
    except (IndexError, ValueError):
        return "Promoted"
    return "Promoted" if (major, minor) >= (3, 7) else "Master"


def wanted_constraints(request, cib=None):
    """The order, colocation and location constraints of the service (pure).

    With ``cib``, a dependency that is a promotable clone gets its roles: started after
    it is promoted, colocated with the promoted instance.
    """
    found = []
    resources = cib.find("configuration/resources") if cib is not None else None
    for dep in request.dependencies:
        target = _find(resources, dep)
        order = {"id": "%s-after-%s" % (request.service_name, dep), "first": dep, "then": request.service_name,
                 "kind": "Mandatory"}
        colocation = {"id": "%s-with-%s" % (request.service_name, dep), "rsc": request.service_name,
                      "with-rsc": dep, "score": "INFINITY"}
        if is_promotable(target):
            order.update({"first-action": "promote", "then-action": "start"})
            colocation["with-rsc-role"] = _promoted_role(cib)
        found.append(ET.Element("rsc_order", **order))
        found.append(ET.Element("rsc_colocation", **colocation))
    attribute = check_options(request.options).get("ping_attribute")
    if attribute:
        location = ET.Element("rsc_location", id="%s-connected" % request.service_name, rsc=request.service_name)
        rule = ET.SubElement(location, "rule", id="%s-connected-rule" % request.service_name,
                             score="-INFINITY", **{"boolean-op": "or"})
        ET.SubElement(rule, "expression", id="%s-connected-undefined" % request.service_name,
                      attribute=attribute, operation="not_defined")
        ET.SubElement(rule, "expression", id="%s-connected-zero" % request.service_name,
                      attribute=attribute, operation="lte", value="0", type="number")
        found.append(location)
    return found


def owns_constraint(element, service):
    """Whether ``element`` is one of the constraints this backend makes for ``service`` (by id and target)."""
    if element.tag == "rsc_order":
        return element.get("then") == service and element.get("id") == "%s-after-%s" % (service, element.get("first"))
    if element.tag == "rsc_colocation":
        return element.get("rsc") == service and \
            element.get("id") == "%s-with-%s" % (service, element.get("with-rsc"))
    if element.tag == "rsc_location":
        return element.get("rsc") == service and element.get("id") == "%s-connected" % service
    return False


def _find(root, element_id):
    if root is None:
        return None
    for node in root.iter():
        if node.get("id") == element_id:
            return node
    return None


def _replace_child(parent, old, new):
    index = list(parent).index(old)
    parent.remove(old)
    parent.insert(index, new)


def _group_changes(resources, existing, wanted):
    """Turn ``existing`` (in the planned CIB) into ``wanted`` in place, member by member.

    Returns ``[(action, tag, id)]`` and the ids of resources the change removes.
    """
    merged = keep_operator_state(existing, wanted)
    if [c.get("id") for c in existing if c.tag == "primitive"] != [c.get("id") for c in merged if c.tag == "primitive"]:
        _replace_child(resources, existing, merged)
        return [("replace", "group", merged.get("id"))], resource_ids(existing) - resource_ids(merged)
    changes = []
    old_meta = [c for c in existing if c.tag == "meta_attributes"]
    new_meta = [c for c in merged if c.tag == "meta_attributes"]
    if canonical(_only_meta(existing)) != canonical(_only_meta(merged)):
        for child in old_meta:
            existing.remove(child)
        for index, child in enumerate(new_meta):
            existing.insert(index, child)
        changes.append(("update", "meta_attributes", (new_meta or old_meta)[0].get("id")))
    for old, new in zip([c for c in existing if c.tag == "primitive"], [c for c in merged if c.tag == "primitive"]):
        if canonical(old) != canonical(new):
            _replace_child(existing, old, new)
            changes.append(("replace", "primitive", new.get("id")))
    return changes, set()


def _only_meta(group):
    out = ET.Element("group", id=group.get("id"))
    out.extend(copy.deepcopy(c) for c in group if c.tag == "meta_attributes")
    return out


def _constraint_changes(constraints, request, wanted):
    """Create, replace or delete the service's own constraints in place; ``[(action, tag, id)]``."""
    changes = []
    wanted_ids = {c.get("id") for c in wanted}
    for element in list(constraints):
        if owns_constraint(element, request.service_name) and element.get("id") not in wanted_ids:
            constraints.remove(element)  # a dependency dropped from the list
            changes.append(("delete", element.tag, element.get("id")))
    for element in wanted:
        existing = _find(constraints, element.get("id"))
        if existing is None:
            constraints.append(element)
            changes.append(("create", element.tag, element.get("id")))
        elif canonical(existing) != canonical(element):
            _replace_child(constraints, existing, element)
            changes.append(("replace", element.tag, element.get("id")))
    return changes


def remove_group(cib, service):
    """Delete group ``service`` and every reference to it or its members from ``cib``; ``[(action, tag, id)]``."""
    resources = section(cib, "resources")
    group = _find(resources, service)
    resources.remove(group)
    return [("delete", "group", service)] + drop_references(cib, resource_ids(group))


def after_own_stop(run, read, service):
    """The CIB to delete ``service`` from, read again after this run's own ``target-role=Stopped``.

    The stop wrote the CIB (its epoch moved): the deletion is planned again on the CIB as
    it is now, once it is sure that nothing but the operator state changed meanwhile.
    """
    now = query_cib(run)
    if canonical(now.find("configuration")) != canonical(read.find("configuration")):
        raise ProductError("the cluster configuration changed while group %s was being stopped: it was not "
                           "deleted; run again" % service)
    planned = copy.deepcopy(now)
    remove_group(planned, service)
    return now, planned


def hands_off(cib, group):
    """Why Pacemaker would not act on ``group`` now (operator state), or None."""
    if (cluster_property(cib, "maintenance-mode") or "").lower() in _TRUE:
        return "the cluster is in maintenance-mode"
    for node in [group] + [c for c in group if c.tag == "primitive"]:
        if (meta_value(node, "is-managed") or "").lower() in _FALSE:
            return "%s is unmanaged (is-managed=%s)" % (node.get("id"), meta_value(node, "is-managed"))
        if (meta_value(node, "maintenance") or "").lower() in _TRUE:
            return "%s is in maintenance (maintenance=true)" % node.get("id")
    return None


def stopped_by_operator(group):
    """The member (or the group) whose ``target-role`` keeps it stopped, or None."""
    for node in [group] + [c for c in group if c.tag == "primitive"]:
        if (meta_value(node, "target-role") or "").lower() == "stopped":
            return node.get("id")
    return None


def group_state(run, group_id):
    """{"members": {id: [nodes where active]}, "failed": [ids], "known": bool} from ``crm_mon``."""
    argv = ["crm_mon", "-1", "--output-as=xml"]
    rc, out, err = run(argv, C_LOCALE)
    if rc != 0:
        raise CommandError("%s failed (rc=%d): %s" % (" ".join(argv), rc, (err or out).strip()),
                           argv=argv, rc=rc, stdout=out, stderr=err)
    root = ET.fromstring(out)
    state = {"members": {}, "failed": [], "known": False, "roles": {}}
    for group in root.iter("group"):
        if group.get("id") != group_id:
            continue
        state["known"] = True
        for resource in group.iter("resource"):
            rid = resource.get("id")
            state["members"][rid] = [n.get("name") for n in resource.findall("node")] \
                if resource.get("active") == "true" else []
            state["roles"][rid] = resource.get("role")
            if resource.get("failed") == "true":
                state["failed"].append(rid)
    return state


def started_on(state):
    """The one node every member runs on, or None."""
    nodes = {tuple(v) for v in state["members"].values()}
    if state["known"] and state["members"] and len(nodes) == 1:
        only = nodes.pop()
        if len(only) == 1 and not state["failed"] and \
                all(role == "Started" for role in state["roles"].values()):
            return only[0]
    return None


def wait_for_group(run, group_id, want, seconds, sleep=time.sleep, clock=time.monotonic):
    """Wait until the group is Started on one node (``want="started"``; returns the node) or stopped."""
    deadline = clock() + seconds
    while True:
        state = group_state(run, group_id)
        if want == "started":
            node = started_on(state)
            if node:
                return node
        elif not any(state["members"].values()):
            return None
        if clock() >= deadline:
            rc, out, _err = run(["crm_mon", "-1", "-r", "--failcounts"], C_LOCALE)
            raise ProductError("resource group %s was not %s within %d s: %s\n%s"
                               % (group_id, want, seconds, state, out if rc == 0 else ""))
        sleep(0.2)


def site_timings(db_path):
    """The site's timings from ``<db>/etc/site.conf`` when the site DB is on this node, else None.

    A node without the shared disk cannot know them: the defaults there would be a guess.
    """
    if not os.path.isfile(os.path.join(db_path, "nqs", "siteinfo")):
        return None
    site_conf = os.path.join(db_path, "etc", "site.conf")
    return load_site_conf(site_conf)[0] if os.path.exists(site_conf) else DEFAULT_TIMINGS


def _timeouts(request, current, existing):
    """The site member's start/stop timeouts: from site.conf, else those already in the CIB."""
    if current.get("timings") is not None:
        return op_timeouts(current["timings"])
    ops = {op.get("name"): op.get("timeout") for op in existing.iter("op")} \
        if existing is not None and _find(existing, "%s-site" % request.service_name) is not None else {}
    if ops.get("start") and ops.get("stop"):
        return {"start": ops["start"], "stop": ops["stop"]}
    raise ProductError("the site database %s is not on this node, so its site.conf (BOOT_TIMEOUT, STOP_TIMEOUT: "
                       "the start and stop timeouts) cannot be read: run this on the node where the shared disk "
                       "is mounted (delegate_to); nothing was changed" % request.db_path)


class PacemakerBackend:
    implemented = True

    def read(self, request, run):
        """{"cib": the whole CIB (Element), "timings": SiteTimings, or None without the site DB here}."""
        if shutil.which("cibadmin") is None:
            raise ProductError("cibadmin is not on this node's PATH: Pacemaker is not installed here (install "
                               "pacemaker and corosync, or pick the product of this cluster); nothing was changed")
        return {"cib": query_cib(run), "timings": site_timings(request.db_path)}

    def plan(self, request, current, agent=AGENT):
        options = check_options(request.options)
        if request.state != ABSENT and not os.path.exists(agent):
            raise ProductError("the OCF resource agent ocf:cjc:cjcsite is not installed on this node (%s is "
                               "missing; install the engine: cjc-install / the cjc.cluster.engine role); nothing "
                               "was changed" % agent)
        read = current["cib"]
        planned = copy.deepcopy(read)
        resources, constraints = section(planned, "resources"), section(planned, "constraints")
        existing = _find(resources, request.service_name)
        if existing is not None and existing.tag != "group":
            raise ProductError("id %s is already a <%s> in the CIB, not this service's group: pick another "
                               "service_name; nothing was changed" % (request.service_name, existing.tag))
        warnings, pre, post = [], [], []
        if request.state == ABSENT:
            changes = self._plan_absent(request, options, planned, existing, pre)
        else:
            for dep in request.dependencies:
                if _find(resources, dep) is None:
                    raise ProductError("dependency %s is not a resource in the CIB: create it first, or drop it "
                                       "from dependencies; nothing was changed" % dep)
            wanted = wanted_group(request, _timeouts(request, current, existing))
            if existing is None:
                resources.append(wanted)
                changes, removed = [("create", "group", request.service_name)], set()
            else:
                changes, removed = _group_changes(resources, existing, wanted)
            changes += _constraint_changes(constraints, request, wanted_constraints(request, planned))
            changes += drop_references(planned, removed)
            group = _find(resources, request.service_name)
            why = hands_off(planned, group) or \
                (stopped_by_operator(group) and "%s has target-role=Stopped" % stopped_by_operator(group))
            if changes and options["wait"] and why:
                warnings.append("not waiting for %s to start: %s" % (request.service_name, why))
            elif changes and options["wait"]:
                post.append({"action": "wait", "id": request.service_name, "until": "started",
                             "seconds": options["wait"]})
        actions = pre + [{"action": a, "id": i, "tag": t} for a, t, i in changes]
        if changes:
            actions.append({"action": "patch", "argv": ["cibadmin", "--patch", "--xml-file",
                                                        "<crm_diff of the CIB read and the CIB planned>"]})
        actions += post
        touched = ([request.service_name] if any(t in _GROUP_PARTS for _a, t, _i in changes) else []) + \
            [i for _a, t, i in changes if t not in _GROUP_PARTS]
        before = [canonical(_find(read.find("configuration"), i)) for i in touched]
        after = [canonical(_find(planned.find("configuration"), i)) for i in touched]
        members = {"group": request.service_name, "site": "%s-site" % request.service_name,
                   "ip": "%s-ip" % request.service_name if request.address else None}
        if options.get("filesystem"):
            members["filesystem"] = "%s-fs" % request.service_name
        changed = any(a["action"] != "wait" for a in actions)
        return ServicePlan(request, changed, actions, "\n".join(b for b in before if b) + "\n",
                           "\n".join(a for a in after if a) + "\n",
                           {"resources": members, "cib": {"read": read, "planned": planned}}, warnings)

    @staticmethod
    def _plan_absent(request, options, planned, existing, pre):
        """Delete the group and every reference to it from ``planned``; the stop and wait go to ``pre``."""
        if existing is None:
            return drop_references(planned, {request.service_name})
        why = hands_off(planned, existing)
        if why:
            raise ProductError("%s: Pacemaker would not stop group %s, so deleting it would leave the site running "
                               "unmanaged; manage it again (or stop the site yourself), then run again; nothing was "
                               "changed" % (why, request.service_name))
        if options["wait"]:
            pre.append({"action": "stop", "id": request.service_name, "argv": [
                "crm_resource", "--resource", request.service_name, "--meta", "--set-parameter",
                "target-role", "--parameter-value", "Stopped"]})
            pre.append({"action": "wait", "id": request.service_name, "until": "stopped",
                        "seconds": options["wait"]})
        return remove_group(planned, request.service_name)

    def apply(self, plan, run):
        """Run the plan in order: the stop, the one patch, the bounded waits. Returns the node or None.

        An error after something was applied carries ``changed = True``.
        """
        node, applied = None, False
        read, planned = plan.result["cib"]["read"], plan.result["cib"]["planned"]
        try:
            for action in plan.actions:
                if action["action"] == "wait":
                    node = wait_for_group(run, action["id"], action["until"], action["seconds"])
                elif action["action"] == "stop":
                    rc, out, err = run(action["argv"], C_LOCALE)
                    if rc != 0:
                        said = (err or out).strip()
                        raise CommandError("%s failed (rc=%d): %s" % (" ".join(action["argv"][:4]), rc, said),
                                           argv=action["argv"], rc=rc, stdout=out, stderr=err)
                    applied = True
                elif action["action"] == "patch":
                    if applied:  # after this run's own stop
                        read, planned = after_own_stop(run, read, plan.request.service_name)
                    apply_patch(run, read, planned)
                    applied = True
        except CjcError as err:
            err.changed = applied
            raise
        return node
