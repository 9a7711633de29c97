"""Pacemaker/Corosync backend of ``cjc_cluster_service`` (guide §3-§6).

What it configures: one resource **group** named ``service_name`` (a group is
ordered and colocated: members start in order on one node) holding

1. ``<service>-ip``: ``ocf:heartbeat:IPaddr2`` with the floating ``address``
   (``ip``, ``cidr_netmask`` when the address has a prefix);
2. ``<service>-site``: ``ocf:cjc:cjcsite`` with ``site``, ``db_path`` and ``root``;
   start/stop timeouts are the site's ``BOOT_TIMEOUT``/``STOP_TIMEOUT`` plus a
   margin, monitor every ``monitor_interval`` s.

Each name in ``dependencies`` (typically the ``ocf:heartbeat:Filesystem`` resource
of the shared disk) gets an ``order <dep> then <service>`` (mandatory) and a
``colocation <service> with <dep>`` (INFINITY) constraint, ids
``<service>-after-<dep>`` / ``<service>-with-<dep>``.

read
    ``cibadmin --query --scope resources`` and ``--scope constraints`` (C locale).
compute
    the wanted XML of the group and the constraints; compared with the CIB after
    canonicalising (attribute order, whitespace), so a second run changes nothing.
apply
    ``cibadmin --create`` for missing objects, ``cibadmin --replace`` for differing
    ones, ``cibadmin --delete`` for ``state=absent`` (constraints first); all argv
    lists. The CIB applies each call atomically.

The OCF agent ``ocf:cjc:cjcsite`` (:mod:`..ocfagent`) is installed by the engine
installer; until it is on the node the plan refuses (the CIB would name an agent
that cannot run), so no run pretends.

``options`` (checked here): ``migration_threshold`` (failures on a node before the
group leaves it; meta attribute of the site resource), ``failure_timeout`` (s),
``resource_stickiness`` (group meta attribute: the group stays where it runs when
the failed node comes back), ``ip_nic`` (IPaddr2 ``nic``), ``filesystem``
(``{device, directory, fstype, options}``: an ``ocf:heartbeat:Filesystem`` member
``<service>-fs`` between the address and the site) and ``wait`` (seconds to wait,
after a change, until every member is Started on one node -- or, for
``state=absent``, stopped; default 120, 0 = do not wait).

Only the difference is applied: a missing group is created whole; in an existing
group with the same members each differing member (or the group's own meta
attributes) is replaced alone, so unaffected members are not restarted; only a
change of the member list replaces the group. ``target-role`` and ``is-managed``
set by an operator are not drift: they are neither compared nor removed.
``state=absent`` first stops the group (``target-role=Stopped``), waits, then
deletes the constraints and the group it owns, nothing else.
"""

import os
import shutil
import time
import xml.etree.ElementTree as ET

from ...errors import CommandError, ConfigError
from ...config.layout import C_LOCALE
from ...config.siteconf import DEFAULT_TIMINGS, load_site_conf
from . import ABSENT, ProductError, ServicePlan

AGENT = "/usr/lib/ocf/resource.d/cjc/cjcsite"
OPTIONS = ("migration_threshold", "failure_timeout", "resource_stickiness", "ip_nic", "filesystem", "wait")
FS_KEYS = ("device", "directory", "fstype", "options")
DEFAULT_WAIT = 120
#: meta attributes an operator sets on a running service: never drift, never removed
OPERATOR_META = ("target-role", "is-managed")


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
    if out.get("ip_nic") is not None and not str(out["ip_nic"]).replace("-", "").replace(".", "").isalnum():
        raise ConfigError("option ip_nic=%r is not an interface name" % (out["ip_nic"],))
    out.setdefault("wait", DEFAULT_WAIT)
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
                  interval="%ds" % interval, timeout="%ds" % timeout)


def wanted_group(request, timings=DEFAULT_TIMINGS):
    """The ``<group>`` element for ``request`` (pure)."""
    options = check_options(request.options)
    group = ET.Element("group", id=request.service_name)
    _meta(group, request.service_name, [("resource-stickiness", options.get("resource_stickiness"))])
    if request.address:
        ip_id = "%s-ip" % request.service_name
        primitive = ET.SubElement(group, "primitive", id=ip_id,
                                  **{"class": "ocf", "provider": "heartbeat", "type": "IPaddr2"})
        address, _, prefix = request.address.partition("/")
        _nvpairs(primitive, ip_id, [("ip", address)] + ([("cidr_netmask", prefix)] if prefix else [])
                 + ([("nic", options["ip_nic"])] if options.get("ip_nic") else []))
        ops = ET.SubElement(primitive, "operations")
        _op(ops, ip_id, "monitor", request.monitor_interval, 20)
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
    _meta(primitive, site_id, [("migration-threshold", options.get("migration_threshold")),
                               ("failure-timeout", options.get("failure_timeout"))])
    ops = ET.SubElement(primitive, "operations")
    _op(ops, site_id, "start", 0, timings.advised_start_timeout)
    _op(ops, site_id, "stop", 0, timings.advised_stop_timeout)
    _op(ops, site_id, "monitor", request.monitor_interval, 30)
    return group


