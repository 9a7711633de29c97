# -*- coding: utf-8 -*-
# Copyright: cjc.cluster maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of cjc_userid_check: compare every node of the play in one task.

Each host's action runs in its own worker process on the controller. It

1. runs the module on its node without ``reference`` (reads the accounts only);
2. publishes that report in a controller directory keyed by the task, and waits
   until every host of the play batch has published (``wait_timeout``);
3. compares all reports with the active node's (the engine's ``userids.compare``);
4. without ``fix``: fails with the table when anything differs (on every node, so
   no node goes on alone); with ``fix``: runs the module again on a standby with
   ``reference`` = the active node's IDs, which plans (check mode) or applies the
   repair there.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time

from ansible.plugins.action import ActionBase
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.plan import userids

MODULE = "cjc.cluster.cjc_userid_check"
POLL = 0.1


def _write_json(path, data):
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    os.replace(tmp, path)


class ActionModule(ActionBase):

    _requires_connection = True

    def _exchange_dir(self, args):
        # the same on every host of this task (per-host options such as root must stay out)
        key = hashlib.sha256(json.dumps([self._task._uuid, args.get("users"), args.get("groups")],
                                        sort_keys=True, default=str).encode()).hexdigest()[:16]
        path = os.path.join(tempfile.gettempdir(), "cjc-userid-%s" % key)
        os.makedirs(path, mode=0o700, exist_ok=True)
        return path

    def _collect(self, exchange, hosts, timeout):
        deadline = time.monotonic() + timeout
        reports = {}
        while True:
            for host in hosts:
                if host not in reports:
                    try:
                        with open(os.path.join(exchange, host + ".json"), encoding="utf-8") as handle:
                            reports[host] = json.load(handle)
                    except (OSError, ValueError):
                        pass
            if len(reports) == len(hosts) or time.monotonic() >= deadline:
                return reports
            time.sleep(POLL)

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
        exchange = self._exchange_dir(args)
        gather_args = dict(args, fix=False)
        gather_args.pop("reference", None)
        gathered = self._execute_module(module_name=MODULE, module_args=gather_args, task_vars=task_vars)
        report = {"error": gathered.get("msg", "failed")} if gathered.get("failed") else gathered["accounts"]
        _write_json(os.path.join(exchange, host + ".json"), report)
        if gathered.get("failed"):
            return gathered
        reports = self._collect(exchange, hosts, int(args.get("wait_timeout") or 60))
        _write_json(os.path.join(exchange, host + ".read"), {})
        self._cleanup(exchange, hosts)
        missing = [h for h in hosts if h not in reports]
        broken = {h: r["error"] for h, r in reports.items() if "error" in r}
        if missing or broken:
            result.update(failed=True, msg="cannot compare the nodes: %s" % "; ".join(
                ["%s did not report within %s s (unreachable, or forks/serial smaller than the number of "
                 "nodes)" % (h, args.get("wait_timeout") or 60) for h in missing]
                + ["%s could not be read: %s" % (h, e) for h, e in sorted(broken.items())]))
            return result
        for report in reports.values():  # what only read_accounts keeps for this node
            report.setdefault("uid_owners", {})
            report.setdefault("gid_owners", {})
        rows = userids.compare(reports, active)
        table = userids.format_table(rows, reports, active)
        result.update(active_node=active, mismatches=rows, table=table, accounts=reports[host],
                      changed=False, commands=[], changes=[], reowned=0)
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
        return fixed

    @staticmethod
    def _cleanup(exchange, hosts):
        """The last host to have read every report removes the exchange directory."""
        if all(os.path.exists(os.path.join(exchange, h + ".read")) for h in hosts):
            for name in os.listdir(exchange):
                try:
                    os.unlink(os.path.join(exchange, name))
                except FileNotFoundError:
                    pass
            try:
                os.rmdir(exchange)
            except OSError:
                pass
