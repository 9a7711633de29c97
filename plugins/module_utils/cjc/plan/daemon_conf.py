"""Planned edits of the documented configuration files (``cjc_daemon_conf``).

Which file (guide §2.1.5, §2.3(5), docs/engine.md):

==============  ==============================  =====================================
scope           without ``db_path``             with ``db_path`` (a cluster site)
==============  ==============================  =====================================
``common``      ``/usr/lib/nqs/rc/daemon.conf``  (``db_path`` not allowed)
``local``       ``/usr/lib/nqs/daemon.conf``     (``db_path`` not allowed)
``cluster``     (``db_path`` required)           ``<db>/nqs/daemon.conf``
``site_conf``   ``/usr/lib/nqs/etc/site.conf``   ``<db>/etc/site.conf``
==============  ==============================  =====================================

:func:`plan_conf` only reads: it validates every value with the engine's own checks
(``daemonconf.check_value`` / ``siteconf.check_value``), edits the line records in
memory (comments, order and unknown keys stay as they are) and returns the text
before and after. :func:`apply_conf` writes that text atomically, and only when it
differs. Check mode and a real run therefore share one computation.
"""

import collections
import os

from ..config import daemonconf, siteconf
from ..errors import ConfigError, SiteError
from ..config.fileio import write_atomic
from ..config.keyvalue import KeyValueFile
from ..site.registry import check_db_path_syntax
from .mksite import site_daemon_conf
from .pending import ENGINE, SITE_DB, Assumed

COMMON, LOCAL, CLUSTER, SITE_CONF = "common", "local", "cluster", "site_conf"
SCOPES = (COMMON, LOCAL, CLUSTER, SITE_CONF)

ConfPlan = collections.namedtuple(
    "ConfPlan", "path scope changed before after existed changes settings warnings pending")
ConfPlan.__doc__ = """What :func:`plan_conf` found and will do.

``before``/``after`` are the whole file texts (``before`` is ``''`` for a missing
file); ``changes`` is a list of ``{key, before, after}`` (``None`` = no line);
``settings`` the file's key=value pairs after the edit; ``warnings`` are texts;
``pending`` the checks made on an assumption (plan/pending.py).
"""


def conf_path(layout, scope, db_path=None, assumed=None):
    """The real path of the file chosen by ``scope`` (and ``db_path``), or ConfigError/SiteError.

    A cluster site's file requires the site database to be readable here
    (``<db>/nqs`` exists): editing a file on a disk that is not mounted would
    create a stray directory tree instead. ``assumed`` (check mode, plan/pending.py):
    the engine or the site DB this run makes first counts as there.
    """
    assumed = assumed or Assumed()
    if scope not in SCOPES:
        raise ConfigError("scope %r is not known; use one of %s" % (scope, ", ".join(SCOPES)))
    if scope in (COMMON, LOCAL) and db_path:
        raise ConfigError("scope %s is a node file; db_path is only for scope cluster or site_conf" % scope)
    if scope == CLUSTER and not db_path:
        raise ConfigError("scope cluster needs db_path: the site database path of the cluster site")
    if db_path:
        db_path = check_db_path_syntax(db_path)
        if not os.path.isdir(os.path.join(db_path, "nqs")) and not assumed.covers(
                SITE_DB, "the site DB %s is made by this run (cjcmksite) before this file is edited" % db_path):
            raise SiteError("no site database at %s (%s/nqs is missing): mount the shared disk on this "
                            "node, or make the site first (cjc_site state=present)" % (db_path, db_path))
        if scope == CLUSTER:
            return os.path.join(db_path, "nqs", "daemon.conf")
        return os.path.join(db_path, "etc", "site.conf")
    if scope == COMMON:
        path = layout.common_daemon_conf
    elif scope == LOCAL:
        path = layout.local_daemon_conf
    else:
        path = layout.local_site_conf
    if not os.path.isdir(os.path.dirname(path)) and not assumed.covers(
            ENGINE, "the engine is installed by this run (%s is made then)" % os.path.dirname(path)):
        raise SiteError("%s does not exist: the engine is not installed under %s; install it first "
                        "(role cjc.cluster.engine)" % (os.path.dirname(path), layout.root))
    return path


def check_setting(scope, key, value):
    """The normalised text of ``value`` for ``key`` in the file of ``scope``, or ConfigError."""
    if scope == SITE_CONF:
        return siteconf.check_value(key, value)
    return daemonconf.check_value(daemonconf.COMMON if scope == COMMON else daemonconf.SITE, key, value)


def check_key(scope, key):
    """Raise ConfigError unless ``key`` is a key the file of ``scope`` knows."""
    if scope == SITE_CONF:
        known = siteconf.LIMITS
    else:
        known = daemonconf.KEYS[daemonconf.COMMON if scope == COMMON else daemonconf.SITE]
    if key not in known:
        raise ConfigError("%s has no key %r; known keys: %s"
                          % ("site.conf" if scope == SITE_CONF else "%s daemon.conf" % scope,
                             key, ", ".join(sorted(known))))


def _timings(values):
    found = {}
    for key in siteconf.LIMITS:
        found[key] = siteconf.effective_value(key, values.get(key))[0]
    return siteconf.SiteTimings(found["BOOT_TIMEOUT"], found["STOP_TIMEOUT"], found["FORCEKILL_TIME"])


def plan_conf(layout, scope, settings, state="present", db_path=None, assumed=None, site_address=None):
    """Plan setting (``state='present'``) or removing (``'absent'``) the keys of ``settings``.

    With ``present`` a key whose value is ``None`` is removed, so one call can set
    some keys and drop others. Every value is checked before anything is planned;
    ConfigError names the key, the value and the allowed values. Reads only.
    With the site DB assumed (check mode before cjcmksite ran), a cluster file is planned
    against what cjcmksite writes into it: its ``daemon.conf`` names ``site_address``.
    """
    if state not in ("present", "absent"):
        raise ConfigError("state %r is not known; use present or absent" % (state,))
    assumed = assumed or Assumed()
    path = conf_path(layout, scope, db_path, assumed)
    conf = KeyValueFile.load(path)
    if db_path and not conf.exists and SITE_DB in assumed.used:
        if scope == CLUSTER and not site_address:
            raise ConfigError("planning %s of a site DB still to be made needs the site's address" % path)
        conf = KeyValueFile(path, site_daemon_conf(site_address) if scope == CLUSTER else None)
    old_values = conf.values()
    wanted = collections.OrderedDict()
    for key in sorted(settings):
        value = settings[key]
        if state == "absent" or value is None:
            check_key(scope, key)
            wanted[key] = None
        else:
            if isinstance(value, bool):  # YAML 1.1 reads ON/OFF as booleans
                value = "ON" if value else "OFF"
            wanted[key] = check_setting(scope, key, value)
    changes = []
    for key, value in wanted.items():
        edited = conf.remove(key) if value is None else conf.set(key, value)
        if edited:
            changes.append({"key": key, "before": old_values.get(key), "after": value})
    warnings = []
    new_values = conf.values()
    if scope == SITE_CONF:
        warning = siteconf.timing_warning(_timings(new_values))
        if warning:
            warnings.append("%s: %s" % (path, warning))
    return ConfPlan(path=path, scope=scope, changed=conf.changed(), before=conf.original,
                    after=conf.text(), existed=conf.exists, changes=changes,
                    settings=dict(new_values), warnings=warnings, pending=assumed.pending)


def apply_conf(plan):
    """Write ``plan.after`` to ``plan.path`` atomically when the plan changes anything."""
    if plan.changed:
        write_atomic(plan.path, plan.after, 0o644)
