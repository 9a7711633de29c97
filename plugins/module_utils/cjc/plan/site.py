"""The wanted state of one site on one node (``cjc_site``): plan by reading, then apply.

:func:`plan_site` reads the node (registry links, the site DB, pid records, the
common ``daemon.conf``) and runs every check, changing nothing; it returns the
list of actions a real run performs, so check mode reports exactly what a real
run will change. :func:`apply_site` carries the actions out; commands run through
an injected ``run(argv, environ) -> (rc, stdout, stderr)`` callable.

States of a **cluster site** (``db_path`` required):

``present``
    The site is registered on this node. When ``<db>/nqs`` is readable here, the
    DB's identity must match ``name`` (and ``machine_id`` when given) and only the
    link ``/usr/spool/nqs/<HEX>`` -> DB is (re)made. When no DB exists yet and the
    site's address is configured on this node (the active node), the DB is made
    with the cjcmksite logic (every check of guide §2.3(6)). When no DB is visible and
    the address is not here (a standby without the shared disk), only the link is
    made, with a warning: ``cjcpw`` checks the DB when it starts the site.
``absent``
    Every link of this node to the DB is removed (§2.6.1 step 2); with
    ``purge_db`` the DB itself is deleted (§2.6.1 step 3). Refused while the site
    runs on this node or its ``cjcpw`` record names another host.
``started`` / ``stopped``
    The site's daemons run / do not run on this node: ``cjcpw -c <name> <db>`` /
    ``cjcpw -stop <name>``. While ``maintenance=ON`` is set, ``nqsstart <name>`` /
    ``nqsstop <name>`` are used instead, so a supervising ``cjcpw`` (and with it
    the cluster) is not disturbed (guide §2.1.4).
``maintenance``
    ``maintenance=ON`` in the common ``rc/daemon.conf`` of this node, and the
    site present. Nothing is started or stopped: the setting applies from the next
    ``cjcpw`` start on this node, to every cluster site of the node (it is a node
    setting). Leave maintenance with ``cjc_daemon_conf`` (``maintenance: "OFF"``).

The **local site** (``local=True``) is always present once the engine is
installed; ``started``/``stopped`` run ``/usr/lib/nqs/nqsstart`` / ``nqsstop``;
``absent`` and ``maintenance`` are refused with what to do instead.
"""

import collections
import os
import shutil

from . import daemon_conf
from .pending import ADDRESS, ENGINE, Assumed
from ..site import status as site_status
from ..errors import CommandError, SiteError
from ..config.fileio import fsync_dir
from ..config.layout import CJCPW, NQSSTART, NQSSTOP
from .mksite import make_site, parse_machine_id, plan_mksite
from ..site.listing import format_table
from ..site.names import link_name, local_addresses, resolve_site_address
from ..site.ownership import OWNER_RECORD
from ..site.registry import (Registry, check_db_path_syntax, cluster_site, local_site, read_siteinfo,
                             register_link, registry_links)

PRESENT, ABSENT, STARTED, STOPPED, MAINTENANCE = "present", "absent", "started", "stopped", "maintenance"
STATES = (PRESENT, ABSENT, STARTED, STOPPED, MAINTENANCE)


SiteRequest = collections.namedtuple(
    "SiteRequest", "name machine_id db_path state purge_db local mount_point")
SiteRequest.__new__.__defaults__ = (None, None, None, PRESENT, False, False, None)


class SitePlan(collections.namedtuple("SitePlan", "request actions warnings before after pending")):
    """``actions``: list of dicts (``action`` + details), empty when nothing is to do;
    ``before``/``after``: the diffable state (link, db, daemons, cjcpw, maintenance) now
    and as predicted after the actions; ``pending``: the checks a check-mode plan made on
    an assumption (plan/pending.py), which only a real run proves."""

    @property
    def changed(self):
        return bool(self.actions)


SitePlan.__new__.__defaults__ = ((),)


def maintenance_on(layout):
    """True when the common daemon.conf of this node says ``maintenance=ON``."""
    plan = daemon_conf.plan_conf(layout, daemon_conf.COMMON, {})
    return plan.settings.get("maintenance") == "ON"


def _site_of(layout, request):
    if request.local:
        return local_site(layout)
    db_path = check_db_path_syntax(request.db_path)
    registry = Registry(layout)
    site = registry.by_db_path(db_path)
    return site or cluster_site(db_path)


def _running_pid(site):
    """pid of the site's nqsdaemon or, failing that, of its owner on this node; None when neither runs here."""
    status = site_status.read_status(site)
    return site_status.daemon_pid(status) or site_status.owner_pid(status)


