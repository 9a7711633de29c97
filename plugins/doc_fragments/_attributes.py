# -*- coding: utf-8 -*-
# Copyright: cjc.cluster maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private doc fragment: the attributes every cjc.cluster module declares."""

from __future__ import annotations


class ModuleDocFragment:

    # Use with cjc.cluster._attributes; then set support per module.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description:
      - Can run in check mode and then predicts exactly what a real run changes, without changing anything.
  diff_mode:
    description:
      - Returns the state before and after (predicted in check mode) when run with C(--diff).
  idempotent:
    description:
      - A second run with the same arguments reports no change and changes nothing.
"""

    # Add to a module that runs through an action plugin of the same name.
    ACTION = r"""
options: {}
attributes:
  action:
    description:
      - An action plugin of the same name runs on the controller and calls the module on the nodes.
    support: full
"""
