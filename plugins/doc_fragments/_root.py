# -*- coding: utf-8 -*-
# Copyright: cjc.cluster maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private doc fragment: the engine root prefix option of the cjc.cluster modules."""

from __future__ import annotations


class ModuleDocFragment:

    # Use with cjc.cluster._root in a module whose argument spec has
    # root=dict(type="path", default="/") and whose site database option is db_path.
    DOCUMENTATION = r"""
options:
  root:
    description:
      - Root prefix of the node's engine files (a lab node); C(/) on a real node.
      - Every engine path the module reads or writes, and those it puts into commands and scripts, lies under it.
      - I(db_path) is never prefixed (it names the shared disk).
    type: path
    default: /
"""
