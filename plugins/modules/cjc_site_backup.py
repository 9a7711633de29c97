#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cjc.cluster maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cjc_site_backup
short_description: Back up a running cjc cluster site, or restore one from a backup at a fresh DB path
version_added: 0.2.0
description:
  - I(state=backup) writes an online, consistent backup of the cluster site I(site) into a new directory
    C(<dest>/<site>-<UTC time>/) - the site database copied with SQLite's online backup API while the site runs, its
    C(siteinfo), C(daemon.conf) and C(site.conf), and a C(manifest.json) with the SHA-256 of every file and what the
    database holds. It is written beside its place and renamed into it, so a backup directory is always complete.
  - I(state=restored) makes the site of the backup I(backup) at the fresh DB path I(db_path), with every check of
    C(cjcmksite) (guide §2.3(6)) and its all-or-nothing build, the backed-up database and configuration files in place
    of new ones; the backup is verified first (manifest, hashes, contents).
  - Engine logic in C(plan/backup.py) and C(plan/restore.py); the commands C(cjcbackup) and C(cjcrestore) do the same
    on a node. docs/backup.md.
author:
  - cjc.cluster maintainers (@cjc-cluster)
extends_documentation_fragment:
  - cjc.cluster._attributes
  - cjc.cluster._root
attributes:
  check_mode:
    details: >-
      A backup in check mode reads the live database (its census) and writes nothing; a restore runs every check of the
      backup and of cjcmksite and writes nothing.
  diff_mode:
    details: >-
      Before is nothing (no backup, no site at I(db_path)); after is what the backup holds (requests by state, queues,
      definition rows) and its path.
  idempotent:
    support: partial
    details: >-
      I(state=backup) makes a new backup at every run (that is its purpose); I(state=restored) changes nothing when
      I(db_path) already holds the backed-up site.
options:
  site:
    description:
      - The cluster site's name; it must be registered on the node. With I(state=restored), the backup's site must be it.
    type: str
    required: true
  state:
    description:
      - V(backup) makes a backup; V(restored) makes the site from I(backup) at I(db_path).
    type: str
    choices: [backup, restored]
    default: backup
  dest:
    description:
      - Directory that receives the backup directories (made 0700 when missing). Not inside the site's DB path.
      - Required with I(state=backup).
    type: path
  only_where_running:
    description:
      - >-
        With V(true), a node where the site does not run makes no backup (changed false, RV(skipped_reason)): run the
        task on every node and exactly the node running the site backs it up.
      - With V(false), the node backs up the site whenever its database is readable here (a stopped site).
    type: bool
    default: true
  backup:
    description:
      - A backup directory written by this module or C(cjcbackup). Required with I(state=restored).
    type: path
  db_path:
    description:
      - The fresh site DB path to restore into (on the shared disk, never prefixed by I(root)). Required with
        I(state=restored).
    type: path
  mount_point:
    description:
      - When set, the restore is refused unless this is a mounted file system holding I(db_path).
    type: path
notes:
  - Job output files and the run records are not part of a backup (docs/backup.md).
  - Keep backups off the site's shared disk - the module refuses I(dest) inside I(db_path) of the site.
seealso:
  - module: cjc.cluster.cjc_site
"""

EXAMPLES = r"""
- name: Back up the site on the node that runs it
  cjc.cluster.cjc_site_backup:
    site: jobsite.example.com
    dest: /var/backups/cjc

- name: Restore it at a fresh DB path on the node that holds the site address
  cjc.cluster.cjc_site_backup:
    site: jobsite.example.com
    state: restored
    backup: /var/backups/cjc/jobsite.example.com-20261202T103000Z
    db_path: /mnt/jobdb2
"""

RETURN = r"""
backup:
  description: The backup directory written (predicted in check mode, where its time is that of the check), or read.
  returned: unless skipped
  type: str
  sample: /var/backups/cjc/jobsite.example.com-20261202T103000Z
summary:
  description: What the backup holds - requests, requests_by_state, queues, definitions (rows of managers, machines, user_map).
  returned: unless skipped
  type: dict
  sample: {"requests": 6, "requests_by_state": {"EXITED": 1, "QUEUED": 3, "RUNNING": 2}, "queues": ["guibs_1", "guilb_def"],
           "definitions": {"managers": 0, "machines": 1, "user_map": 1}}
db_path:
  description: The restored site's DB path.
  returned: with state=restored
  type: str
skipped_reason:
  description: Why this node made no backup (the site does not run here).
  returned: when nothing was done for that reason
  type: str
records:
  description: The planned changes as typed records (kind V(site_backup) or V(site_db)).
  returned: always
  type: list
  elements: dict
  sample: [{"kind": "site_backup", "item": "/var/backups/cjc/jobsite.example.com-20261202T103000Z", "before": null,
            "after": {"requests": 6}}]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.cjc.cluster.plugins.module_utils._cjc_module import CjcError, fail_from, layout_of
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.plan import backup as backups, changes, restore


def argument_spec():
    return dict(
        site=dict(type="str", required=True),
        state=dict(type="str", choices=["backup", "restored"], default="backup"),
        dest=dict(type="path"),
        only_where_running=dict(type="bool", default=True),
        backup=dict(type="path"),
        db_path=dict(type="path"),
        mount_point=dict(type="path"),
        root=dict(type="path", default="/"),
    )


def _backup(module, layout):
    params = module.params
    plan = backups.plan_backup(layout, params["site"], params["dest"], params["only_where_running"])
    if plan.skip:
        module.exit_json(changed=False, skipped_reason=plan.skip, records=[])
    path = "%s/%s" % (plan.dest.rstrip("/"), plan.name)
    summary = backups.backup_summary(plan.census)
    if not module.check_mode:
        path, manifest = backups.make_backup(plan)
        summary = backups.backup_summary(manifest["census"])
    after = dict(summary, backup=path)
    module.exit_json(changed=True, backup=path, summary=summary,
                     records=[changes.change("site_backup", path, None, summary)],
                     diff=dict(before={}, after=after, before_header=path, after_header=path))


def _restore(module, layout):
    params = module.params
    manifest = restore.read_backup(params["backup"])
    if manifest["site"] != params["site"]:
        module.fail_json(msg="backup %s is of site %s, not %s" % (params["backup"], manifest["site"], params["site"]))
    summary = backups.backup_summary(manifest["census"])
    result = dict(backup=params["backup"], summary=summary, db_path=params["db_path"])
    if restore.restored_already(manifest, params["db_path"]):
        module.exit_json(changed=False, records=[], **result)
    plan = restore.plan_restore(layout, params["backup"], params["db_path"], params["mount_point"])
    if not module.check_mode:
        restore.restore_site(layout, plan, report=lambda line: None)
    after = dict(summary, site=manifest["site"], machine_id=manifest["machine_id"])
    module.exit_json(changed=True, records=[changes.change("site_db", params["db_path"], None, after)],
                     diff=dict(before={}, after=after, before_header=params["db_path"], after_header=params["db_path"]),
                     **result)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           required_if=[("state", "backup", ("dest",)), ("state", "restored", ("backup", "db_path"))])
    layout = layout_of(module)
    try:
        (_backup if module.params["state"] == "backup" else _restore)(module, layout)
    except CjcError as err:
        fail_from(module, err)


if __name__ == "__main__":
    main()
