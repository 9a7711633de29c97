# -*- coding: utf-8 -*-
# Copyright: cjc.cluster maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private doc fragment: the attributes every cjc.cluster module declares."""

from __future__ import annotations


class ModuleDocFragment:

    # Use with cjc.cluster._attributes. Every module supports all three fully; a module adds
    # attributes.diff_mode.details (what its diff shows). One that is only partial sets
    # support: partial and names the option that breaks it in details (STYLE, Modules 4).
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description:
      - Can run in check mode and then predicts exactly what a real run changes, without changing anything.
    support: full
  diff_mode:
    description:
      - Returns the state before and after (predicted in check mode) when run with C(--diff).
    support: full
  idempotent:
    description:
      - A second run with the same arguments reports no change and changes nothing.
    support: full
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
