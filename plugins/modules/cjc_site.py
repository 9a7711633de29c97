#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cjc.cluster maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cjc_site
short_description: Make, register, start, stop or remove a cjc cluster site (or the local site) on a node
version_added: 0.1.0
description:
  - Manages one site of the cjc engine on the node it runs on, through the engine's own code (never by
    running C(cjcmksite) and reading its output).
  - I(state=present) on the active node (the site's relocatable address is configured there and the shared
    disk is mounted) makes the site database with every check of C(cjcmksite) (canonical name, address on
    this node, disk mounted and writable, local site stopped, machine ID free) and registers the link
    C(/usr/spool/nqs/<address in hex>) to it.
  - I(state=present) on a node where the site database is readable already (or a standby node that does not
    have the disk and the address) registers the link only. An existing database must belong to I(name)
    (and I(machine_id) when given).
  - I(state=absent) removes this node's links to the database (guide 2.6.1 step 2); with I(purge_db=true) the
    database is deleted too (step 3). Refused while the site runs on this node.
  - I(state=started) runs C(/usr/lib/nqs/cluster/cjcpw -c <name> <db_path>), I(state=stopped) runs
    C(cjcpw -stop <name>), when the site's daemons are not (or are) running on this node. While
    C(maintenance=ON) is set in C(rc/daemon.conf) they run C(nqsstart <name>) / C(nqsstop <name>) instead, so
    a supervising C(cjcpw), and with it the cluster product, is not disturbed. The site must be present.
  - I(state=maintenance) sets C(maintenance=ON) in the node's common C(/usr/lib/nqs/rc/daemon.conf) and makes
    sure the site is present; it starts and stops nothing. From the next C(cjcpw) start on this node, C(cjcpw)
    runs alone without daemons, for every cluster site of the node (it is a node setting); the daemons are
    then started and stopped with I(state=started)/I(state=stopped). Leave maintenance with
    M(cjc.cluster.cjc_daemon_conf) (C(maintenance=OFF)).
  - With I(local=true) the module acts on the local site (always present once the engine is installed);
    I(state=started)/I(state=stopped) run C(/usr/lib/nqs/nqsstart) / C(nqsstop), e.g. to stop the local site
    before making a cluster site. I(state=absent) and I(state=maintenance) are refused for the local site.
  - Returns the site's facts, including its C(cjcls) row.
author:
  - cjc.cluster maintainers (@cjc-cluster)
extends_documentation_fragment:
  - cjc.cluster._attributes
  - cjc.cluster._root
attributes:
  diff_mode:
    details: The diff shows link, database, daemons, cjcpw and maintenance before and after.
options:
  name:
    description:
      - Site name, the canonical (full domain) name of the site's relocatable IP address.
      - Required unless I(local=true).
    type: str
  machine_id:
    description:
      - Machine ID of the site, unique among the sites that cooperate.
      - Required to make a new site database; when the database exists it must match.
    type: int
  db_path:
    description:
      - Site database path on the shared disk, as this node sees it (never under I(root)).
      - Required unless I(local=true).
    type: path
  state:
    description:
      - The wanted state of the site on this node (see the description).
    type: str
    choices: [present, absent, started, stopped, maintenance]
    default: present
  purge_db:
    description:
      - With I(state=absent), delete the site database as well (its contents; the directory too unless it
        is a mount point). Only a database whose identity names I(name) is deleted.
    type: bool
    default: false
  local:
    description:
      - Act on the local site of the node instead of a cluster site.
    type: bool
    default: false
  mount_point:
    description:
      - When making the database, refuse unless this directory is a mounted file system holding I(db_path).
    type: path
  assume:
    description:
      - Check mode only (a real run ignores it and checks the node as it is). Plan as if the earlier tasks of
        the same run had made these, for a check run before the first build (docs/check-mode.md).
      - V(engine) the engine installed (its directories, the local site, not running);
        V(address) the site address moved to this node (the database would be made here).
      - Each check made on an assumption is returned in RV(pending).
    type: list
    elements: str
    choices: [engine, address]
    default: []
notes:
  - The engine must be installed on the node (role M(cjc.cluster.engine)).
  - I(state=started)/I(state=stopped) need the engine's C(cjcpw), C(nqsstart) and C(nqsstop) commands.
seealso:
  - module: cjc.cluster.cjc_daemon_conf
  - module: cjc.cluster.cjc_cluster_service
"""

EXAMPLES = r"""
- name: Stop the local site before making the cluster site (step 5)
  cjc.cluster.cjc_site:
    local: true
    state: stopped

- name: Make the site DB on the active node, register it on the standby (step 7)
  cjc.cluster.cjc_site:
    name: jobsite.example.com
    machine_id: 200
    db_path: /mnt/jobdb
    mount_point: /mnt
  register: site

- name: Start check (step 8)
  cjc.cluster.cjc_site:
    name: jobsite.example.com
    db_path: /mnt/jobdb
    state: started

- name: Remove the site and its DB for a re-creation (guide 2.6.1)
  cjc.cluster.cjc_site:
    name: jobsite.example.com
    db_path: /mnt/jobdb
    state: absent
    purge_db: true
"""

RETURN = r"""
pending:
  description: What this check-mode plan assumed (option I(assume)) and only a real run proves; empty otherwise.
  returned: success
  type: list
  elements: str
  sample: ["the engine is installed by this run (/usr/spool/nqs is made then)"]
