#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cjc.cluster maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cjc_userid_check
short_description: Compare (and optionally unify) job users' UIDs and GIDs across the nodes of a cluster
version_added: 0.1.0
description:
  - Jobs run under their owner's user ID, so after a failover every job user must have the same UID (and
    GID) on the standby as on the active node (step 4 of the build order).
  - Reads the users and groups on every node of the play and compares them with the I(active_node) on the
    controller. The reports travel as facts (C(cjc_userid_accounts)), so no node waits for another. Run it with
    I(gather_only=true) on every node first, then without it (every run also refreshes this node's own report).
  - Without I(fix), fails on every node with a table (kind, name, node, uid, gid, problem) of the
    mismatches and of the missing users and groups, so the play stops before anything relies on them.
  - With I(fix=true), makes each standby node match the active node with C(groupmod -g) and
    C(usermod -u -g), then re-owns the files that still carry the old IDs on the node's local file
    systems (or under I(reown_paths)). A node refuses (fails, changes nothing) when a wanted ID belongs to
    another account there, when the user has running processes there, or when a user or group is missing
    (create those with M(ansible.builtin.user) / M(ansible.builtin.group)).
  - In check mode the planned commands and ID changes are reported and nothing is changed.
  - Any C(forks) and C(serial) work; the nodes compared are the hosts of the play batch, each with a report for
    the same I(users) and I(groups).
author:
  - cjc.cluster maintainers (@cjc-cluster)
extends_documentation_fragment:
  - cjc.cluster._attributes
  - cjc.cluster._attributes.action
attributes:
  diff_mode:
    details: The diff shows this node's IDs of the named users and groups before and after.
options:
  users:
    description:
      - Job users whose UID and primary GID must be the same on every node.
    type: list
    elements: str
    default: []
  groups:
    description:
      - Groups whose GID must be the same on every node.
      - The primary groups of the I(users) are read, compared and fixed with them without being listed; list one here
        when it has another name on a standby than on the active node.
    type: list
    elements: str
    default: []
  fix:
    description:
      - Make the standby nodes match the active node instead of failing.
    type: bool
    default: false
  active_node:
    description:
      - Inventory name of the node whose IDs are the reference.
      - Default is the first host of the play batch.
    type: str
  reference:
    description:
      - "The IDs this node must have, as C({users: {name: {uid: N, gid: N}}, groups: {name: N}})."
      - Normally left unset, the action plugin fills it from I(active_node). Set it to check or fix a node
        against fixed IDs.
    type: dict
  reown_paths:
    description:
      - Directories whose file systems are searched for files to re-own after an ID change (symbolic links
        are not followed, other file systems are not entered).
      - Default is every local file system of the node (network and pseudo file systems excluded), or
        I(root) when I(root) is not C(/).
    type: list
    elements: path
  root:
    description:
      - Root prefix of the node (a lab node). Accounts are then read from C(<root>/etc/passwd) and C(<root>/etc/group)
        and changed with C(usermod --prefix <root>). C(/) uses the system's account databases.
    type: path
    default: /
  gather_only:
    description:
      - Only read this node's IDs and keep them as the fact C(cjc_userid_accounts), the report the comparing runs
        on the other nodes read. Nothing is compared or changed.
    type: bool
    default: false
  wait_timeout:
    description:
      - Ignored. The nodes no longer wait for each other (see I(gather_only)).
    type: int
notes:
  - Users and groups are compared, never created or removed.
seealso:
  - module: ansible.builtin.user
  - module: ansible.builtin.group
"""

EXAMPLES = r"""
- name: Read the job users' IDs on every node
  cjc.cluster.cjc_userid_check:
    users: [jobuser1, jobuser2]
    groups: [jobs]
    gather_only: true

- name: Check that job users have the same IDs on every node (step 4)
  cjc.cluster.cjc_userid_check:
    users: [jobuser1, jobuser2]
    groups: [jobs]

- name: Make the standby nodes match the active node
  cjc.cluster.cjc_userid_check:
    users: [jobuser1, jobuser2]
    groups: [jobs]
    active_node: "{{ groups['cjc_active'][0] }}"
    fix: true
"""

RETURN = r"""
accounts:
  description: This node's IDs of the named users and groups (after the run; as now in check mode).
  returned: success
  type: dict
  sample: {"users": {"jobuser1": {"uid": 1001, "gid": 1001}}, "groups": {"jobs": 1001}}
active_node:
  description: The node whose IDs are the reference.
  returned: when run through the action plugin
  type: str
  sample: node1
mismatches:
  description: Every difference from the active node, on any node (empty when all nodes agree).
  returned: always
  type: list
  elements: dict
  sample: [{"kind": "user", "name": "jobuser1", "node": "node2", "uid": 1005, "gid": 1001,
            "problem": "active has uid 1001 gid 1001"}]
table:
  description: The mismatches as a text table, one line per user or group and node.
  returned: always
  type: str
  sample: "KIND  NAME      NODE            UID   GID   PROBLEM\nuser  jobuser1  node1 (active)  1001  1001  ok\n"
commands:
  description: The C(groupmod)/C(usermod) commands this node ran (check mode, would run).
  returned: success
  type: list
  elements: list
  sample: [["usermod", "-u", "1001", "jobuser1"]]
changes:
  description: The ID changes of this node in words.
  returned: success
  type: list
  elements: str
  sample: ["user jobuser1: uid 1005 gid 1001 -> uid 1001 gid 1001"]
records:
  description: One typed record per planned ID change (the same shape from every cjc module; the role's drift report reads it).
  returned: success
  type: list
  elements: dict
  contains:
    kind:
      description: The sort of change, V(user_ids) (before and after are C({uid, gid})) or V(group_id) (a gid).
      type: str
    item:
      description: The user or group name.
      type: str
    before:
      description: Its IDs before.
      type: raw
    after:
      description: Its IDs after (predicted in check mode).
      type: raw
  sample: [{"kind": "user_ids", "item": "jobuser1", "before": {"uid": 1005, "gid": 1001}, "after": {"uid": 1001, "gid": 1001}}]
ansible_facts:
  description: This node's report, the one the comparing runs on the other nodes read.
  returned: when run through the action plugin
  type: dict
  contains:
    cjc_userid_accounts:
      description: "users and groups as in RV(accounts), and asked: the users and groups it was read for."
      type: dict
reowned:
  description: Number of files re-owned (check mode, that would be re-owned).
  returned: success
  type: int
  sample: 12
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.cjc.cluster.plugins.module_utils._cjc_module import CjcError, fail_from
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.plan import userids


def argument_spec():
    return dict(
        users=dict(type="list", elements="str", default=[]),
        groups=dict(type="list", elements="str", default=[]),
        fix=dict(type="bool", default=False),
        active_node=dict(type="str"),
        reference=dict(type="dict"),
        reown_paths=dict(type="list", elements="path"),
        root=dict(type="path", default="/"),
        gather_only=dict(type="bool", default=False),
        wait_timeout=dict(type="int", removed_in_version="1.0.0", removed_from_collection="cjc.cluster"),
    )


def _reference(raw):
    """The reference report from the option (names and integers checked)."""
    try:
        users = {str(k): (None if v is None else {"uid": int(v["uid"]), "gid": int(v["gid"])})
                 for k, v in (raw.get("users") or {}).items()}
        groups = {str(k): (None if v is None else int(v)) for k, v in (raw.get("groups") or {}).items()}
    except (KeyError, TypeError, ValueError, AttributeError):
        raise userids.UserIdError("reference must look like {users: {name: {uid: N, gid: N}}, groups: {name: N}}")
    return {"users": users, "groups": groups}


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    root = params["root"]
    result = dict(changed=False, commands=[], changes=[], records=[], reowned=0, mismatches=[], table="")
    try:
        local = userids.read_accounts(params["users"], params["groups"], root)
        before = {"users": local["users"], "groups": local["groups"]}
        after = before
        if params["reference"] is not None and not params["gather_only"]:
            reference = _reference(params["reference"])
            reports = {"reference": reference, "this node": local}
            rows = userids.compare(reports, "reference")
            result.update(mismatches=rows, table=userids.format_table(rows, reports, "reference"))
            if rows and not params["fix"]:
                module.fail_json(msg="IDs differ from the reference:\n" + result["table"], **result)
            if rows:
                plan = userids.plan_fix(local, reference, root=root)
                userids.check_no_processes(local, reference)
                paths = params["reown_paths"] or ([root] if root != "/" else userids.local_filesystems())
                result.update(changed=bool(plan["commands"]), commands=plan["commands"], changes=plan["changes"],
                              records=plan["records"])
                if plan["commands"] and not module.check_mode:
                    result["reowned"] = userids.apply_fix(plan, module.run_command, paths)
                    local = userids.read_accounts(params["users"], params["groups"], root)
                    after = {"users": local["users"], "groups": local["groups"]}
                elif plan["commands"]:
                    files = userids.find_files_to_reown(paths, plan["reown"]["uids"], plan["reown"]["gids"])
                    result["reowned"] = len(files)
                    after = userids.predicted_accounts(local, reference)
    except CjcError as err:
        fail_from(module, err)
    module.exit_json(accounts={"users": local["users"], "groups": local["groups"]},
                     diff=dict(before=before, after=after), **result)


if __name__ == "__main__":
    main()
