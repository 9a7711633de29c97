#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cjc.cluster maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cjc_node_facts
short_description: Read a node's cjc sites, name checks and engine commands as facts
version_added: 0.2.0
description:
  - Returns, as data, what the node knows (the fact C(cjc_node)); it reads files and pid records only, runs no
    command and writes no site database (the DB at I(db_path) is opened read-only, for its machine table and users), so
    it answers on a node where a site is down or its disk is not mounted.
  - Every cluster site registered on the node, with the state C(cjcls) shows as a table (guide §2.5.3) - name,
    machine ID, DB path, link, running here, owner record, C(cjcpw), daemons - and the local site.
  - With I(site_name) and I(address), the name checks of the build order (§2.3(3)) - what the name resolves to,
    what the address resolves back to - and the interface the address is configured on here.
  - Whether the site DB at I(db_path) exists, whether the start check record I(start_check_record) exists, and
    which engine commands are missing.
author:
  - cjc.cluster maintainers (@cjc-cluster)
extends_documentation_fragment:
  - cjc.cluster._attributes
  - cjc.cluster._root
attributes:
  check_mode:
    details: Reads only; runs the same in check mode.
  diff_mode:
    support: none
    details: Changes nothing, so it has no diff.
options:
  site_name:
    description:
      - A cluster site's name (its full domain name); selects RV(ansible_facts.cjc_node.site) and the forward lookup.
    type: str
  address:
    description:
      - The site's relocatable IPv4 address; adds the reverse lookup and where the address is configured.
    type: str
  db_path:
    description:
      - A site DB path (on the shared disk, never prefixed by I(root)) whose identity file is looked for.
    type: path
  start_check_record:
    description:
      - A file whose presence records a passed start check (the role M(cjc.cluster.cjc_cluster) keeps one per site).
    type: path
  commands:
    description:
      - Documented paths of the engine commands that must exist. Default is every command the engine installs.
    type: list
    elements: path
notes:
  - Returns changed=false always.
seealso:
  - module: cjc.cluster.cjc_engine
  - module: cjc.cluster.cjc_site
"""

EXAMPLES = r"""
- name: Read the node's sites and the site's name checks
  cjc.cluster.cjc_node_facts:
    site_name: jobsite.example.com
    address: 192.168.1.100
    db_path: /mnt/jobdb

- name: Stop unless the site name is the canonical name of its address here
  ansible.builtin.assert:
    that: cjc_node.names.agree
"""

RETURN = r"""
ansible_facts:
  description: The facts.
  returned: always
  type: dict
  contains:
    cjc_node:
      description: What the node knows.
      returned: always
      type: dict
      contains:
        root:
          description: The root prefix read.
          type: str
        sites:
          description:
            - One row per cluster site registered here, sorted by link.
            - "Keys: name, machine_id (null when the DB is not readable here), db_path, is_local, link (documented
              path), address, available (the DB's identity is readable), running (its nqsdaemon runs here),
              daemon_pid, cjcpw (pid of a monitoring cjcpw here, or null), owner (the owner record with alive, or
              null), daemons (name: pid of each running daemon)."
          type: list
          elements: dict
          sample: [{"name": "jobsite.example.com", "machine_id": 200, "db_path": "/mnt/jobdb", "is_local": false,
                    "link": "/usr/spool/nqs/C0A80164", "address": "192.168.1.100", "available": true,
                    "running": false, "daemon_pid": null, "cjcpw": null, "owner": null, "daemons": {}}]
        local_site:
          description: The local site in the same form, or null before the engine is installed.
          type: dict
        site:
          description: The row of I(site_name) in RV(ansible_facts.cjc_node.sites), or null when it is not registered here.
          returned: when I(site_name) is given
          type: dict
        names:
          description:
            - "site_name, forward (sorted IPv4 addresses it resolves to), and with I(address): address, canonical
              (the name it resolves back to, or null), link (its registry link name) and agree (forward is exactly
              the address and canonical is the site name)."
          returned: when I(site_name) or I(address) is given
          type: dict
          sample: {"site_name": "jobsite.example.com", "forward": ["192.168.1.100"], "address": "192.168.1.100",
                   "canonical": "jobsite.example.com", "link": "C0A80164", "agree": true}
        address_interface:
          description: The interface I(address) is configured on here, or null.
          returned: when I(address) is given
          type: str
          sample: eth0
        db:
          description:
            - "path, present (the DB's identity file exists), machines: the DB's machine table (qmgr machines) as
              a list of machine_id and name, and users: the users the site knows (owners of queued and running
              requests, mapped local users, managers), sorted; each null when the DB is not readable here."
          returned: when I(db_path) is given
          type: dict
          sample: {"path": "/mnt/jobdb", "present": true, "machines": [{"machine_id": 300, "name": "peer.example.com"}],
                   "users": ["batch1", "root"]}
        start_check:
          description: "path and passed (the record exists)."
          returned: when I(start_check_record) is given
          type: dict
        missing_commands:
          description: Documented paths of the engine commands not installed.
          type: list
          elements: str
          sample: []
"""

import ipaddress

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.cjc.cluster.plugins.module_utils._cjc_module import CjcError, fail_from, layout_of
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.plan.node import node_facts


def argument_spec():
    return dict(
        site_name=dict(type="str"),
        address=dict(type="str"),
        db_path=dict(type="path"),
        start_check_record=dict(type="path"),
        commands=dict(type="list", elements="path"),
        root=dict(type="path", default="/"),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    layout = layout_of(module)
    if params["address"] is not None:
        try:
            ipaddress.IPv4Address(params["address"])
        except ValueError:
            module.fail_json(msg="address must be an IPv4 address, got %r" % params["address"])
    try:
        facts = node_facts(layout, params["site_name"], params["address"], params["db_path"],
                           params["start_check_record"], params["commands"])
    except CjcError as err:
        fail_from(module, err)
    module.exit_json(changed=False, ansible_facts=dict(cjc_node=facts))


if __name__ == "__main__":
    main()
