"""The Pacemaker CIB as a document: compare, find references, apply one version-checked patch.

The backend (:mod:`.pacemaker`) plans on a copy of the whole CIB read with
``cibadmin --query`` and applies the difference as **one** patch: ``crm_diff`` computes
it from the CIB read and the CIB wanted (its epoch one above the read one), and
``cibadmin --patch`` applies it only if the CIB still has the version that was read
(else ``Update was older than existing configuration``, rc 103). So a plan is applied
whole or not at all, and never over a configuration someone changed after it was read.
A patch refused only because the status section moved meanwhile (``num_updates``: an
operation result was recorded) is rebuilt on the CIB as it is now and sent again;
a changed configuration (``epoch``) fails the run with nothing of it applied.
"""

import copy
import os
import shutil
import tempfile
import xml.etree.ElementTree as ET

from ...config.layout import C_LOCALE
from ...errors import CommandError
from . import ProductError

#: meta attributes an operator sets on a running service: never drift, never removed
OPERATOR_META = ("target-role", "is-managed", "maintenance")
#: attributes of an ``<op>`` an operator sets (``enabled=false`` pauses a monitor)
OPERATOR_OP = ("enabled",)
#: cibadmin's rc for a patch whose source version is not the CIB's (pcmk_err_old_data)
OLD_DATA = 103
PATCH_ATTEMPTS = 5
#: attributes of a constraint (or its resource set) that name a resource
_REFERENCE_ATTRS = ("rsc", "with-rsc", "first", "then")
#: elements that name a resource by ``id`` inside a constraint or a tag
_REFERENCE_TAGS = ("resource_ref", "obj_ref")


def query_cib(run):
    """The whole CIB (``cibadmin --query``) as an Element; CommandError when the cluster does not answer."""
    argv = ["cibadmin", "--query"]
    rc, out, err = run(argv, C_LOCALE)
    if rc != 0:
        raise CommandError("%s failed (rc=%d): %s; is Pacemaker running on this node?"
                           % (" ".join(argv), rc, (err or out).strip()), argv=argv, rc=rc, stdout=out, stderr=err)
    return ET.fromstring(out)


def section(cib, name):
    """``configuration/<name>`` of ``cib`` (created empty when the CIB lacks it)."""
    configuration = cib.find("configuration")
    found = configuration.find(name)
    if found is None:
        found = ET.SubElement(configuration, name)
    return found


def without_operator_state(element):
    """A copy of ``element`` without the operator's meta attributes and op switches (and sets left empty)."""
    out = copy.deepcopy(element)
    for parent in list(out.iter()):
        for child in list(parent):
            if child.tag == "meta_attributes":
                for nv in list(child):
                    if nv.get("name") in OPERATOR_META:
                        child.remove(nv)
                if len(child) == 0:
                    parent.remove(child)
            elif child.tag == "op":
                for name in OPERATOR_OP:
                    child.attrib.pop(name, None)
    return out


def canonical(element):
    """Text of ``element`` with sorted attributes and no whitespace: equal config, equal text.

    The operator's state (:data:`OPERATOR_META`, :data:`OPERATOR_OP`) is left out: not drift.
    """
    if element is None:
        return ""
    out = without_operator_state(element)
    for node in out.iter():
        node.text = node.tail = None
        items = sorted(node.attrib.items())
        node.attrib.clear()
        node.attrib.update(items)
    return ET.tostring(out, encoding="unicode")


def keep_operator_state(existing, wanted):
    """``wanted`` with the operator state of ``existing`` carried over, element by element.

    Meta nvpairs named in :data:`OPERATOR_META` go into the same-level meta set of the
    element with the same id; op switches to the op of the same name (and interval, when
    there are several).
    """
    wanted = copy.deepcopy(wanted)
    old_by_id = {node.get("id"): node for node in existing.iter() if node.get("id")}
    for node in list(wanted.iter()):
        old = old_by_id.get(node.get("id"))
        if old is None or node.tag not in ("group", "primitive", "clone", "master"):
            continue
        kept = [nv for meta in old.findall("meta_attributes") for nv in meta if nv.get("name") in OPERATOR_META]
        if kept:
            meta = node.find("meta_attributes")
            if meta is None:
                meta = ET.Element("meta_attributes", id="%s-meta_attributes" % node.get("id"))
                node.insert(0, meta)
            for nv in kept:
                if meta.find("nvpair[@name='%s']" % nv.get("name")) is None:
                    meta.append(copy.deepcopy(nv))
        old_ops = list(old.iter("op"))
        for op in node.iter("op"):
            same = [o for o in old_ops if o.get("name") == op.get("name")]
            exact = [o for o in same if o.get("interval") == op.get("interval")]
            before = (exact or same)[0] if len(exact or same) == 1 else None  # a new interval: the same op
            for name in OPERATOR_OP:
                if before is not None and before.get(name) is not None:
                    op.set(name, before.get(name))
    return wanted


def meta_value(element, name):
    """The value of meta attribute ``name`` set directly on ``element``, or None."""
    for meta in element.findall("meta_attributes"):
        for nv in meta.findall("nvpair"):
            if nv.get("name") == name:
                return nv.get("value")
    return None