def _state_view(layout, site):
    """The part of a site's state that ``diff`` shows."""
    status = site_status.read_status(site)
    view = collections.OrderedDict()
    if not site.is_local:
        view["link"] = site.link
        view["db"] = "present" if read_siteinfo(site.spool) else "absent"
    view["daemons"] = "running" if site_status.daemon_pid(status) else "SHUT"
    view["cjcpw"] = "ON" if site_status.owner_pid(status) else "OFF"
    try:
        view["maintenance"] = "ON" if maintenance_on(layout) else "OFF"
    except SiteError:
        view["maintenance"] = "OFF"
    return view


def _require_engine(layout, assumed):
    if not os.path.isdir(layout.spool) and not assumed.covers(
            ENGINE, "the engine is installed by this run (%s is made then)" % layout.spool):
        raise SiteError("the engine is not installed under %s (%s is missing); install it first "
                        "(role cjc.cluster.engine)" % (layout.root, layout.spool))


def plan_site(layout, request, assumed=None):
    """Check ``request`` against this node and return a SitePlan; changes nothing.

    Raises SiteError / NameCheckError / ConfigError with the engine's message when
    the request cannot be met (alias name, address not here, disk missing, ID
    collision, site running, identity mismatch...). ``assumed`` (an
    :class:`.pending.Assumed`, check mode only) lets the plan take what this run's
    earlier tasks would have made as made.
    """
    assumed = assumed or Assumed()
    if request.state not in STATES:
        raise SiteError("state %r is not known; use one of %s" % (request.state, ", ".join(STATES)))
    _require_engine(layout, assumed)
    if request.local:
        return _plan_local(layout, request, assumed)
    if not request.name or not request.db_path:
        raise SiteError("a cluster site needs name and db_path (or set local: true for the local site)")
    site = _site_of(layout, request)
    before = _state_view(layout, site)
    after = collections.OrderedDict(before)
    actions, warnings = [], []
    if request.state in (PRESENT, MAINTENANCE):
        _plan_present(layout, request, site, actions, warnings, after, assumed)
    if request.state == MAINTENANCE:
        conf = daemon_conf.plan_conf(layout, daemon_conf.COMMON, {"maintenance": "ON"})
        if conf.changed:
            actions.append({"action": "set_conf", "path": conf.path, "settings": {"maintenance": "ON"},
                            "before": conf.before, "after": conf.after, "changes": conf.changes})
        after["maintenance"] = "ON"
    elif request.state == ABSENT:
        _plan_absent(layout, request, site, actions, warnings, after)
    elif request.state in (STARTED, STOPPED):
        _plan_run(layout, request, site, before, actions, after)
    return SitePlan(request, actions, warnings, before, after, assumed.pending)


def _plan_local(layout, request, assumed):
    site = local_site(layout)
    if not site.available and assumed.covers(
            ENGINE, "the local site is made by this run's engine install, and does not run after it"):
        # the installer writes its identity and starts nothing (plan/install.py)
        before = collections.OrderedDict([("daemons", "SHUT"), ("cjcpw", "OFF"), ("maintenance", "OFF")])
        return SitePlan(request, [], [], before, collections.OrderedDict(before), assumed.pending)
    if not site.available:
        raise SiteError("the local site has no identity (%s/siteinfo is missing): install the engine "
                        "with its local machine ID first (role cjc.cluster.engine)" % layout.spool)
    if request.state == ABSENT:
        raise SiteError("the local site always exists (guide §2.1.1) and cannot be removed; to keep it "
                        "from starting at boot set local_daemon=OFF with cjc_daemon_conf (scope common)")
    if request.state == MAINTENANCE:
        raise SiteError("maintenance applies to cluster sites supervised by cjcpw; for the local site "
                        "use state=stopped / started")
    if request.machine_id is not None and parse_machine_id(request.machine_id) != site.machine_id:
        raise SiteError("the local site's machine ID is %d, not %s; it is set once when the engine is "
                        "installed" % (site.machine_id, request.machine_id))
    before = _state_view(layout, site)
    after = collections.OrderedDict(before)
    actions = []
    if request.state in (STARTED, STOPPED):
        _plan_run(layout, request, site, before, actions, after)
    return SitePlan(request, actions, [], before, after, assumed.pending)


def _check_identity(request, info, db_path):
    if info.get("name") != request.name:
        raise SiteError("%s holds the DB of site %s, not %s; use the right db_path or name "
                        "(re-creating a DB is §2.6.1: state=absent purge_db=true first)"
                        % (db_path, info.get("name"), request.name))
    if request.machine_id is not None and parse_machine_id(request.machine_id) != info["machine_id"]:
        raise SiteError("site %s at %s has machine ID %d, not %s; a machine ID cannot be changed "
                        "(re-create the DB, §2.6.1, to choose another)"
                        % (request.name, db_path, info["machine_id"], request.machine_id))


