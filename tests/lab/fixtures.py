"""pytest fixtures of the lab. tests/conftest.py imports them for every test directory.

Fixtures (all skip the test when the machine cannot make namespaces):

* ``cjc_lab`` (session): a running two-node lab shared by the session. Tests that
  move the site address or kill a node call ``cjc_lab.reset()`` when done (or use
  ``cjc_lab_clean``).
* ``cjc_lab_clean`` (function): ``cjc_lab`` after ``reset()``: every node alive,
  no site address anywhere.
* ``cjc_lab_module`` (module): a lab of its own for one test module.
* ``cjc_lab_factory`` (function): ``make(**LabConfig fields, pacemaker=False)``
  returns a running lab, torn down after the test.
* ``cjc_sandbox`` (function): ``make(addresses=[...], hosts="...", hostname=...)``
  returns a running ``Sandbox`` (one namespace), torn down after the test.

Helpers are methods of ``Lab`` (``nsx``, ``move_vip``, ``kill_node``,
``revive_node``, ``spawn``, ``start_daemon``, ``write_file``, ``read_file``, ...).
"""

import os
import shutil

import pytest

from .core import Lab, LabConfig
from .sandbox import Sandbox

_TOOLS = ("ip", "nsenter", "unshare", "mount", "umount")


def lab_unavailable_reason():
    """Why no lab can be made here, or None when it can."""
    if os.geteuid() != 0:
        return "the lab needs root (network and mount namespaces)"
    missing = [t for t in _TOOLS if shutil.which(t) is None]
    if missing:
        return "the lab needs %s (Debian iproute2, util-linux, mount)" % ", ".join(missing)
    return None


def _require():
    reason = lab_unavailable_reason()
    if reason:
        pytest.skip(reason)


def default_connection():
    """CJCLAB_CONNECTION if set; else ssh when sshd is installed (everything runs in the
    node), else local."""
    if os.environ.get("CJCLAB_CONNECTION") in ("ssh", "local"):
        return os.environ["CJCLAB_CONNECTION"]
    return "ssh" if os.path.exists("/usr/sbin/sshd") else "local"


def unique_name(tag):
    """A lab name that no other pytest process uses: <tag><pid>."""
    return "%s%d" % (tag, os.getpid())


@pytest.fixture(scope="session")
def cjc_lab():
    _require()
    lab = Lab(LabConfig(name=unique_name("pts"), connection=default_connection())).up()
    try:
        yield lab
    finally:
        lab.down()


@pytest.fixture
def cjc_lab_clean(cjc_lab):
    cjc_lab.reset()
    yield cjc_lab
    cjc_lab.reset()


@pytest.fixture(scope="module")
def cjc_lab_module():
    _require()
    lab = Lab(LabConfig(name=unique_name("ptm"), connection=default_connection())).up()
    try:
        yield lab
    finally:
        lab.down()


@pytest.fixture
def cjc_lab_factory():
    _require()
    made = []

    def make(pacemaker=False, pacemaker_options=None, **fields):
        fields.setdefault("name", "%s-%d" % (unique_name("ptf"), len(made)))
        fields.setdefault("connection", default_connection())
        lab = Lab(LabConfig(**fields))
        made.append(lab)
        return lab.up(pacemaker=pacemaker, pacemaker_options=pacemaker_options)

    try:
        yield make
    finally:
        for lab in reversed(made):
            lab.down()


@pytest.fixture
def cjc_sandbox():
    _require()
    made = []

    def make(addresses=(), hosts="127.0.0.1 localhost\n", hostname="sandbox"):
        sb = Sandbox(addresses=addresses, hosts=hosts, hostname=hostname,
                     name="cjcsbx%d-%d" % (os.getpid(), len(made)))
        made.append(sb)
        return sb.up()

    try:
        yield make
    finally:
        for sb in reversed(made):
            sb.down()
