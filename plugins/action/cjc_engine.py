# -*- coding: utf-8 -*-
# Copyright: cjc.cluster maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of cjc_engine: send the collection's engine package only when the node needs it.

1. Ask the node (the module with ``fingerprint``): is the installed engine this
   controller's package? Then the module has already repaired (or, in check mode,
   listed) whatever else differs from it, and its answer is the result.
2. Otherwise pack the package (its ``.py`` files) into one archive, send it to the
   task's remote temporary directory and run the module with ``src`` = that archive.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from ansible.plugins.action import ActionBase
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.plan import install

MODULE = "cjc.cluster.cjc_engine"


class ActionModule(ActionBase):

    TRANSFERS_FILES = True  # the task gets a remote tmpdir, removed by ActionBase.cleanup after the task

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        if args.get("src") or args.get("fingerprint"):  # a package already on the node: the module alone
            return self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)
        wanted = install.package_fingerprint()
        probe = self._execute_module(module_name=MODULE, module_args=dict(args, fingerprint=wanted), task_vars=task_vars)
        if probe.get("failed") or probe.get("fingerprint") == wanted:  # this package: the probe did (or planned) it all
            return probe
        local_dir = tempfile.mkdtemp(prefix="cjc-engine-")
        try:
            archive = os.path.join(local_dir, "cjc.tgz")
            install.pack_package(archive)
            remote = self._connection._shell.join_path(self._connection._shell.tmpdir, "cjc.tgz")
            self._transfer_file(archive, remote)
            self._fixup_perms2((self._connection._shell.tmpdir, remote))
            result.update(self._execute_module(module_name=MODULE, module_args=dict(args, src=remote),
                                               task_vars=task_vars))
        finally:
            shutil.rmtree(local_dir, ignore_errors=True)  # the remote copy goes with the task's tmpdir (cleanup)
        return result
