# -*- coding: utf-8 -*-
# Copyright: cjc.cluster maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private helpers shared by the cjc.cluster modules (the only module_utils that imports Ansible)."""

from __future__ import annotations

import os

from ansible_collections.cjc.cluster.plugins.module_utils.cjc.errors import CjcError, CommandError
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.config.layout import Layout


def layout_of(module):
    """The engine layout under the module's ``root`` option, or fail_json for a relative root."""
    root = module.params["root"]
    if not os.path.isabs(root):
        module.fail_json(msg="root must be an absolute path, got %r" % root)
    return Layout(root)


def fail_from(module, err):
    """fail_json for an engine error: its message, its class, and a failed command's output.

    ``changed`` is the error's own (an apply that failed after applying a part sets it)."""
    extra = {}
    if isinstance(err, CommandError):
        extra = dict(cmd=err.argv, rc=err.rc, stdout=err.stdout, stderr=err.stderr)
    module.fail_json(msg=str(err), details=type(err).__name__, changed=getattr(err, "changed", False), **extra)


def runner(module):
    """``run(argv, environ) -> (rc, stdout, stderr)`` for the engine: argv lists, never a shell."""
    def run(argv, environ=None):
        return module.run_command(argv, environ_update=environ or {}, check_rc=False)
    return run


__all__ = ["CjcError", "layout_of", "fail_from", "runner"]
