# -*- coding: utf-8 -*-
# Copyright: cjc.cluster maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of cjc_userid_check: gather on every node, compare on the controller.

No host waits for another, so any ``forks`` and ``serial`` work (the hosts of a task
may run one after the other). The reports travel the way Ansible carries data between
hosts, as facts:

1. Every run first reads this node's IDs (the module without ``reference``) and keeps
   them as this host's fact ``cjc_userid_accounts``. With ``gather_only`` that is all.
2. Otherwise the other nodes' reports are their ``cjc_userid_accounts`` facts, from an
   earlier run on them (a ``gather_only`` task before this one, or an earlier check) for
   the same users and groups; a node without one is named in a clear failure.
3. All reports are compared with the active node's (the engine's ``userids.compare``):
   without ``fix`` any difference fails with the table, on every node; with ``fix`` a
   standby runs the module again with ``reference`` = the active node's IDs (plans in
   check mode, repairs otherwise) and keeps its new IDs as its fact.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.plan import userids

MODULE = "cjc.cluster.cjc_userid_check"
FACT = "cjc_userid_accounts"


class ActionModule(ActionBase):

    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        host = task_vars.get("inventory_hostname")
        hosts = list(task_vars.get("ansible_play_batch") or [host])
        active = args.get("active_node") or hosts[0]
        if active not in hosts:
            result.update(failed=True, msg="active_node %s is not a host of this play batch (%s)"
                          % (active, ", ".join(hosts)))
            return result
        gather_args = dict(args, fix=False, gather_only=True)
        gather_args.pop("reference", None)
        gathered = self._execute_module(module_name=MODULE, module_args=gather_args, task_vars=task_vars)
        if gathered.get("failed"):
            return gathered
        asked = {"users": sorted(args.get("users") or []), "groups": sorted(args.get("groups") or [])}
        own = dict(gathered["accounts"], asked=asked)
        result.update(changed=False, accounts=gathered["accounts"], commands=[], changes=[], records=[], reowned=0,
                      ansible_facts={FACT: own})
        if args.get("gather_only"):
            result.update(mismatches=[], table="")
            return result
        reports, absent = {host: own}, []
        for node in hosts:
            if node != host:
                facts = task_vars["hostvars"][node]
                report = facts[FACT] if FACT in facts else None
                if not isinstance(report, dict) or report.get("asked") != asked:
                    absent.append(node)
                else:
                    reports[node] = report
        if absent:
            result.update(failed=True, msg="cannot compare the nodes: no report of the IDs of users %s and groups %s from "
                          "%s; run cjc_userid_check with gather_only: true (same users and groups) on every node first"
                          % (", ".join(asked["users"]) or "-", ", ".join(asked["groups"]) or "-", ", ".join(absent)))
            return result
        reports = {node: dict(report, uid_owners={}, gid_owners={}) for node, report in reports.items()}
        rows = userids.compare(reports, active)
        table = userids.format_table(rows, reports, active)
        result.update(active_node=active, mismatches=rows, table=table)
        if not rows:
            return result
        unfixable = [r for r in rows if r["problem"].startswith("missing")]
        if not args.get("fix") or unfixable:
            why = ("users or groups are missing; create them first (fix never creates accounts)"
                   if args.get("fix") else "set fix: true to make the standby nodes match %s" % active)
            result.update(failed=True, msg="job user IDs differ between the nodes (%s):\n%s" % (why, table))
            return result
        if host == active:
            return result
        fix_args = dict(args, fix=True, reference={"users": reports[active]["users"],
                                                   "groups": reports[active]["groups"]})
        fixed = self._execute_module(module_name=MODULE, module_args=fix_args, task_vars=task_vars)
        fixed.update(active_node=active, mismatches=rows, table=table)
        if not fixed.get("failed") and not self._play_context.check_mode:
            fixed["ansible_facts"] = {FACT: dict(fixed["accounts"], asked=asked)}
        return fixed
