"""cjcmksite: make a cluster site's database on the active node (guide §2.3(6)).

``plan_mksite`` only reads and runs every documented check, so the Ansible module
can predict a run in check mode; ``make_site`` then builds the tree atomically:
everything is made in a hidden directory inside the DB path, renamed into place
in one step, and only then is the registry link created. A failure (or a kill) at
any point leaves no link and no ``<db>/nqs``: nothing a later command would take
for a site.
"""

import collections
import os
import shutil

from ..site import pidrecords
from .pending import ADDRESS, ENGINE, Assumed
from ..errors import SiteError
from ..config.fileio import fsync_dir, write_atomic
from ..site.names import check_address_is_local, link_name, local_addresses, resolve_site_address
from ..config.siteconf import INT_MAX
from ..site.registry import Registry, check_db_path_syntax, register_link, write_siteinfo
from ..site.status import daemon_pid, read_status
from ..jobs.store import create_store

SPOOL_SUBDIRS = ("run", "log", "output", "private")
TMP_PREFIX = ".cjcmksite-"

MksitePlan = collections.namedtuple("MksitePlan", "name machine_id db_path address interface link")


def parse_machine_id(value):
    """A machine ID as an int in 1..2147483647, or SiteError."""
    text = str(value).strip()
    if not text.isdigit() or not 1 <= int(text) <= INT_MAX:
        raise SiteError("machine ID %r is not valid: use a positive whole number up to %d"
                        % (value, INT_MAX))
    return int(text)


def check_db_location(db_path, mount_point=None):
    """Raise SiteError unless the DB path's file system is there, mounted and writable."""
    if mount_point is not None:
        mount_point = os.path.normpath(mount_point)
        if not os.path.ismount(mount_point):
            raise SiteError("%s is not a mount point: the shared disk for %s is not mounted on this "
                            "node; mount it first (§2.2.3)" % (mount_point, db_path))
        if os.path.commonpath([mount_point, db_path]) != mount_point:
            raise SiteError("site DB path %s is not below the mount point %s" % (db_path, mount_point))
    if os.path.lexists(db_path) and not os.path.isdir(db_path):
        raise SiteError("site DB path %s exists and is not a directory" % db_path)
    parent = db_path if os.path.isdir(db_path) else os.path.dirname(db_path)
    if not os.path.isdir(parent):
        raise SiteError("cannot reach %s: %s does not exist (is the shared disk mounted?)"
                        % (db_path, parent))
    if os.statvfs(parent).f_flag & os.ST_RDONLY:
        raise SiteError("the file system holding %s is mounted read-only" % db_path)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SiteError("%s is not writable by this user; the site DB cannot be made there" % parent)


def plan_mksite(layout, name, machine_id, db_path, mount_point=None, assumed=None):
    """Run every check of guide §2.3(6) without changing anything; return the plan.

    ``assumed`` (check mode of the role, plan/pending.py): the engine and the site address
    that this run's earlier tasks put in place count as there; the checks on them are pending.
    """
    assumed = assumed or Assumed()
    machine_id = parse_machine_id(machine_id)
    db_path = check_db_path_syntax(db_path)
    if not os.path.isdir(layout.spool) and not assumed.covers(
            ENGINE, "the engine is installed by this run (%s is made then)" % layout.spool):
        raise SiteError("the engine is not installed under %s (%s is missing); install it first"
                        % (layout.root, layout.spool))
    address = resolve_site_address(name)
    if address in local_addresses() or not assumed.covers(
            ADDRESS, "%s (%s) is moved to this node by this run before the site DB is made" % (address, name)):
        interface = check_address_is_local(address, name)
    else:
        interface = None
    check_db_location(db_path, mount_point)
    if os.path.lexists(os.path.join(db_path, "nqs")):
        raise SiteError("%s already holds a site database (%s/nqs exists); to register it on this node "
                        "use cjcpw or cjc_site, to re-create it follow §2.6.1 (remove the link and the "
                        "DB, or run playbooks/rebuild_sitedb.yml)" % (db_path, db_path))
    link = os.path.join(layout.spool, link_name(address))
    if os.path.lexists(link):
        raise SiteError("address %s is already registered: %s -> %s; remove that link first if the "
                        "site is gone (§2.6.1 step 2)" % (address, link, os.readlink(link)))
    registry = Registry(layout)
    local_pid = daemon_pid(read_status(registry.local))
    if local_pid is not None:
        raise SiteError("the local site is running (nqsdaemon pid %d); stop it with nqsstop first "
                        "(§2.3(4))" % local_pid)
    owner = registry.machine_ids().get(machine_id)
    if owner:
        raise SiteError("machine ID %d is already used by site %s; choose another machine ID"
                        % (machine_id, owner))
    return MksitePlan(name, machine_id, db_path, address, interface, link)


