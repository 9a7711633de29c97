"""Sites and the link registry of one node (guide §2.1.1, §2.1.2).

* The **local site**: name = this host's name, DB = ``/usr/spool/nqs``.
* **Cluster sites**: DB on a shared disk, registered on each node that may run them
  by a link ``/usr/spool/nqs/<IPv4 as 8 upper-case hex digits>`` -> DB path.

A site's *spool* holds its identity file ``siteinfo``, its ``run/`` pid records and
its data: the local spool is ``/usr/spool/nqs`` itself, a cluster site's is
``<db>/nqs``. A link whose DB cannot be read (the disk is mounted on the other
node) still yields a site record, marked unavailable.
"""

import collections
import os
import socket

from ..errors import SiteError
from ..config.fileio import fsync_dir, write_atomic
from ..config.keyvalue import KeyValueFile
from .names import address_of_link, link_name, reverse_name

SITEINFO = "siteinfo"
RUN_DIR = "run"
CJCPW_RECORD = "cjcpw.pid"


class Site(collections.namedtuple(
        "Site", "name machine_id db_path is_local link address spool daemon_conf site_conf available")):
    """One site as this node sees it. Paths are real paths (under the root prefix)."""

    @property
    def run_dir(self):
        return os.path.join(self.spool, RUN_DIR)

    def record_path(self, role):
        """The pid record ``role`` (``nqsdaemon.pid``...); whether it counts here: site/status.py."""
        return os.path.join(self.run_dir, role)


def read_siteinfo(spool):
    """The identity written by cjcmksite / the installer, or None when not readable."""
    path = os.path.join(spool, SITEINFO)
    if not os.path.isfile(path):
        return None
    values = KeyValueFile.load(path).values()
    try:
        values["machine_id"] = int(values["machine_id"])
    except (KeyError, ValueError):
        return None
    return values


def siteinfo_text(machine_id, name=None, address=None):
    lines = ["# site identity, written once when the site was made; do not edit\n"]
    if name:
        lines.append("name=%s\n" % name)
    lines.append("machine_id=%d\n" % machine_id)
    if address:
        lines.append("address=%s\n" % address)
    return "".join(lines)


def write_siteinfo(spool, machine_id, name=None, address=None):
    """Write the site's identity (the one writer: cjcmksite and the installer), atomically."""
    write_atomic(os.path.join(spool, SITEINFO), siteinfo_text(machine_id, name, address))


def local_site(layout):
    """The local site of this node (``available`` False until the engine is installed)."""
    info = read_siteinfo(layout.spool)
    return Site(name=socket.gethostname(), machine_id=info and info["machine_id"],
                db_path=layout.spool, is_local=True, link=None, address=None, spool=layout.spool,
                daemon_conf=layout.local_daemon_conf, site_conf=layout.local_site_conf,
                available=info is not None)


def cluster_site(db_path, link=None, address=None):
    """The cluster site whose DB is at ``db_path`` (name from its siteinfo when readable)."""
    spool = os.path.join(db_path, "nqs")
    info = read_siteinfo(spool)
    if info:
        name, machine_id = info.get("name"), info["machine_id"]
        address = address or info.get("address")
    else:
        name, machine_id = (address and reverse_name(address)) or address or db_path, None
    return Site(name=name, machine_id=machine_id, db_path=db_path, is_local=False, link=link,
                address=address, spool=spool, daemon_conf=os.path.join(spool, "daemon.conf"),
                site_conf=os.path.join(db_path, "etc", "site.conf"), available=info is not None)


def registry_links(layout):
    """[(link path, address, target)] of every site link in this node's spool, sorted."""
    try:
        entries = sorted(os.listdir(layout.spool))
    except FileNotFoundError:
        return []
    found = []
    for entry in entries:
        address = address_of_link(entry)
        path = os.path.join(layout.spool, entry)
        if address and os.path.islink(path):
            found.append((path, address, os.readlink(path)))
    return found