def _link_action(layout, address, db_path, actions, after, warnings):
    link = os.path.join(layout.spool, link_name(address))
    current = os.readlink(link) if os.path.islink(link) else None
    if current is not None and os.path.normpath(current) == db_path:
        return
    if os.path.lexists(link) and current is None:
        raise SiteError("%s exists and is not a link; move it away so the site can be registered" % link)
    if current is not None:
        other = cluster_site(current, link=link, address=address)
        if _running_pid(other):
            raise SiteError("%s -> %s belongs to a site running on this node (%s); stop it before "
                            "re-pointing the link to %s" % (link, current, other.name, db_path))
        warnings.append("%s pointed to %s; re-pointed to %s" % (link, current, db_path))
    actions.append({"action": "register_link", "link": link, "target": db_path, "previous": current})
    after["link"] = link


def _plan_present(layout, request, site, actions, warnings, after, assumed):
    db_path = site.db_path
    spool = os.path.join(db_path, "nqs")
    info = read_siteinfo(spool)
    if info is not None:
        _check_identity(request, info, db_path)
        address = info.get("address") or resolve_site_address(request.name)
        _link_action(layout, address, db_path, actions, after, warnings)
        return
    if os.path.lexists(spool):
        raise SiteError("%s exists but holds no site identity (siteinfo): an incomplete DB; re-create "
                        "it (§2.6.1: state=absent purge_db=true, then state=present)" % spool)
    address = resolve_site_address(request.name)
    if address in local_addresses() or assumed.covers(
            ADDRESS, "%s (%s) is moved to this node by this run before the site DB is made" % (address, request.name)):
        if request.machine_id is None:
            raise SiteError("no site DB at %s yet: machine_id is required to make site %s"
                            % (db_path, request.name))
        mk = plan_mksite(layout, request.name, request.machine_id, db_path, request.mount_point, assumed)
        actions.append({"action": "make_site", "name": mk.name, "machine_id": mk.machine_id,
                        "db_path": mk.db_path, "address": mk.address, "link": mk.link,
                        "interface": mk.interface})
        after["db"] = "present"
        after["link"] = mk.link
        return
    # A standby: the shared disk is mounted on the active node only.
    _link_action(layout, address, db_path, actions, after, warnings)
    warnings.append("no site DB is visible at %s on this node and %s (%s) is not configured here: "
                    "only the link is registered; the DB is checked when cjcpw starts the site"
                    % (db_path, address, request.name))


def _plan_absent(layout, request, site, actions, warnings, after):
    db_path = site.db_path
    links = [path for path, _address, target in registry_links(layout)
             if os.path.normpath(target) == db_path]
    info = read_siteinfo(site.spool)
    if links or (request.purge_db and info is not None):
        pid = _running_pid(site)
        if pid:
            raise SiteError("site %s is running on this node (pid %d); stop it first (state=stopped)"
                            % (site.name, pid))
    for link in links:
        actions.append({"action": "unregister_link", "link": link, "target": db_path})
    after["link"] = None
    if not request.purge_db:
        return
    if info is None:
        if os.path.lexists(site.spool):
            raise SiteError("%s exists but holds no site identity; refusing to delete what may not be a "
                            "site DB: remove it by hand after checking" % site.spool)
        if not os.path.isdir(db_path):
            warnings.append("purge_db: %s is not visible on this node; nothing deleted here" % db_path)
        return
    if info.get("name") != request.name:
        raise SiteError("refusing to purge %s: it holds the DB of site %s, not %s"
                        % (db_path, info.get("name"), request.name))
    status = site_status.read_status(site)
    record = status["owner"]  # as written: it may name another node, where the site runs
    if record and record.get("host") != status["host"]:
        raise SiteError("refusing to purge %s: its owner record names host %s (pid %s); stop the site "
                        "there first, or delete %s if that host is gone"
                        % (db_path, record.get("host"), record.get("pid"), site.record_path(OWNER_RECORD)))
    actions.append({"action": "purge_db", "db_path": db_path,
                    "remove_directory": not os.path.ismount(db_path)})
    after["db"] = "absent"


def _plan_run(layout, request, site, before, actions, after):
    maintenance = before["maintenance"] == "ON" and not site.is_local
    running = before["daemons"] == "running"
    if request.state == STARTED:
        if running:
            return
        if site.is_local:
            argv = [layout.path(NQSSTART)]
        elif maintenance:
            argv = [layout.path(NQSSTART), site.name]
        else:
            argv = [layout.path(CJCPW), "-c", request.name, site.db_path]
        if not site.is_local and not before.get("link"):
            raise SiteError("site %s (%s) is not registered on this node; make or register it first "
                            "(state=present)" % (request.name, site.db_path))
        if not site.is_local and not maintenance and before["cjcpw"] == "ON":
            # cjcpw -c would refuse a second owner; say what is wrong instead
            raise SiteError("site %s: its cjcpw (pid %d) owns the site on this node but the daemons are not "
                            "running (see %s/log); stop it (state=stopped) and start it again"
                            % (request.name, site_status.owner_pid(site_status.read_status(site)) or 0,
                               site.spool))
        after["daemons"] = "running"
    else:
        supervised = before["cjcpw"] == "ON" and not maintenance
        if not running and not supervised:
            return
        if site.is_local:
            argv = [layout.path(NQSSTOP)]
        elif maintenance:
            argv = [layout.path(NQSSTOP), site.name]
        else:
            argv = [layout.path(CJCPW), "-stop", request.name]
            after["cjcpw"] = "OFF"
        after["daemons"] = "SHUT"
    actions.append({"action": "run", "argv": argv})


