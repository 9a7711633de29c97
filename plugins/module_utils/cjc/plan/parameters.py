"""The cluster role's site parameters, checked on the controller before any node is read
(guide §2.3(3)): one sentence per wrong variable, naming it, its value and why.

The rules are those ``cjcmksite`` applies on the node (plan/mksite.py, site/registry.py,
site/names.py), so a value that passes here is not refused later for its form; what only
a node can tell (name resolution, the disk, the IDs in use) is checked there.
"""

import ipaddress
import os

from ..errors import CjcError
from ..site.names import check_hostname_syntax
from ..site.registry import check_db_path_syntax
from .mksite import parse_machine_id


def _site_name(value):
    if not value:
        return "empty: set it to the site's full domain name, the canonical name of cjc_cluster_address"
    check_hostname_syntax(value)
    if "." not in value:
        return ("not a full domain name: the site name is the canonical name of the relocatable "
                "address, and a short name or alias cannot be used (guide §2.3(6))")
    return None


def _machine_id(value):
    parse_machine_id(value)
    return None


def _address(value):
    try:
        ipaddress.IPv4Address(str(value))
    except ValueError:
        return "not an IPv4 address (four numbers 0-255 joined by dots, like 10.192.18.10)"
    return None


def _mount_point(value, db_path):
    if not value:
        return None
    if not value.startswith("/"):
        return "not an absolute path"
    mount_point = os.path.normpath(value)
    if not str(db_path).startswith("/") or os.path.commonpath([mount_point, os.path.normpath(db_path)]) != mount_point:
        return "does not hold cjc_cluster_db_path %s: the site DB must be on the mounted shared disk" % (db_path,)
    return None


def site_parameter_errors(site_name, machine_id, db_path, address, mount_point=""):
    """One ``variable="value": why`` sentence per wrong parameter, in this order; [] when all are right."""
    checks = (("cjc_cluster_site_name", site_name, lambda: _site_name(site_name)),
              ("cjc_cluster_machine_id", machine_id, lambda: _machine_id(machine_id)),
              ("cjc_cluster_db_path", db_path, lambda: check_db_path_syntax(db_path) and None),
              ("cjc_cluster_address", address, lambda: _address(address)),
              ("cjc_cluster_mount_point", mount_point, lambda: _mount_point(mount_point, db_path)))
    errors = []
    for variable, value, check in checks:
        try:
            why = check()
        except CjcError as err:
            why = str(err)
        if why:
            errors.append('%s="%s": %s' % (variable, value, why))
    return errors