def wanted_constraints(request):
    """[(tag, element)] of the order and colocation constraints for the dependencies (pure)."""
    found = []
    for dep in request.dependencies:
        found.append(ET.Element("rsc_order", id="%s-after-%s" % (request.service_name, dep), first=dep,
                                then=request.service_name, kind="Mandatory"))
        found.append(ET.Element("rsc_colocation", id="%s-with-%s" % (request.service_name, dep),
                                rsc=request.service_name, **{"with-rsc": dep, "score": "INFINITY"}))
    return found


def _without_operator_meta(element):
    """A copy of ``element`` without the operator's meta attributes (and sets left empty)."""
    copy = ET.fromstring(ET.tostring(element))
    for parent in list(copy.iter()):
        for child in list(parent):
            if child.tag == "meta_attributes":
                for nv in list(child):
                    if nv.get("name") in OPERATOR_META:
                        child.remove(nv)
                if len(child) == 0:
                    parent.remove(child)
    return copy


def canonical(element):
    """Text of ``element`` with sorted attributes and no whitespace: equal config, equal text.

    The operator's ``target-role``/``is-managed`` are left out (not drift).
    """
    if element is None:
        return ""
    copy = _without_operator_meta(element)
    for node in copy.iter():
        node.text = node.tail = None
        items = sorted(node.attrib.items())
        node.attrib.clear()
        node.attrib.update(items)
    return ET.tostring(copy, encoding="unicode")


def _keep_operator_meta(existing, wanted):
    """``wanted`` with the operator meta nvpairs of ``existing`` (same element level) carried over."""
    kept = []
    for child in existing:
        if child.tag == "meta_attributes":
            kept += [nv for nv in child if nv.get("name") in OPERATOR_META]
    if not kept:
        return wanted
    wanted = ET.fromstring(ET.tostring(wanted))
    meta = wanted.find("meta_attributes")
    if meta is None:
        meta = ET.Element("meta_attributes", id="%s-meta_attributes" % wanted.get("id"))
        wanted.insert(0, meta)
    for nv in kept:
        if meta.find("nvpair[@name='%s']" % nv.get("name")) is None:
            meta.append(nv)
    return wanted


def _find(root, element_id):
    if root is None:
        return None
    for node in root.iter():
        if node.get("id") == element_id:
            return node
    return None


def _xml(element):
    return ET.tostring(element, encoding="unicode")


def _group_diff(scope, existing, wanted):
    """cibadmin actions that turn the existing group into the wanted one, member by member."""
    members = [c.get("id") for c in existing if c.tag == "primitive"]
    if members != [c.get("id") for c in wanted if c.tag == "primitive"]:
        return [{"action": "replace", "id": wanted.get("id"), "argv": [
            "cibadmin", "--replace", "--scope", scope, "--xml-text", _xml(_keep_operator_meta(existing, wanted))]}]
    actions = []
    old_meta = ET.Element("group", id=existing.get("id"))
    old_meta.extend(c for c in existing if c.tag == "meta_attributes")
    new_meta = ET.Element("group", id=wanted.get("id"))
    new_meta.extend(c for c in wanted if c.tag == "meta_attributes")
    if canonical(old_meta) != canonical(new_meta):
        meta = _keep_operator_meta(existing, new_meta).find("meta_attributes")
        old = existing.find("meta_attributes")
        if meta is None and old is not None:
            actions.append({"action": "delete", "id": old.get("id"), "argv": [
                "cibadmin", "--delete", "--scope", scope, "--xml-text", '<meta_attributes id="%s"/>' % old.get("id")]})
        elif old is None:
            actions.append({"action": "create", "id": meta.get("id"), "argv": [
                "cibadmin", "--create", "--scope", scope, "--xpath", "//group[@id='%s']" % existing.get("id"),
                "--xml-text", _xml(meta)]})
        else:
            actions.append({"action": "replace", "id": meta.get("id"), "argv": [
                "cibadmin", "--replace", "--scope", scope, "--xml-text", _xml(meta)]})
    for old, new in zip([c for c in existing if c.tag == "primitive"], [c for c in wanted if c.tag == "primitive"]):
        if canonical(old) != canonical(new):
            actions.append({"action": "replace", "id": new.get("id"), "argv": [
                "cibadmin", "--replace", "--scope", scope, "--xml-text", _xml(_keep_operator_meta(old, new))]})
    return actions


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