def cluster_property(cib, name):
    """The value of cluster property ``name`` (``crm_config``), or None."""
    crm_config = cib.find("configuration/crm_config")
    for nv in crm_config.iter("nvpair") if crm_config is not None else ():
        if nv.get("name") == name:
            return nv.get("value")
    return None


def resource_ids(element):
    """ids of ``element`` and every resource inside it (group members, clone children)."""
    return {node.get("id") for node in element.iter()
            if node.tag in ("primitive", "group", "clone", "master", "bundle") and node.get("id")}


def drop_references(cib, ids):
    """Remove from ``cib`` every constraint and tag reference to a resource in ``ids``.

    A constraint naming one of them directly (``rsc``, ``with-rsc``, ``first``, ``then``:
    a ``cli-ban`` of ``crm_resource --ban`` too) is deleted; a ``resource_ref`` in a set
    (or an ``obj_ref`` in a tag) is removed, and the set, constraint or tag it leaves
    empty with it. Returns ``[(action, tag, id)]`` of what it changed, in document order.
    """
    changed = []
    configuration = cib.find("configuration")
    for holder_tag in ("constraints", "tags"):
        holder = configuration.find(holder_tag)
        if holder is None:
            continue
        for item in list(holder):
            if any(item.get(attr) in ids for attr in _REFERENCE_ATTRS):
                holder.remove(item)
                changed.append(("delete", item.tag, item.get("id")))
                continue
            refs = [(parent, child) for parent in item.iter() for child in parent
                    if child.tag in _REFERENCE_TAGS and child.get("id") in ids]
            if not refs:
                continue
            for parent, child in refs:
                parent.remove(child)
            for rset in item.findall("resource_set"):
                if rset.find("resource_ref") is None:
                    item.remove(rset)
            empty = len(item) == 0 if item.tag == "tag" else \
                item.find("resource_set") is None and not any(item.get(attr) for attr in _REFERENCE_ATTRS)
            if empty:
                holder.remove(item)
            changed.append(("delete" if empty else "update", item.tag, item.get("id")))
    return changed


def version(cib):
    """(admin_epoch, epoch, num_updates) of ``cib``."""
    return tuple(int(cib.get(name, "0")) for name in ("admin_epoch", "epoch", "num_updates"))


def _successor(read, configuration):
    """The CIB to reach from ``read``: its status, ``configuration``, epoch one higher."""
    new = copy.deepcopy(read)
    old_configuration = new.find("configuration")
    new.remove(old_configuration)
    new.insert(list(read).index(read.find("configuration")), copy.deepcopy(configuration))
    new.set("epoch", str(version(read)[1] + 1))
    new.set("num_updates", "0")
    return new


def apply_patch(run, read, wanted):
    """Apply ``wanted``'s configuration over ``read`` as one version-checked patch.

    Raises ProductError when the configuration changed since ``read`` (nothing applied),
    CommandError when crm_diff or cibadmin fails otherwise.
    """
    if shutil.which("crm_diff") is None:
        raise ProductError("crm_diff is not on this node's PATH (it comes with pacemaker-cli-utils); nothing "
                           "was changed")
    configuration = wanted.find("configuration")
    work = tempfile.mkdtemp(prefix="cjc-cib-")
    try:
        for _attempt in range(PATCH_ATTEMPTS):
            old_path, new_path = os.path.join(work, "read.xml"), os.path.join(work, "wanted.xml")
            ET.ElementTree(read).write(old_path, encoding="unicode")
            ET.ElementTree(_successor(read, configuration)).write(new_path, encoding="unicode")
            argv = ["crm_diff", "--original", old_path, "--new", new_path]
            rc, patch, err = run(argv, C_LOCALE)
            if rc not in (0, 1):  # 1: the two differ (the patch is on stdout)
                raise CommandError("crm_diff failed (rc=%d): %s" % (rc, err.strip()), argv=argv, rc=rc,
                                   stdout=patch, stderr=err)
            patch_path = os.path.join(work, "patch.xml")
            with open(patch_path, "w", encoding="utf-8") as handle:
                handle.write(patch)
            argv = ["cibadmin", "--patch", "--xml-file", patch_path]
            rc, out, err = run(argv, C_LOCALE)
            if rc == 0:
                return
            if rc != OLD_DATA:
                raise CommandError("cibadmin --patch failed (rc=%d): %s" % (rc, (err or out).strip()),
                                   argv=argv, rc=rc, stdout=out, stderr=err)
            now = query_cib(run)
            if version(now)[:2] != version(read)[:2]:
                raise ProductError("the cluster configuration changed since it was read (CIB version %s, now %s): "
                                   "nothing of this plan was applied; run again"
                                   % (".".join(map(str, version(read))), ".".join(map(str, version(now)))))
            read = now  # only the status moved: the same configuration over the CIB as it is now
        raise ProductError("the CIB status kept changing under %d patches in a row: nothing of this plan was "
                           "applied; run again" % PATCH_ATTEMPTS)
    finally:
        shutil.rmtree(work, ignore_errors=True)