def _mkdir_755(path):
    os.mkdir(path)
    os.chmod(path, 0o755)  # §2.6.3: 755 whatever the umask


def _remove_stale_attempts(db_path):
    """Delete hidden build directories left by a killed cjcmksite."""
    for entry in os.listdir(db_path):
        if entry.startswith(TMP_PREFIX):
            pid = entry[len(TMP_PREFIX):]
            if pid.isdigit() and int(pid) != os.getpid() and pidrecords.pid_exists(int(pid)):
                raise SiteError("another cjcmksite (pid %s) is making a site in %s" % (pid, db_path))
            shutil.rmtree(os.path.join(db_path, entry))


def site_daemon_conf(address):
    """The ``daemon.conf`` a new cluster site gets: it listens on its relocatable address."""
    return "ipaddress=%s\n" % address


def build_spool(spool, plan):
    """Phases 1-2: the spool tree, the site identity and the site's daemon.conf."""
    _mkdir_755(spool)
    for sub in SPOOL_SUBDIRS:
        _mkdir_755(os.path.join(spool, sub))
    write_siteinfo(spool, plan.machine_id, plan.name, plan.address)
    # §2.3(5): a cluster site listens on its relocatable address
    write_atomic(os.path.join(spool, "daemon.conf"), site_daemon_conf(plan.address))


def build_database(spool, plan):
    """Phase 3: the site database, with the default queues guilb_def -> guibs_1 (§2.5.4)."""
    create_store(spool)


# Phases after the spool tree, run inside the hidden build directory: [(title, function(spool, plan))].
# A restore (plan/restore.py) gives its own: the backed-up database instead of a new one.
EXTRA_PHASES = [("Make the site database (queues guilb_def, guibs_1).", build_database)]


def make_site(layout, plan, report=print, phases=None):
    """Build the site of ``plan`` (from :func:`plan_mksite`) with ``phases`` (default
    EXTRA_PHASES) after the spool tree; all or nothing (``<db>/etc`` exists during the phases)."""
    made_db = not os.path.exists(plan.db_path)
    if made_db:
        try:
            _mkdir_755(plan.db_path)
        except OSError as err:  # e.g. /proc or /sys: "writable" for root, yet no directory can be made
            raise SiteError("cannot create the site DB directory %s: %s; use a directory on the shared disk"
                            % (plan.db_path, err.strerror))
    _remove_stale_attempts(plan.db_path)
    work = os.path.join(plan.db_path, "%s%d" % (TMP_PREFIX, os.getpid()))
    etc = os.path.join(plan.db_path, "etc")
    made_etc = not os.path.exists(etc)
    installed = False
    try:
        _mkdir_755(work)
        report("Phase 1: Make NQS spool directories.")
        report("Phase 2: Write site identity and daemon.conf.")
        build_spool(os.path.join(work, "nqs"), plan)
        if made_etc:
            _mkdir_755(etc)
        number = 3
        for title, function in EXTRA_PHASES if phases is None else phases:
            report("Phase %d: %s" % (number, title))
            function(os.path.join(work, "nqs"), plan)
            number += 1
        report("Phase %d: Install the site database in %s." % (number, plan.db_path))
        os.rename(os.path.join(work, "nqs"), os.path.join(plan.db_path, "nqs"))
        installed = True
        os.rmdir(work)
        fsync_dir(plan.db_path)
        report("Phase %d: Register the site: %s -> %s." % (number + 1, layout.unprefixed(plan.link), plan.db_path))
        register_link(plan.link, plan.db_path)
    except OSError as err:
        _undo(plan, work, installed, made_etc, made_db)
        raise SiteError("could not make the site database in %s: %s; nothing was left behind"
                        % (plan.db_path, err))
    except BaseException:
        _undo(plan, work, installed, made_etc, made_db)
        raise
    report("cjcmksite Complete")


def _undo(plan, work, installed, made_etc, made_db):
    shutil.rmtree(work, ignore_errors=True)
    if installed:
        shutil.rmtree(os.path.join(plan.db_path, "nqs"), ignore_errors=True)
    if made_etc:
        shutil.rmtree(os.path.join(plan.db_path, "etc"), ignore_errors=True)
    if made_db:
        shutil.rmtree(plan.db_path, ignore_errors=True)