class PacemakerBackend:
    implemented = True

    def read(self, request, run):
        """{"resources": Element or None, "constraints": Element or None, "timings": SiteTimings}."""
        if shutil.which("cibadmin") is None:
            raise ProductError("cibadmin is not on this node's PATH: Pacemaker is not installed here (install "
                               "pacemaker and corosync, or pick the product of this cluster); nothing was changed")
        current = {}
        for scope in ("resources", "constraints"):
            argv = ["cibadmin", "--query", "--scope", scope]
            rc, out, err = run(argv, C_LOCALE)
            if rc != 0:
                raise CommandError("%s failed (rc=%d): %s; is Pacemaker running on this node?"
                                   % (" ".join(argv), rc, (err or out).strip()), argv=argv, rc=rc,
                                   stdout=out, stderr=err)
            current[scope] = ET.fromstring(out) if out.strip() else None
        site_conf = os.path.join(request.db_path, "etc", "site.conf")
        current["timings"] = load_site_conf(site_conf)[0] if os.path.exists(site_conf) else DEFAULT_TIMINGS
        return current

    def plan(self, request, current, agent=AGENT):
        options = check_options(request.options)
        if request.state != ABSENT and not os.path.exists(agent):
            raise ProductError("the OCF resource agent ocf:cjc:cjcsite is not installed on this node (%s is "
                               "missing; install the engine: cjc-install / the cjc.cluster.engine role); nothing "
                               "was changed" % agent)
        wanted = [] if request.state == ABSENT else [("resources", wanted_group(request, current["timings"]))]
        wanted += [] if request.state == ABSENT else [("constraints", c) for c in wanted_constraints(request)]
        actions, before, after = [], [], []
        if request.state == ABSENT:
            group = _find(current["resources"], request.service_name)
            if group is not None and options["wait"]:
                actions.append({"action": "stop", "id": request.service_name, "argv": [
                    "crm_resource", "--resource", request.service_name, "--meta", "--set-parameter",
                    "target-role", "--parameter-value", "Stopped"]})
                actions.append({"action": "wait", "id": request.service_name, "until": "stopped",
                                "seconds": options["wait"]})
            ids = ["%s-after-%s" % (request.service_name, d) for d in request.dependencies]
            ids += ["%s-with-%s" % (request.service_name, d) for d in request.dependencies]
            for scope, element_id in [("constraints", i) for i in ids] + [("resources", request.service_name)]:
                existing = _find(current[scope], element_id)
                if existing is not None:
                    before.append(canonical(existing))
                    actions.append({"action": "delete", "id": element_id, "argv": [
                        "cibadmin", "--delete", "--scope", scope, "--xml-text",
                        '<%s id="%s"/>' % (existing.tag, element_id)]})
        for scope, element in wanted:
            existing = _find(current[scope], element.get("id"))
            text = canonical(element)
            before.append(canonical(existing))
            after.append(text)
            if existing is None:
                actions.append({"action": "create", "id": element.get("id"), "argv": [
                    "cibadmin", "--create", "--scope", scope, "--xml-text", _xml(element)]})
            elif canonical(existing) != text:
                if element.tag == "group":
                    actions += _group_diff(scope, existing, element)
                else:
                    actions.append({"action": "replace", "id": element.get("id"), "argv": [
                        "cibadmin", "--replace", "--scope", scope, "--xml-text", _xml(element)]})
        if request.state != ABSENT and actions and options["wait"]:
            actions.append({"action": "wait", "id": request.service_name, "until": "started",
                            "seconds": options["wait"]})
        members = {"group": request.service_name, "site": "%s-site" % request.service_name,
                   "ip": "%s-ip" % request.service_name if request.address else None}
        if options.get("filesystem"):
            members["filesystem"] = "%s-fs" % request.service_name
        changed = any(a["action"] != "wait" for a in actions)
        return ServicePlan(request, changed, actions, "\n".join(b for b in before if b) + "\n",
                           "\n".join(a for a in after if a) + "\n", {"resources": members}, [])

    def apply(self, plan, run):
        """Run the plan's commands in order; wait (bounded) where it says. Returns the node or None."""
        node = None
        for action in plan.actions:
            if action["action"] == "wait":
                node = wait_for_group(run, action["id"], action["until"], action["seconds"])
                continue
            rc, out, err = run(action["argv"], C_LOCALE)
            if rc != 0:
                raise CommandError("%s failed (rc=%d): %s" % (" ".join(action["argv"][:4]), rc, (err or out).strip()),
                                   argv=action["argv"], rc=rc, stdout=out, stderr=err)
        return node
