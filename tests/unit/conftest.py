"""Unit tests of the modules: run each module's ``main()`` in-process against the real
engine on a temporary node root (no mocks of the engine, nothing outside /tmp).

The collection is made importable as ``ansible_collections.cjc.cluster`` through a
symlink tree in a temporary directory (not in the checkout: a ``collections/`` tree
there breaks ansible-test sanity). No pytest-ansible plugin is needed.
"""

import json
import os
import sys
import tempfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_TREE = tempfile.mkdtemp(prefix="cjc-unit-collections-")
os.makedirs(os.path.join(_TREE, "ansible_collections", "cjc"))
os.symlink(REPO, os.path.join(_TREE, "ansible_collections", "cjc", "cluster"))
sys.path.insert(0, _TREE)

from ansible.module_utils.testing import patch_module_args  # noqa: E402

from ansible_collections.cjc.cluster.plugins.module_utils.cjc.plan.install import install_engine  # noqa: E402
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.config.layout import Layout  # noqa: E402


def run_module(module, args, check_mode=False, diff=True, capsys=None):
    """Run ``module.main()`` with ``args``; return its result dict (``failed`` set on fail_json)."""
    args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(args):
        try:
            module.main()
        except SystemExit:
            pass
    out = capsys.readouterr().out
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture
def run(capsys):
    """``run(module, args, check_mode=False)`` -> result dict."""
    def call(module, args, check_mode=False, diff=True):
        return run_module(module, args, check_mode=check_mode, diff=diff, capsys=capsys)
    return call


@pytest.fixture
def node(tmp_path):
    """A node root under /tmp with the engine installed (local site machine ID 100)."""
    root = tmp_path / "root"
    root.mkdir()
    layout = Layout(str(root))
    install_engine(layout, sys.executable, 100)
    return layout


def pytest_sessionfinish(session, exitstatus):
    import shutil
    shutil.rmtree(_TREE, ignore_errors=True)