def apply_site(layout, plan, run, report=lambda line: None):
    """Carry out ``plan.actions`` in order. ``run(argv, environ)`` returns (rc, stdout, stderr).

    Raises CommandError for a command that fails (rc != 0) or that does not reach
    the state it was run for, and the engine's errors from cjcmksite.
    """
    for action in plan.actions:
        kind = action["action"]
        if kind == "make_site":
            mk = plan_mksite(layout, action["name"], action["machine_id"], action["db_path"],
                             plan.request.mount_point)
            make_site(layout, mk, report=report)
        elif kind == "register_link":
            register_link(action["link"], action["target"])
        elif kind == "unregister_link":
            os.unlink(action["link"])
            fsync_dir(os.path.dirname(action["link"]))
        elif kind == "purge_db":
            purge_db(action["db_path"], action["remove_directory"])
        elif kind == "set_conf":
            daemon_conf.apply_conf(daemon_conf.plan_conf(layout, daemon_conf.COMMON, action["settings"]))
        elif kind == "run":
            _run_checked(layout, plan, action["argv"], run)


def _run_checked(layout, plan, argv, run):
    rc, out, err = run(argv, layout.command_environ())
    if rc != 0:
        raise CommandError("%s failed (rc=%d): %s" % (" ".join(argv), rc, (err or out).strip()[-500:]),
                           argv=argv, rc=rc, stdout=out, stderr=err)
    site = _site_of(layout, plan.request)
    pid = site_status.daemon_pid(site_status.read_status(site))
    if plan.request.state == STARTED and pid is None:
        raise CommandError("%s returned 0 but the site's nqsdaemon is not running on this node; see the "
                           "site's log in %s/log" % (" ".join(argv), site.spool),
                           argv=argv, rc=rc, stdout=out, stderr=err)
    if plan.request.state == STOPPED and pid is not None:
        raise CommandError("%s returned 0 but the site's nqsdaemon (pid %d) still runs"
                           % (" ".join(argv), pid), argv=argv, rc=rc, stdout=out, stderr=err)


def purge_db(db_path, remove_directory):
    """Delete the site DB at ``db_path`` (§2.6.1 step 3): its contents, and the directory
    itself unless it is a mount point. The identity goes first, so an interrupted purge
    never leaves something that looks like a complete site."""
    spool = os.path.join(db_path, "nqs")
    try:
        os.unlink(os.path.join(spool, "siteinfo"))
    except FileNotFoundError:
        pass
    for entry in sorted(os.listdir(db_path)):
        path = os.path.join(db_path, entry)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    if remove_directory:
        os.rmdir(db_path)
        fsync_dir(os.path.dirname(db_path))
    else:
        fsync_dir(db_path)


def site_facts(layout, request):
    """What ``cjc_site`` returns: the site's identity, its link and its cjcls row."""
    site = _site_of(layout, request)
    status = site_status.read_status(site)
    daemon_pid, cjcpw_pid = site_status.daemon_pid(status), site_status.owner_pid(status)
    record, owner = status["owner"], site_status.live_owner(status)
    daemons = site_status.serving_daemons(status)  # every live process of the site here, by role
    if owner:
        daemons["owner"] = owner["pid"]
    if status["cjcpw"]:
        daemons["cjcpw"] = status["cjcpw"]
    if site.is_local:
        row = None
    else:
        row = format_table([site]).splitlines()[3:5]
    try:
        maintenance = maintenance_on(layout)
    except SiteError:
        maintenance = False
    return {
        "name": site.name if (site.is_local or site.available) else request.name,
        "machine_id": site.machine_id,
        "db_path": site.db_path,
        "link": site.link if site.link and os.path.islink(site.link) else None,
        "address": site.address,
        "local": site.is_local,
        "available": site.available,
        "daemon_pid": daemon_pid,
        "daemon": str(daemon_pid) if daemon_pid else "SHUT",
        "cjcpw": "ON" if cjcpw_pid else "OFF",
        "cjcpw_pid": cjcpw_pid,
        "owner": {"host": record.get("host"), "pid": record.get("pid")} if record else None,
        "daemons": daemons,
        "maintenance": maintenance,
        "cjcls": row,
    }