name:
  description: The site name.
  returned: success
  type: str
  sample: jobsite.example.com
machine_id:
  description: The site's machine ID (V(null) when its database is not readable on this node).
  returned: success
  type: int
  sample: 200
db_path:
  description: The site database path.
  returned: success
  type: str
  sample: /mnt/jobdb
link:
  description: This node's registry link to the database (V(null) when not registered).
  returned: success
  type: str
  sample: /usr/spool/nqs/C0A80164
records:
  description: One typed record per planned change (the same shape from every cjc module; the role's drift report reads it).
  returned: success
  type: list
  elements: dict
  contains:
    kind:
      description: The sort of change, V(site_link), V(site_db), V(conf_key), V(site_daemons) or V(site_cjcpw).
      type: str
    item:
      description: "The link path, the DB path, C(<path>: <key>), or the site (C(site <name>), C(local site))."
      type: str
    before:
      description: Its value before; V(null) when it does not exist.
      type: raw
    after:
      description: Its value after (predicted in check mode); V(null) when it will not exist.
      type: raw
  sample: [{"kind": "site_link", "item": "/usr/spool/nqs/0AD50064", "before": null, "after": "/mnt/jobdb"}]
actions:
  description: What the run did (check mode, what it would do); empty when nothing was to do.
  returned: success
  type: list
  elements: dict
  sample: [{"action": "register_link", "link": "/usr/spool/nqs/C0A80164", "target": "/mnt/jobdb"}]
messages:
  description: Progress lines of making a database (the phases of cjcmksite).
  returned: success
  type: list
  elements: str
  sample: ["Phase 1: Make NQS spool directories.", "cjcmksite Complete"]
site:
  description: The site's facts as read after the run (in check mode, as they are now).
  returned: success
  type: dict
  contains:
    name:
      description: Site name.
      type: str
    machine_id:
      description: Machine ID.
      type: int
    db_path:
      description: Site database path.
      type: str
    link:
      description: Registry link, or V(null).
      type: str
    address:
      description: The site's relocatable address.
      type: str
    local:
      description: Whether this is the local site.
      type: bool
    available:
      description: Whether the site database is readable on this node.
      type: bool
    daemon:
      description: The nqsdaemon pid as text, or C(SHUT) (the DAEMON-PID column of cjcls).
      type: str
    daemon_pid:
      description: The nqsdaemon pid, or V(null).
      type: int
    cjcpw:
      description: C(ON) when the site's cjcpw runs on this node, else C(OFF).
      type: str
    cjcpw_pid:
      description: The cjcpw pid, or V(null).
      type: int
    owner:
      description: Host and pid of the site's owner record (the node that runs the site), or V(null).
      type: dict
    daemons:
      description: Live processes of the site on this node, by role.
      type: dict
    maintenance:
      description: Whether C(maintenance=ON) is set on this node.
      type: bool
    cjcls:
      description: The site's two lines of the C(cjcls) table (V(null) for the local site).
      type: list
      elements: str
  sample:
    name: jobsite.example.com
    machine_id: 200
    db_path: /mnt/jobdb
    link: /usr/spool/nqs/C0A80164
    address: 192.168.1.100
    local: false
    available: true
    daemon: SHUT
    daemon_pid: null
    cjcpw: "OFF"
    cjcpw_pid: null
    owner: null
    daemons: {}
    maintenance: false
    cjcls: ["jobsite.example.com        SHUT          /mnt/jobdb                       OFF",
            "                                        (/usr/spool/nqs/C0A80164)"]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.cjc.cluster.plugins.module_utils._cjc_module import CjcError, fail_from, layout_of, runner
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.plan import changes, pending, site as sitestate


def argument_spec():
    return dict(
        name=dict(type="str"),
        machine_id=dict(type="int"),
        db_path=dict(type="path"),
        state=dict(type="str", choices=list(sitestate.STATES), default="present"),
        purge_db=dict(type="bool", default=False),
        local=dict(type="bool", default=False),
        mount_point=dict(type="path"),
        assume=dict(type="list", elements="str", choices=[pending.ENGINE, pending.ADDRESS], default=[]),
        root=dict(type="path", default="/"),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           required_if=[("local", False, ("name", "db_path"))])
    params = module.params
    layout = layout_of(module)
    request = sitestate.SiteRequest(name=params["name"], machine_id=params["machine_id"],
                                    db_path=params["db_path"], state=params["state"],
                                    purge_db=params["purge_db"], local=params["local"],
                                    mount_point=params["mount_point"])
    messages = []
    try:
        plan = sitestate.plan_site(layout, request, pending.Assumed(params["assume"] if module.check_mode else ()))
        if plan.changed and not module.check_mode:
            sitestate.apply_site(layout, plan, runner(module), report=messages.append)
        facts = sitestate.site_facts(layout, request)
    except CjcError as err:
        fail_from(module, err)
    for warning in plan.warnings:
        module.warn(warning)
    module.exit_json(changed=plan.changed, actions=plan.actions, records=changes.site_changes(plan),
                     messages=messages, site=facts, pending=list(plan.pending),
                     name=facts["name"], machine_id=facts["machine_id"], db_path=facts["db_path"],
                     link=facts["link"], diff=dict(before=dict(plan.before), after=dict(plan.after)))


if __name__ == "__main__":
    main()
