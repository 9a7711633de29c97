"""Fixtures for engine tests: a node root with the engine installed, network namespaces.

The engine package is imported from the source tree (``plugins/module_utils``) so the
tests exercise exactly what AnsiballZ ships and what the installer copies.
"""

import os
import subprocess
import sys
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "plugins", "module_utils"))

from cjc.plan.install import install_engine  # noqa: E402
from cjc.config.layout import Layout  # noqa: E402
from jobsite import CLUSTER_KEY, USERS, Node, make_netns, make_root, make_users, remove_netns, remove_root, remove_users  # noqa: E402


@pytest.fixture
def node_root(tmp_path):
    """A fresh node root with the engine installed (local site machine ID 100)."""
    root = tmp_path / "root"
    root.mkdir()
    layout = Layout(str(root))
    install_engine(layout, sys.executable, 100)
    return layout


class Netns:
    """A network namespace made by a test: run commands inside it."""

    def __init__(self, name):
        self.name = name

    def run(self, argv, env=None, check=False, timeout=60, **kwargs):
        full_env = dict(os.environ, **(env or {}))
        return subprocess.run(["ip", "netns", "exec", self.name] + list(argv), env=full_env,
                              capture_output=True, text=True, check=check, timeout=timeout, **kwargs)

    def popen(self, argv, env=None, **kwargs):
        full_env = dict(os.environ, **(env or {}))
        return subprocess.Popen(["ip", "netns", "exec", self.name] + list(argv), env=full_env, **kwargs)


@pytest.fixture
def netns():
    """Factory: ``netns(addresses=["10.192.18.10/24"], hosts="...")`` -> Netns.

    Made by :func:`jobsite.make_netns` (addresses on a veth pair inside the namespace,
    ``hosts`` as its /etc/hosts). Everything is removed after the test.
    """
    made = []

    def make(addresses=(), hosts="127.0.0.1 localhost\n"):
        name = "cjct-" + uuid.uuid4().hex[:8]
        made.append(name)
        return Netns(make_netns(name, addresses, hosts))

    yield make
    for name in made:
        remove_netns(name)


SITE_HOSTS = ("127.0.0.1 localhost\n"
              "10.192.18.10 testsite.example.com testsite\n"
              "10.192.18.11 othersite.example.com othersite\n"
              "10.192.18.12 split.example.com\n"
              "10.192.18.99 elsewhere.example.com\n")


@pytest.fixture
def site_ns(netns):
    """A namespace holding 10.192.18.10-12 with the site names of SITE_HOSTS."""
    return netns(["10.192.18.10/24", "10.192.18.11/24", "10.192.18.12/24"], SITE_HOSTS)


def command(layout, documented):
    """Real path of an installed command, e.g. command(layout, '/usr/lib/nqs/cluster/cjcls')."""
    return layout.path(documented)


@pytest.fixture(scope="module")
def users():
    """The test users (jobsite.USERS), made for a module's tests and removed after them."""
    make_users()
    yield USERS
    remove_users()


@pytest.fixture(scope="module")
def engine_lab(cjc_lab_module):
    """The module's two-node lab with the engine installed on every node (root /, the node's own
    view) and the same cluster key on each, as the engine role provisions it (docs/security.md
    "Peer machines")."""
    for name in cjc_lab_module.node_names:
        cjc_lab_module.nsx(name, sys.executable, "-m", "cjc.cli.install", "--root", "/",
                           env=dict(os.environ, PYTHONPATH=os.path.join(REPO, "plugins", "module_utils")))
        cjc_lab_module.write_file(name, "/usr/lib/nqs/etc/cluster.key", CLUSTER_KEY + "\n", mode=0o400)
    return cjc_lab_module


@pytest.fixture
def node():
    """A fresh node root (local machine ID 100) with the engine, as a jobsite.Node; removed after."""
    made = Node(make_root(100))
    try:
        yield made
    finally:
        made.cleanup()
        remove_root(made.layout)


def pytest_sessionfinish(session, exitstatus):
    """Remove the empty control groups of test sites (under /tmp, or on the lab's shared disk
    /mnt/jobdb-disk) that this machine still has.

    A test that ends a network-namespace node ends the node's processes with SIGKILL, the
    sites' keepers too, so nothing of the site is left to remove its emptied groups. A
    group with a member (a site still running) is never removed: rmdir refuses it.
    """
    from cjc.site.cgroup import ROOT_GROUP, site_key, tracker
    _kind, mount = tracker()
    top = os.path.join(mount, ROOT_GROUP) if mount else None
    if not top or not os.path.isdir(top):
        return
    tests = tuple(site_key(path) + "-" for path in ("/tmp", "/mnt/jobdb-disk"))
    for name in os.listdir(top):
        if not name.startswith(tests):
            continue
        for directory, _dirs, _files in sorted(os.walk(os.path.join(top, name)), key=lambda entry: -len(entry[0])):
            try:
                os.rmdir(directory)
            except OSError:
                pass