class Registry:
    """Every site known on one node: the local site and the linked cluster sites."""

    def __init__(self, layout):
        self.layout = layout
        self.local = local_site(layout)
        self.cluster = [cluster_site(target, link=path, address=address)
                        for path, address, target in registry_links(layout)]

    def find(self, name):
        """The cluster site called ``name`` (or linked for the address ``name`` resolves to)."""
        for site in self.cluster:
            if site.name == name:
                return site
        try:
            address = socket.gethostbyname(name)
        except (socket.gaierror, socket.herror, UnicodeError):
            return None
        for site in self.cluster:
            if site.address == address:
                return site
        return None

    def require(self, name):
        site = self.find(name)
        if site is None:
            raise SiteError("no site %s is registered on this node (known: %s); create it with "
                            "cjcmksite on the active node, or register it with cjcpw"
                            % (name, ", ".join(s.name for s in self.cluster) or "none"))
        return site

    def by_db_path(self, db_path):
        wanted = os.path.realpath(db_path)
        for site in self.cluster:
            if os.path.realpath(site.db_path) == wanted:
                return site
        return None

    def machine_ids(self):
        """{machine ID: site name} of every site whose identity is readable here."""
        ids = {}
        if self.local.available:
            ids[self.local.machine_id] = "%s (local site)" % self.local.name
        for site in self.cluster:
            if site.available:
                ids[site.machine_id] = site.name
        return ids


_SAFE_PATH = __import__("re").compile(r"^/[A-Za-z0-9._+/-]*$")


def check_db_path_syntax(db_path):
    """The normalised absolute DB path, or SiteError.

    Only ``[A-Za-z0-9._+/-]`` is allowed: the path ends up in shell scripts and
    cluster configurations generated for other products, so nothing in it may
    need quoting.
    """
    if not isinstance(db_path, str) or not db_path.startswith("/"):
        raise SiteError("site DB path %r must be an absolute path (like /mnt/jobdb)" % (db_path,))
    normal = os.path.normpath(db_path)
    if normal == "/" or not _SAFE_PATH.match(normal) or "/../" in normal + "/":
        raise SiteError("site DB path %r is not allowed: use an absolute path below a mount point, "
                        "made of letters, digits and . _ + - /" % (db_path,))
    return normal


LOCAL = "local"


def open_site(layout, spec):
    """The Site named by a daemon's ``--site`` argument: ``local`` or a cluster DB path."""
    if spec == LOCAL:
        site = local_site(layout)
    else:
        site = cluster_site(check_db_path_syntax(spec))
    if not site.available:
        raise SiteError("no site database at %s (missing %s/siteinfo): is the disk mounted, was the "
                        "site made with cjcmksite?" % (site.db_path, site.spool))
    return site


def register_link(link, db_path):
    """Create (or atomically repoint) the registry link ``link`` -> ``db_path``."""
    tmp = "%s.tmp-%d" % (link, os.getpid())
    os.symlink(db_path, tmp)
    try:
        os.replace(tmp, link)
    except BaseException:
        os.unlink(tmp)
        raise
    fsync_dir(os.path.dirname(link))


def plan_register(layout, db_path, name=None):
    """(Site, link path, link missing?) for registering an existing site DB on this node.

    What a standby does (``cjcpw`` on a node without the link, ``cjc_site`` on the
    standby): the DB must be readable here, ``name`` (if given) must be its site
    name or resolve to its address, and the address's link must be free or already
    point at this DB. Reads only.
    """
    db_path = check_db_path_syntax(db_path)
    site = cluster_site(db_path)
    if not site.available:
        raise SiteError("no site database at %s (%s/nqs/siteinfo is missing): is the shared disk mounted "
                        "on this node, and was the site made with cjcmksite?" % (db_path, db_path))
    if name is not None and name != site.name:
        try:
            address = socket.gethostbyname(name)
        except (socket.gaierror, socket.herror, UnicodeError):
            address = None
        if address != site.address:
            raise SiteError("the site database at %s belongs to site %s (%s), not to %s"
                            % (db_path, site.name, site.address, name))
    link = os.path.join(layout.spool, link_name(site.address))
    if os.path.lexists(link) and os.readlink(link) != db_path:
        raise SiteError("address %s of site %s is registered to another site DB: %s -> %s; remove that "
                        "link first (§2.6.1 step 2)" % (site.address, site.name, link, os.readlink(link)))
    return site._replace(link=link), link, not os.path.lexists(link)
