"""A job runs only as its owner (guide §2.2.1): a real account renamed after the submit.

The user is made with ``useradd`` for this file alone (not the shared test users: it is
renamed here) and removed at the end, whatever happened.
"""

import pwd
import subprocess

import pytest

from jobsite import Node, make_root, remove_root

OWNER, RENAMED, UID = "cjctown", "cjctrenamed", 23091


def _userdel():
    for name in (OWNER, RENAMED):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        subprocess.run(["userdel", "-r", name], capture_output=True)


@pytest.fixture
def owner():
    _userdel()
    subprocess.run(["useradd", "-u", str(UID), "-U", "-m", "-d", "/tmp/cjct-home-%s" % OWNER, "-s", "/bin/sh", OWNER],
                   check=True, capture_output=True)
    yield OWNER
    _userdel()
    subprocess.run(["groupdel", OWNER], capture_output=True)


@pytest.fixture
def site():
    layout = make_root()
    node = Node(layout)
    node.start_daemon("logdaemon")
    node.daemon = node.start()
    yield node
    node.cleanup()
    remove_root(layout)


def test_a_job_whose_owner_was_renamed_is_refused_not_run_as_the_new_name(site, owner, tmp_path):
    marker = tmp_path / "ran"
    site.qmgr("stop queue guibs_1")  # the request stays QUEUED while the account changes
    job_id = site.qsub("touch %s\n" % marker, user=owner)
    site.wait_state(job_id, "QUEUED")
    subprocess.run(["usermod", "-l", RENAMED, owner], check=True, capture_output=True)
    assert pwd.getpwuid(UID).pw_name == RENAMED
    site.qmgr("start queue guibs_1")
    job = site.wait_state(job_id, "EXITED")
    assert job["exit_status"] is None and job["runs"] <= 1
    reason = site.tracker(job_id)["events"][-1]["message"]
    assert reason.startswith("could not start: request owner %s is not the account holding user ID %d" % (OWNER, UID))
    assert "(that is %s)" % RENAMED in reason
    assert not marker.exists()


def test_a_job_whose_uid_now_belongs_to_another_account_is_refused(site, owner, tmp_path):
    """The owner moved to another UID and its old UID was given to a new account: the job runs
    neither as the new holder of the UID nor as anyone else."""
    marker = tmp_path / "ran"
    site.qmgr("stop queue guibs_1")
    job_id = site.qsub("touch %s\n" % marker, user=owner)
    site.wait_state(job_id, "QUEUED")
    subprocess.run(["usermod", "-u", str(UID + 1), owner], check=True, capture_output=True)
    subprocess.run(["useradd", "-u", str(UID), "-g", owner, "-M", "-s", "/bin/sh", RENAMED], check=True, capture_output=True)
    site.qmgr("start queue guibs_1")
    job = site.wait_state(job_id, "EXITED")
    assert job["exit_status"] is None
    reason = site.tracker(job_id)["events"][-1]["message"]
    assert reason.startswith("could not start: request owner %s is not the account holding user ID %d" % (OWNER, UID))
    assert "(that is %s)" % RENAMED in reason
    assert not marker.exists()


def test_a_job_of_an_unchanged_owner_runs(site, owner, tmp_path):
    job_id = site.qsub("id -un\n", user=owner)
    job = site.wait_state(job_id, "EXITED")
    assert job["exit_status"] == 0
    assert site.tracker(job_id)["outputs"][-1]["stdout"] == OWNER + "\n"
