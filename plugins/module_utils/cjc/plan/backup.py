"""An online, consistent backup of a cluster site: its database and its configuration files.

A backup is one directory ``<dest>/<site>-<UTC time>/`` holding

* ``nqs.db``: the site database, copied with SQLite's online backup API while the site runs
  (jobs/store.py ``copy_database``: one read transaction, the database as committed at one
  instant; the daemons are not stopped or slowed);
* ``siteinfo`` (name, machine ID, address), ``daemon.conf`` and, when the site has one,
  ``site.conf``: the files that make the site what it is, as the site's spool holds them;
* ``manifest.json``: what was backed up (site, machine ID, address, DB path, schema version,
  node, time), the SHA-256 of every file, and the database's census (rows per table, jobs
  by state, queue names, request IDs), which a restore checks (plan/restore.py).

It is written in a hidden ``.<name>.partial-<pid>`` beside it and renamed into place once
every file is on the disk, so a directory with the backup's name is always complete.
Job output files and the run records are not part of it (docs/backup.md).
"""

import collections
import datetime
import hashlib
import json
import os
import shutil
import socket

from ..config.fileio import fsync_dir, write_atomic
from ..errors import SiteError
from ..jobs import store
from ..site import status as site_status
from ..site.registry import SITEINFO, Registry

MANIFEST = "manifest.json"
DATABASE = "nqs.db"
FORMAT = 1

BackupPlan = collections.namedtuple("BackupPlan", "site dest name files census runs_here skip")


def site_files(site):
    """{name in a backup: path on this node} of the site's files that exist (the database first)."""
    files = {DATABASE: store.db_path(site.spool), SITEINFO: os.path.join(site.spool, SITEINFO),
             "daemon.conf": site.daemon_conf, "site.conf": site.site_conf}
    return {name: path for name, path in files.items() if name in (DATABASE, SITEINFO) or os.path.isfile(path)}


def backup_name(site, now):
    """``<site>-<YYYYmmddTHHMMSSZ>``: sorts by time, names the site."""
    return "%s-%s" % (site.name, now.strftime("%Y%m%dT%H%M%SZ"))


def plan_backup(layout, name, dest, only_where_running=False, now=None):
    """Read only: what a backup of cluster site ``name`` into ``dest`` writes.

    With ``only_where_running`` a node where the site does not run plans nothing (``skip``
    says why): run on every node, exactly the one running the site backs it up. Otherwise
    SiteError when the site is not registered here or its database is not readable here.
    """
    registry = Registry(layout)
    site = registry.find(name) if only_where_running else registry.require(name)
    status = site_status.read_status(site) if site is not None and site.available else None
    runs_here = status is not None and (site_status.daemon_pid(status) or site_status.owner_pid(status)) is not None
    if only_where_running and not runs_here:
        return BackupPlan(site, dest, None, {}, None, False, "site %s does not run on this node" % name)
    if not site.available or not os.path.isfile(store.db_path(site.spool)):
        raise SiteError("the database of site %s is not readable on this node (%s): back it up on the node "
                        "that has the shared disk" % (site.name, site.db_path))
    if not os.path.isabs(dest):
        raise SiteError("backup directory %r is not an absolute path" % (dest,))
    if os.path.commonpath([os.path.realpath(dest), os.path.realpath(site.db_path)]) == os.path.realpath(site.db_path):
        raise SiteError("backup directory %s is inside the site DB %s: a backup must survive the loss of that disk"
                        % (dest, site.db_path))
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return BackupPlan(site, dest, backup_name(site, now), site_files(site), store.census(store.db_path(site.spool)),
                      runs_here, None)


def backup_summary(census):
    """What a backup holds, for a person and a diff: requests by state, queues, rows of the definitions."""
    return {"requests": len(census["job_ids"]), "requests_by_state": census["jobs_by_state"],
            "queues": census["queues"],
            "definitions": {table: census["tables"].get(table, 0) for table in ("managers", "machines", "user_map")}}


def file_sha256(path):
    """Hex SHA-256 of a file's content (the manifest's check of each file)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_of(plan, census, schema_version, hashes):
    return {"format": FORMAT, "site": plan.site.name, "machine_id": plan.site.machine_id,
            "address": plan.site.address, "db_path": plan.site.db_path, "schema_version": schema_version,
            "node": socket.gethostname(), "made": plan.name.rsplit("-", 1)[1], "site_was_running": plan.runs_here,
            "files": hashes, "census": census}


def make_backup(plan):
    """Write the backup of ``plan``; returns ``(path, manifest)``. All or nothing."""
    target = os.path.join(plan.dest, plan.name)
    if os.path.lexists(target):
        raise SiteError("backup %s already exists: one backup per site and second" % target)
    os.makedirs(plan.dest, mode=0o700, exist_ok=True)
    work = os.path.join(plan.dest, ".%s.partial-%d" % (plan.name, os.getpid()))
    os.mkdir(work, 0o700)  # the database holds every user's scripts: root only
    try:
        version = store.copy_database(plan.files[DATABASE], os.path.join(work, DATABASE))
        for name, path in plan.files.items():
            if name != DATABASE:
                shutil.copyfile(path, os.path.join(work, name))
                os.chmod(os.path.join(work, name), 0o600)
        hashes = {name: file_sha256(os.path.join(work, name)) for name in sorted(plan.files)}
        manifest = manifest_of(plan, store.census(os.path.join(work, DATABASE)), version, hashes)
        write_atomic(os.path.join(work, MANIFEST), json.dumps(manifest, indent=1, sort_keys=True) + "\n", 0o600)
        os.rename(work, target)
        fsync_dir(plan.dest)
    except OSError as err:  # a full or failing backup disk
        shutil.rmtree(work, ignore_errors=True)
        raise SiteError("could not write the backup %s: %s; nothing was left behind" % (target, err))
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return target, manifest
