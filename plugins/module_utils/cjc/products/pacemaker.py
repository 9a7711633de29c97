"""Pacemaker/Corosync backend of ``cjc_cluster_service`` (SPEC §3).

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

The OCF agent ``ocf:cjc:cjcsite`` comes with issue #7; until it is installed the
plan refuses (the CIB would name an agent that cannot run), so no run pretends.
"""

import os
import shutil
import xml.etree.ElementTree as ET

from ..errors import CommandError
from ..siteconf import DEFAULT_TIMINGS, load_site_conf
from . import ABSENT, ProductError, ServicePlan

AGENT = "/usr/lib/ocf/resource.d/cjc/cjcsite"
TIMEOUT_MARGIN = 30
ENV = {"LANG": "C", "LC_ALL": "C"}


def _nvpairs(parent, owner, values):
    attrs = ET.SubElement(parent, "instance_attributes", id="%s-instance_attributes" % owner)
    for name, value in values:
        ET.SubElement(attrs, "nvpair", id="%s-instance_attributes-%s" % (owner, name), name=name, value=str(value))


def _op(parent, owner, name, interval, timeout):
    ET.SubElement(parent, "op", id="%s-%s-interval-%ds" % (owner, name, interval), name=name,
                  interval="%ds" % interval, timeout="%ds" % timeout)


def wanted_group(request, timings=DEFAULT_TIMINGS):
    """The ``<group>`` element for ``request`` (pure)."""
    group = ET.Element("group", id=request.service_name)
    members = []
    if request.address:
        ip_id = "%s-ip" % request.service_name
        primitive = ET.SubElement(group, "primitive", {"id": ip_id, "class": "ocf", "provider": "heartbeat",
                                                       "type": "IPaddr2"})
        address, prefix = (request.address.split("/") + [""])[:2]
        _nvpairs(primitive, ip_id, [("ip", address)] + ([("cidr_netmask", prefix)] if prefix else []))
        ops = ET.SubElement(primitive, "operations")
        _op(ops, ip_id, "monitor", request.monitor_interval, 20)
        members.append(ip_id)
    site_id = "%s-site" % request.service_name
    primitive = ET.SubElement(group, "primitive", {"id": site_id, "class": "ocf", "provider": "cjc",
                                                   "type": "cjcsite"})
    _nvpairs(primitive, site_id, [("site", request.site), ("db_path", request.db_path), ("root", request.root)])
    ops = ET.SubElement(primitive, "operations")
    _op(ops, site_id, "start", 0, timings.boot_timeout + TIMEOUT_MARGIN)
    _op(ops, site_id, "stop", 0, timings.total_stop_seconds + TIMEOUT_MARGIN)
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


def canonical(element):
    """Text of ``element`` with sorted attributes and no whitespace: equal config, equal text."""
    if element is None:
        return ""
    copy = ET.fromstring(ET.tostring(element))
    for node in copy.iter():
        node.text = node.tail = None
        items = sorted(node.attrib.items())
        node.attrib.clear()
        node.attrib.update(items)
    return ET.tostring(copy, encoding="unicode")


def _find(root, element_id):
    if root is None:
        return None
    for node in root.iter():
        if node.get("id") == element_id:
            return node
    return None


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
            rc, out, err = run(argv, ENV)
            if rc != 0:
                raise CommandError("%s failed (rc=%d): %s; is Pacemaker running on this node?"
                                   % (" ".join(argv), rc, (err or out).strip()), argv=argv, rc=rc,
                                   stdout=out, stderr=err)
            current[scope] = ET.fromstring(out) if out.strip() else None
        site_conf = os.path.join(request.db_path, "etc", "site.conf")
        current["timings"] = load_site_conf(site_conf)[0] if os.path.exists(site_conf) else DEFAULT_TIMINGS
        return current

    def plan(self, request, current, agent=AGENT):
        if request.state != ABSENT and not os.path.exists(agent):
            raise ProductError("the OCF resource agent ocf:cjc:cjcsite is not installed on this node (%s is "
                               "missing; it is delivered by issue #7); nothing was changed" % agent)
        wanted = [] if request.state == ABSENT else [("resources", wanted_group(request, current["timings"]))]
        wanted += [] if request.state == ABSENT else [("constraints", c) for c in wanted_constraints(request)]
        actions, before, after = [], [], []
        if request.state == ABSENT:
            ids = ["%s-after-%s" % (request.service_name, d) for d in request.dependencies]
            ids += ["%s-with-%s" % (request.service_name, d) for d in request.dependencies]
            for scope, element_id in [("constraints", i) for i in ids] + [("resources", request.service_name)]:
                existing = _find(current[scope], element_id)
                if existing is not None:
                    before.append(canonical(existing))
                    actions.append({"action": "delete", "argv": [
                        "cibadmin", "--delete", "--scope", scope, "--xml-text",
                        '<%s id="%s"/>' % (existing.tag, element_id)]})
        for scope, element in wanted:
            existing = _find(current[scope], element.get("id"))
            text = canonical(element)
            before.append(canonical(existing))
            after.append(text)
            if existing is None:
                actions.append({"action": "create", "argv": ["cibadmin", "--create", "--scope", scope,
                                                             "--xml-text", ET.tostring(element, encoding="unicode")]})
            elif canonical(existing) != text:
                actions.append({"action": "replace", "argv": ["cibadmin", "--replace", "--scope", scope,
                                                              "--xml-text", ET.tostring(element, encoding="unicode")]})
        result = {"resources": {"group": request.service_name,
                                "site": "%s-site" % request.service_name,
                                "ip": "%s-ip" % request.service_name if request.address else None}}
        return ServicePlan(request, bool(actions), actions, "\n".join(b for b in before if b) + "\n",
                           "\n".join(a for a in after if a) + "\n", result, [])

    def apply(self, plan, run):
        for action in plan.actions:
            rc, out, err = run(action["argv"], ENV)
            if rc != 0:
                message = "%s failed (rc=%d): %s" % (" ".join(action["argv"][:4]), rc, (err or out).strip())
                raise CommandError(message, argv=action["argv"], rc=rc, stdout=out, stderr=err)
