#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cjc.cluster maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cjc_engine
short_description: Install or update the cjc engine and its commands on a node
version_added: 0.2.0
description:
  - Puts the cjc engine package and all its commands at their documented paths (C(/usr/lib/nqs),
    C(/usr/lib/nqs/cluster), C(/usr/bin), C(/usr/spool/nqs)), the OCF resource agent, the local site's
    identity and its database (step 2 of the build order). Idempotent by content.
  - The action plugin of the same name sends the engine package bundled in this collection. It first asks the
    node whether its installed engine has the controller's fingerprint (a SHA-256 over the package's files) and
    nothing to repair; only then is nothing sent (one module run per node on a re-run).
  - Any difference (no engine yet, another version, an installed file edited by hand, a missing command or
    directory) is repaired from the controller's package.
  - The installed package is byte-compiled with I(python) (a cache, never reported as a change).
author:
  - cjc.cluster maintainers (@cjc-cluster)
extends_documentation_fragment:
  - cjc.cluster._attributes
  - cjc.cluster._attributes.action
  - cjc.cluster._root
attributes:
  diff_mode:
    details: The diff shows the installed package's fingerprint before and after, and the paths that change.
options:
  python:
    description:
      - Interpreter the engine's commands run with (it needs psutil).
    type: path
    default: /usr/bin/python3
  local_machine_id:
    description:
      - Machine ID of the local site, used only when the node has none yet.
    type: int
    default: 100
  src:
    description:
      - The engine package on the node, a directory (the C(cjc) package) or a C(tar.gz) of it.
      - Normally left unset, the action plugin sends the collection's own package.
      - Unset when the module runs without the action plugin, the package already installed under I(root) is the
        source (this repairs the commands and directories from it).
    type: path
  fingerprint:
    description:
      - Only without I(src). The fingerprint the installed package must have; when it has another, or there is no
        installed package, nothing is done and RV(up_to_date) is V(false).
      - The action plugin's first question to the node.
    type: str
notes:
  - python3 and psutil are installed by the role M(cjc.cluster.engine) before this module runs.
seealso:
  - module: cjc.cluster.cjc_node_facts
"""

EXAMPLES = r"""
- name: Install the cjc engine (the package of this collection)
  cjc.cluster.cjc_engine:
    local_machine_id: "{{ 100 if inventory_hostname in groups['cjc_active'] else 101 }}"

- name: Install under a lab node's root prefix
  cjc.cluster.cjc_engine:
    root: /tmp/node1
"""

RETURN = r"""
up_to_date:
  description: The installed engine was the wanted package and nothing had to change (before this run).
  returned: success
  type: bool
  sample: false
fingerprint:
  description: Fingerprint of the installed package after the run (in check mode, as it would be); V(null) when none.
  returned: success
  type: str
  sample: 3f1c0e4b9a7d2c1e8f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e
paths:
  description: The paths that changed (in check mode, would change).
  returned: success
  type: list
  elements: str
  sample: ["/usr/lib/nqs/cluster/cjcls", "/usr/lib/nqs/lib/cjc/cli/cjcls.py"]
records:
  description: One typed record per path that changed (the same shape from every cjc module; the role's drift report reads it).
  returned: success
  type: list
  elements: dict
  contains:
    kind:
      description: Always V(engine_path).
      type: str
    item:
      description: The path.
      type: str
    before:
      description: V(differs) (or missing); the installed content is not returned.
      type: str
    after:
      description: V(as packaged).
      type: str
  sample: [{"kind": "engine_path", "item": "/usr/lib/nqs/cluster/cjcls", "before": "differs", "after": "as packaged"}]
"""

import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.cjc.cluster.plugins.module_utils._cjc_module import CjcError, fail_from, layout_of
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.plan import install
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.plan.changes import change


def argument_spec():
    return dict(
        python=dict(type="path", default="/usr/bin/python3"),
        local_machine_id=dict(type="int", default=100),
        src=dict(type="path"),
        fingerprint=dict(type="str"),
        root=dict(type="path", default="/"),
    )


def _install(module, layout, source):
    params = module.params
    before = install.installed_fingerprint(layout)
    paths = install.install_engine(layout, params["python"], params["local_machine_id"],
                                   check=module.check_mode, source=source)
    wanted = install.package_fingerprint(source)
    after = wanted if module.check_mode else install.installed_fingerprint(layout)
    module.exit_json(changed=bool(paths), up_to_date=before == wanted and not paths, fingerprint=after, paths=paths,
                     records=[change("engine_path", p, "differs", "as packaged") for p in paths],
                     diff=dict(before=dict(fingerprint=before, paths=[]), after=dict(fingerprint=after, paths=paths)))


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           mutually_exclusive=[("src", "fingerprint")])
    params = module.params
    layout = layout_of(module)
    if params["local_machine_id"] <= 0:
        module.fail_json(msg="local_machine_id must be a positive integer, got %d" % params["local_machine_id"])
    src = params["src"]
    staging = None
    try:
        if src is None:
            installed = install.installed_fingerprint(layout)
            if installed is None and params["fingerprint"] is None:
                module.fail_json(msg="no engine is installed under %s; give src (the engine package)" % layout.root)
            if installed is None or installed != (params["fingerprint"] or installed):
                module.exit_json(changed=False, up_to_date=False, fingerprint=installed, paths=[], records=[])
            source = os.path.join(layout.engine_lib, "cjc")
        elif os.path.isdir(src):
            source = install.check_package(src)
        elif os.path.isfile(src):
            staging = tempfile.mkdtemp(prefix="cjc-engine-")
            source = install.unpack_package(src, staging)
        else:
            module.fail_json(msg="src %s does not exist" % src)
        _install(module, layout, source)
    except CjcError as err:
        fail_from(module, err)
    finally:
        if staging:
            shutil.rmtree(staging, ignore_errors=True)


if __name__ == "__main__":
    main()
