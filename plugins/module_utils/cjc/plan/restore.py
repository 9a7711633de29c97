"""Restore a site backup (plan/backup.py) into a fresh DB path, as ``cjcmksite`` would make it.

The backup is checked first: its manifest, the SHA-256 of every file, the database's census
against the manifest's, a schema this engine reads. Then every check of ``cjcmksite`` runs
(plan/mksite.py ``plan_mksite``: the name resolves to exactly the backed-up address and
back, that address is configured here, the DB path is fresh and on a writable disk, the
address's link is free, the machine ID unused here, the local site stopped), and the site is
built by the same all-or-nothing build, with the backed-up database, ``daemon.conf`` and
``site.conf`` in place of new ones. Nothing is written before every check has passed.
"""

import collections
import json
import os

from ..config.fileio import write_atomic
from ..errors import SiteError
from ..jobs import store
from ..site.registry import SITEINFO, read_siteinfo
from .backup import DATABASE, FORMAT, MANIFEST, file_sha256
from .mksite import make_site, plan_mksite

RestorePlan = collections.namedtuple("RestorePlan", "backup manifest mksite")


def read_backup(backup):
    """The manifest of the backup directory ``backup`` once every file is checked; else SiteError."""
    path = os.path.join(backup, MANIFEST)
    try:
        with open(path, encoding="utf-8") as handle:
            manifest = json.load(handle)
    except FileNotFoundError:
        raise SiteError("%s is not a site backup (no %s)" % (backup, MANIFEST)) from None
    except (OSError, ValueError) as err:
        raise SiteError("the manifest of backup %s cannot be read: %s" % (backup, err)) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise SiteError("backup %s has a manifest of another format (%r, this engine reads %d)"
                        % (backup, manifest.get("format") if isinstance(manifest, dict) else None, FORMAT))
    files = manifest.get("files") or {}
    for name in (DATABASE, SITEINFO):
        if name not in files:
            raise SiteError("backup %s lists no %s: it is incomplete" % (backup, name))
    for name, digest in sorted(files.items()):
        if os.path.basename(name) != name or name.startswith("."):
            raise SiteError("backup %s names a file outside it: %r" % (backup, name))
        member = os.path.join(backup, name)
        if not os.path.isfile(member):
            raise SiteError("backup %s is incomplete: %s is missing" % (backup, name))
        if file_sha256(member) != digest:
            raise SiteError("backup %s is damaged: %s does not have the SHA-256 its manifest records" % (backup, name))
    if manifest.get("schema_version", 0) > store.SCHEMA_VERSION:
        raise SiteError("backup %s holds schema version %d, newer than this engine knows (%d): restore it with the "
                        "engine that wrote it" % (backup, manifest["schema_version"], store.SCHEMA_VERSION))
    if store.census(os.path.join(backup, DATABASE)) != manifest.get("census"):
        raise SiteError("backup %s is damaged: its database does not hold what its manifest records" % backup)
    return manifest


def restored_already(manifest, db_path):
    """Whether ``db_path`` holds the site of ``manifest`` (same name and machine ID): a second
    restore changes nothing. Any other site there is cjcmksite's refusal (plan_restore)."""
    info = read_siteinfo(os.path.join(db_path, "nqs")) or {}
    return (info.get("name"), info.get("machine_id")) == (manifest["site"], manifest["machine_id"])


def plan_restore(layout, backup, db_path, mount_point=None):
    """Read only: check the backup and every cjcmksite check for its site at ``db_path``."""
    manifest = read_backup(backup)
    info = read_siteinfo(backup) or {}
    if (info.get("name"), info.get("machine_id")) != (manifest["site"], manifest["machine_id"]):
        raise SiteError("backup %s: its siteinfo names %s (machine ID %s), its manifest %s (%s)"
                        % (backup, info.get("name"), info.get("machine_id"), manifest["site"], manifest["machine_id"]))
    mksite = plan_mksite(layout, manifest["site"], manifest["machine_id"], db_path, mount_point)
    if manifest.get("address") and mksite.address != manifest["address"]:
        raise SiteError("site %s resolves to %s on this node but was backed up with address %s: its daemon.conf "
                        "would listen on the wrong address; fix DNS or /etc/hosts first"
                        % (manifest["site"], mksite.address, manifest["address"]))
    return RestorePlan(backup, manifest, mksite)


def _restore_phase(plan):
    """The build phase that puts the backed-up database and configuration files in the new spool."""
    def restore(spool, mksite):
        target = store.db_path(spool)
        store.copy_database(os.path.join(plan.backup, DATABASE), target)
        store.open_store(spool).close()  # WAL on, an older schema brought up to this engine's
        for name in ("daemon.conf", "site.conf"):
            source = os.path.join(plan.backup, name)
            if name in plan.manifest["files"]:
                with open(source, "rb") as handle:
                    data = handle.read()
                where = os.path.join(spool, name) if name == "daemon.conf" else os.path.join(mksite.db_path, "etc", name)
                write_atomic(where, data, 0o644)
        restored = store.census(target)
        wanted = plan.manifest["census"]
        if (restored["job_ids"], restored["queues"]) != (wanted["job_ids"], wanted["queues"]):
            raise SiteError("the restored database of %s does not hold the backed-up requests and queues"
                            % plan.manifest["site"])
    return restore


def restore_site(layout, plan, report=print):
    """Build the site of ``plan`` (from :func:`plan_restore`); all or nothing, like cjcmksite."""
    make_site(layout, plan.mksite, report,
              [("Restore the site database and configuration from %s." % plan.backup, _restore_phase(plan))])
