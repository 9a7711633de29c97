#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cjc.cluster maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cjc_daemon_conf
short_description: Manage keys of a cjc site's daemon.conf or site.conf
version_added: 0.1.0
description:
  - Sets or removes C(key=value) lines in one of the documented configuration files of the cjc engine.
  - I(scope=common) is the node file C(/usr/lib/nqs/rc/daemon.conf) (C(local_daemon=SITE|OFF), C(maintenance=ON|OFF)).
  - I(scope=local) is the local site's C(/usr/lib/nqs/daemon.conf); I(scope=cluster) with I(db_path) is a cluster
    site's C(<db_path>/nqs/daemon.conf) (C(ipaddress), C(nqs_port), C(comagent_port)).
  - I(scope=site_conf) is the start/stop timing file C(site.conf) (C(BOOT_TIMEOUT), C(STOP_TIMEOUT),
    C(FORCEKILL_TIME)) of the local site, or of the cluster site at I(db_path) (C(<db_path>/etc/site.conf)).
  - Every value is checked with the engine's own rules before anything is written; comments, blank lines,
    the order of lines and keys the engine does not know are kept as they are; only the lines of the named
    keys change. The file is replaced atomically.
  - Warns when the resulting C(FORCEKILL_TIME) is greater than or equal to C(STOP_TIMEOUT) (every stop would be
    forced from the start).
author:
  - cjc.cluster maintainers (@cjc-cluster)
extends_documentation_fragment:
  - cjc.cluster._attributes
  - cjc.cluster._root
attributes:
  diff_mode:
    details: The diff is the whole file text before and after.
options:
  scope:
    description:
      - Which file to edit (see the description).
    type: str
    required: true
    choices: [common, local, cluster, site_conf]
  db_path:
    description:
      - Site database path of a cluster site (on the shared disk, not under I(root)).
      - Required with I(scope=cluster); with I(scope=site_conf) it selects the cluster site's C(site.conf).
      - The site database must be readable on this node.
    type: path
  settings:
    description:
      - The keys to manage and their values.
      - With I(state=present) each key is set to its value; a key whose value is V(null) is removed.
      - With I(state=absent) every key named is removed and the values are ignored.
      - YAML reads unquoted V(ON)/V(OFF) as booleans; V(true) is written as C(ON) and V(false) as C(OFF).
    type: dict
    required: true
  state:
    description:
      - Whether the keys of I(settings) must be present (with their values) or absent.
    type: str
    choices: [present, absent]
    default: present
  assume:
    description:
      - Check mode only (a real run ignores it and checks the node as it is). Plan as if the earlier tasks of
        the same run had made these, for a check run before the first build (docs/check-mode.md).
      - V(engine) the engine installed (a node file is planned as a new file);
        V(site_db) the site database at I(db_path) made by C(cjcmksite) (its files are planned as
        C(cjcmksite) writes them - C(daemon.conf) with C(ipaddress=)I(site_address), no C(site.conf)).
      - Each check made on an assumption is returned in RV(pending).
    type: list
    elements: str
    choices: [engine, site_db]
    default: []
  site_address:
    description:
      - With I(assume=[site_db]) and I(scope=cluster), the address of the site whose database is still to be made.
    type: str
notes:
  - The engine must be installed on the node (role M(cjc.cluster.engine)); for I(scope=cluster) the site
    database must exist (module M(cjc.cluster.cjc_site)).
seealso:
  - module: cjc.cluster.cjc_site
"""

EXAMPLES = r"""
- name: Let the local site run beside cluster sites (step 6 of the build order)
  cjc.cluster.cjc_daemon_conf:
    scope: common
    settings:
      local_daemon: SITE

- name: Listen on the relocatable address in the cluster site
  cjc.cluster.cjc_daemon_conf:
    scope: cluster
    db_path: /mnt/jobdb
    settings:
      ipaddress: 192.168.1.100

- name: Give the cluster site longer to stop
  cjc.cluster.cjc_daemon_conf:
    scope: site_conf
    db_path: /mnt/jobdb
    settings:
      STOP_TIMEOUT: 300
      FORCEKILL_TIME: 30

- name: Leave maintenance mode
  cjc.cluster.cjc_daemon_conf:
    scope: common
    settings:
      maintenance: null
"""

RETURN = r"""
path:
  description: The file that was (or would be) edited.
  returned: success
  type: str
  sample: /usr/lib/nqs/rc/daemon.conf
changes:
  description: One entry per key whose line changed; V(null) means no line.
  returned: success
  type: list
  elements: dict
  contains:
    key:
      description: The key.
      type: str
    before:
      description: Its value before.
      type: str
    after:
      description: Its value after.
      type: str
  sample: [{"key": "local_daemon", "before": null, "after": "SITE"}]
records:
  description: One typed record per planned change (the same shape from every cjc module; the role's drift report reads it).
  returned: success
  type: list
  elements: dict
  contains:
    kind:
      description: The sort of change, V(conf_key) (a key of a file).
      type: str
    item:
      description: "The file and key, as C(<path>: <key>)."
      type: str
    before:
      description: Its value before; V(null) when it does not exist.
      type: raw
    after:
      description: Its value after (predicted in check mode); V(null) when it will not exist.
      type: raw
  sample: [{"kind": "conf_key", "item": "/usr/lib/nqs/rc/daemon.conf: local_daemon", "before": null, "after": "SITE"}]
pending:
  description: What this check-mode plan assumed (option I(assume)) and only a real run proves; empty otherwise.
  returned: success
  type: list
  elements: str
  sample: ["the site DB /mnt/jobdb is made by this run (cjcmksite) before this file is edited"]
settings:
  description: Every key=value pair of the file after the run (unknown keys included).
  returned: success
  type: dict
  sample: {"local_daemon": "SITE", "maintenance": "OFF"}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.cjc.cluster.plugins.module_utils._cjc_module import CjcError, fail_from, layout_of
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.plan import changes, daemon_conf as conffiles, pending


def argument_spec():
    return dict(
        scope=dict(type="str", required=True, choices=list(conffiles.SCOPES)),
        db_path=dict(type="path"),
        settings=dict(type="dict", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        assume=dict(type="list", elements="str", choices=[pending.ENGINE, pending.SITE_DB], default=[]),
        site_address=dict(type="str"),
        root=dict(type="path", default="/"),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           required_if=[("scope", "cluster", ("db_path",))])
    params = module.params
    layout = layout_of(module)
    try:
        plan = conffiles.plan_conf(layout, params["scope"], params["settings"], params["state"], params["db_path"],
                                   pending.Assumed(params["assume"] if module.check_mode else ()),
                                   params["site_address"])
        if plan.changed and not module.check_mode:
            conffiles.apply_conf(plan)
    except CjcError as err:
        fail_from(module, err)
    for warning in plan.warnings:
        module.warn(warning)
    module.exit_json(changed=plan.changed, path=plan.path, changes=plan.changes, settings=plan.settings,
                     pending=list(plan.pending),
                     records=changes.conf_changes(plan.path, plan.changes),
                     diff=dict(before=plan.before, after=plan.after,
                               before_header=plan.path, after_header=plan.path))


if __name__ == "__main__":
    main()
