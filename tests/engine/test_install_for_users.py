"""``make install-engine ROOT=...`` as the README tells a newcomer: the commands it installs run
with the node's python3, so an ordinary account (made with useradd) can submit and list its
requests, and the daemons start with that same interpreter."""

import os
import pwd
import shutil
import subprocess
import sys
import tempfile

import pytest

from cjc.config.layout import Layout
from cjc.plan.install import COMMANDS, LEAN_COMMANDS
from cjc.plan.interpreter import unreachable_by_users

from jobsite import USER_PYTHON, Node, make_users, remove_users, write_cluster_key

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def make_install(root, *extra):
    return subprocess.run(["make", "-s", "-C", REPO, "install-engine", "ROOT=" + root, "LOCAL_MID=117"] + list(extra),
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def installed():
    root = tempfile.mkdtemp(prefix="cjc-ops-install-", dir="/tmp")
    os.chmod(root, 0o755)
    make_users()
    node = None
    try:
        done = make_install(root)
        assert done.returncode == 0, done.stderr
        layout = Layout(root)
        write_cluster_key(layout)
        node = Node(layout)
        yield node
    finally:
        if node:
            node.cleanup()
        shutil.rmtree(root, ignore_errors=True)
        remove_users()


def as_user(node, argv, stdin=""):
    entry = pwd.getpwnam("cjct2")
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, env=node.env, user=entry.pw_uid,
                          group=entry.pw_gid, timeout=60, check=False)


def test_every_command_runs_with_the_nodes_python3(installed):
    for documented in COMMANDS:
        with open(installed.layout.path(documented)) as handle:
            first = handle.readline().rstrip()
        assert first == "#!" + USER_PYTHON + (" -S" if documented in LEAN_COMMANDS else ""), (documented, first)
    assert unreachable_by_users(USER_PYTHON) is None


def test_a_useradd_user_submits_and_lists_a_request_after_the_install(installed):
    """The site is started by its own installed nqsstart (python3 + psutil), the user's qsub and
    qstat run through their #! line: no "Permission denied", the request is the user's."""
    started = subprocess.run([installed.layout.path("/usr/lib/nqs/nqsstart")], capture_output=True, text=True,
                             env=installed.env, timeout=120, check=False)
    assert started.returncode == 0, started.stderr
    installed.qmgr("stop queue guibs_1")  # the request stays queued: qstat must show it
    submitted = as_user(installed, [installed.layout.path("/usr/bin/qsub"), "-q", "guibs_1"], "echo hi\n")
    assert submitted.returncode == 0 and submitted.stdout.startswith("Request "), submitted
    job_id = int(submitted.stdout.split()[1].split(".")[0])
    assert installed.job(job_id)["owner"] == "cjct2"
    listed = as_user(installed, [installed.layout.path("/usr/bin/qstat"), "-a"])
    assert listed.returncode == 0 and "cjct2" in listed.stdout, listed
    stopped = subprocess.run([installed.layout.path("/usr/lib/nqs/nqsstop")], capture_output=True, text=True,
                             env=installed.env, timeout=120, check=False)
    assert stopped.returncode == 0, stopped.stderr


def test_an_interpreter_closed_to_users_is_named_when_installing():
    """A venv or pyenv interpreter under root's 0700 home: the install says which directory bars users."""
    top = tempfile.mkdtemp(prefix="cjc-ops-closed-", dir="/tmp")
    try:
        os.chmod(top, 0o755)
        closed = os.path.join(top, "home")
        os.mkdir(closed, 0o700)
        os.symlink(USER_PYTHON, os.path.join(closed, "python3"))
        assert unreachable_by_users(os.path.join(closed, "python3")) is None  # a symlink: the real file decides
        python = os.path.join(closed, "python")
        shutil.copy(os.path.realpath(USER_PYTHON), python)
        assert unreachable_by_users(python) == closed
        done = subprocess.run([sys.executable, "-m", "cjc.cli.install", "--root", os.path.join(top, "root"),
                               "--python", python], capture_output=True, text=True, timeout=300, check=False,
                              env=dict(os.environ, PYTHONPATH=os.path.join(REPO, "plugins", "module_utils")))
        assert done.returncode == 0, done.stderr
        assert ("cjc-install: warning: users other than root cannot run %s (%s is closed to them): "
                "qsub, qstat, qdel, qmgr will fail for them" % (python, closed)) in done.stderr
    finally:
        shutil.rmtree(top)


def test_an_interpreter_without_psutil_is_refused_before_anything_is_written(tmp_path):
    done = make_install(str(tmp_path / "root"), "ENGINE_PYTHON=/bin/false")
    assert done.returncode != 0
    assert "cjc-install: interpreter /bin/false has no psutil, which the daemons need" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "root").exists()
    missing = make_install(str(tmp_path / "root"), "ENGINE_PYTHON=/nonexistent/python3")
    assert "cjc-install: interpreter /nonexistent/python3 cannot be run: No such file or directory" in missing.stderr
