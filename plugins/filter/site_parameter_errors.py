# -*- coding: utf-8 -*-
# Copyright: cjc.cluster maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter ``cjc.cluster.site_parameter_errors``: the role's site parameters checked by the engine's
rules (plan/parameters.py), one sentence per wrong variable. The cjc_cluster role's step 3
fails with them before any node is read."""

from __future__ import annotations

from ansible_collections.cjc.cluster.plugins.module_utils.cjc.plan.parameters import site_parameter_errors as _errors


def site_parameter_errors(parameters):
    """``parameters``: dict with keys site_name, machine_id, db_path, address, mount_point."""
    return _errors(parameters["site_name"], parameters["machine_id"], parameters["db_path"], parameters["address"],
                   parameters.get("mount_point") or "")


class FilterModule(object):
    """cjc.cluster filters."""

    def filters(self):
        return {"site_parameter_errors": site_parameter_errors}
