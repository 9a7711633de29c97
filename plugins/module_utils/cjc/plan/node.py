"""What a node knows about its sites, as data: the facts the Ansible side decides from.

One read-only pass over the node (no command run, no site database written): the sites
of the registry with :func:`..site.status.read_status` (the same answer ``cjcls`` prints
as a table, guide §2.5.3), the name checks of §2.3(3) for one site name and address,
whether that site's DB and its start check record exist, the machine table and the users
of that DB (opened read-only, when this node sees it: guide §2.2.1), and which engine
commands are missing. The ``cjc_node_facts`` module returns it; the roles read it instead of parsing
command output.
"""

import contextlib
import os
import socket
import sqlite3
import urllib.parse

from ..jobs.store import QUEUED, RUNNING, db_path as store_path
from ..site.names import link_name, local_addresses, reverse_name
from ..site.registry import SITEINFO, Registry
from ..site.status import daemon_pid, read_status, serving_daemons
from .install import COMMANDS


def site_row(layout, site):
    """One site as data: identity, link and the node's status of it (``read_status``)."""
    status = read_status(site)
    return {
        "name": site.name,
        "machine_id": site.machine_id,
        "db_path": site.db_path if not site.is_local else layout.unprefixed(site.db_path),
        "is_local": site.is_local,
        "link": site.link and layout.unprefixed(site.link),
        "address": site.address,
        "available": site.available,
        "running": daemon_pid(status) is not None,
        "daemon_pid": daemon_pid(status),
        "cjcpw": status["cjcpw"],
        "owner": status["owner"],
        "daemons": serving_daemons(status),
    }


def forward_addresses(name):
    """The sorted IPv4 addresses ``name`` resolves to here (empty when it does not)."""
    try:
        return sorted({info[4][0] for info in socket.getaddrinfo(name, None, socket.AF_INET)})
    except (OSError, UnicodeError):
        return []


def address_interface(address):
    """The interface ``address`` is configured on in this network namespace, or None."""
    try:  # psutil comes with the engine role: before it ran (a first check-mode run) unknown
        return local_addresses().get(address)
    except ImportError:
        return None


# The users a site knows (guide §2.2.1): their accounts must be the same on every node.
_SITE_USERS = """
    SELECT owner FROM jobs WHERE state IN (?, ?)
    UNION SELECT local_user FROM user_map
    UNION SELECT name FROM managers
    ORDER BY 1
"""


def read_site_db(db_path):
    """What the roles check in the site DB at ``db_path``: ``{"machines": [{machine_id, name}]`` (the
    machine table, ``qmgr`` machines), ``"users": [name]}`` (owners of queued and running requests,
    mapped local users, managers); None for each when this node cannot read it (disk not mounted here).

    Read-only (``mode=ro``): a fact read never changes nor upgrades the site's database.
    """
    path = store_path(os.path.join(db_path, "nqs"))
    if not os.path.isfile(path):
        return {"machines": None, "users": None}
    try:
        uri = "file:%s?mode=ro" % urllib.parse.quote(path)
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=5)) as db:
            machines = db.execute("SELECT machine_id, name FROM machines ORDER BY machine_id").fetchall()
            users = db.execute(_SITE_USERS, (QUEUED, RUNNING)).fetchall()
    except sqlite3.Error:
        return {"machines": None, "users": None}
    return {"machines": [{"machine_id": mid, "name": name} for mid, name in machines],
            "users": [name for (name,) in users]}


def node_facts(layout, site_name=None, address=None, db_path=None, start_check_record=None, commands=None):
    """The facts of this node (see the module ``cjc_node_facts`` for each key)."""
    registry = Registry(layout)
    sites = [site_row(layout, site) for site in registry.cluster]
    facts = {
        "root": layout.root,
        "local_site": site_row(layout, registry.local) if registry.local.available else None,
        "sites": sites,
        "missing_commands": [c for c in sorted(COMMANDS if commands is None else commands)
                             if not os.path.exists(layout.path(c))],
    }
    if site_name:
        facts["site"] = next((row for row in sites if row["name"] == site_name), None)
        facts["names"] = {"site_name": site_name, "forward": forward_addresses(site_name)}
    if address:
        canonical = reverse_name(address)
        facts.setdefault("names", {}).update(address=address, canonical=canonical, link=link_name(address))
        names = facts["names"]
        names["agree"] = bool(site_name) and names["forward"] == [address] and canonical == site_name
        facts["address_interface"] = address_interface(address)
    if db_path:
        facts["db"] = dict(read_site_db(db_path), path=db_path,
                           present=os.path.exists(os.path.join(db_path, "nqs", SITEINFO)))
    if start_check_record:
        facts["start_check"] = {"path": start_check_record, "passed": os.path.exists(start_check_record)}
    return facts
