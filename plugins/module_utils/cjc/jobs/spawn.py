"""Running one job: its user, its environment, its session, its output files.

A job runs (guide §2.5.4, §2.2.1):
  * under its owner's UID, primary GID and supplementary groups (looked up by UID:
    both nodes have identical UIDs), never as root unless root submitted it;
  * with a clean environment: the owner's HOME/USER/LOGNAME/SHELL, a fixed PATH,
    the variables given at submit, the NQS ``QSUB_*`` variables, and
    ``CJC_SITE_SPOOL`` (a mark only where no cgroup tracks the site, site/cgroup.py);
  * in the owner's home directory (``/`` when it has none);
  * as the leader of its own session and process group, so it ends as a unit.
stdout/stderr go to files in ``<spool>/output/`` while it runs and into the site
database (its tracker) when the run ends. Each is bounded by the site's
``job_output_limit``: nqsdaemon cuts a file past it while the job runs
(:func:`cap_output`), and what is kept ends with a marker line saying so.
"""

import json
import os
import pwd
import subprocess

from ..config.daemonconf import JOB_OUTPUT_LIMIT_DEFAULT
from ..site.processes import JOB_ENV, SPOOL_ENV

OUTPUT_DIR = "output"
SCRIPT_DIR = os.path.join("private", "scripts")
CUT_MARKER = b"\n[cjc: output cut here: more than %d bytes (job_output_limit)]\n"
JOB_PATH = "/usr/local/bin:/usr/bin:/bin"
DEFAULT_SHELL = "/bin/sh"


class JobStartError(Exception):
    """The job cannot be started here (its user does not exist, ...)."""


def output_paths(spool, job_id):
    base = os.path.join(spool, OUTPUT_DIR, str(job_id))
    return base + ".o", base + ".e"


def script_path(spool, job_id):
    return os.path.join(spool, SCRIPT_DIR, "%d.sh" % job_id)


def job_user(job):
    """The account ``job`` runs as: the one holding its UID here, which must still bear its owner's name.

    A UID is what a job runs under, the name is whom it was submitted for: an account that
    was renamed, or a UID given to someone else on this node since the submit (a node whose
    accounts differ, guide §2.2.1), would run the job as a person it does not belong to.
    Refused (JobStartError) instead; the tracker says why.
    """
    try:
        user = pwd.getpwuid(job.uid)
    except KeyError:
        raise JobStartError("user ID %d (%s) does not exist on this node: user IDs must be identical on "
                            "every node (§2.2.1)" % (job.uid, job.owner))
    try:
        named = pwd.getpwnam(job.owner).pw_uid == job.uid  # by name: an alias sharing the UID is still its owner
    except KeyError:
        named = False
    if not named:
        raise JobStartError("request owner %s is not the account holding user ID %d on this node (that is %s): "
                            "refused rather than run as %s; user names and IDs must be identical on every node "
                            "(§2.2.1)" % (job.owner, job.uid, user.pw_name, user.pw_name))
    return user


def job_environment(site, job, user):
    env = json.loads(job.env or "{}")
    env.update({
        "HOME": user.pw_dir, "USER": user.pw_name, "LOGNAME": user.pw_name,
        "SHELL": user.pw_shell or DEFAULT_SHELL, "PATH": JOB_PATH,
        "ENVIRONMENT": "BATCH",
        JOB_ENV: "%d.%s" % (job.id, site.name),
        "QSUB_REQNAME": job.name, "QSUB_QUEUE": job.queue, "QSUB_HOST": site.name,
        SPOOL_ENV: site.spool,
    })
    return env


def _identity(uid, gid, groups):
    """What a process may do as (``uid``, ``gid``, supplementary ``groups``): its primary group is a member."""
    return uid, gid, frozenset(groups) | {gid}


def spawn_job(site, job, stdin=None):
    """Start ``job`` (a :class:`~.jobstore.Job`); returns its Popen. Raises JobStartError.

    ``stdin``: an open file descriptor of /dev/null to share (saves an open per job).
    The job inherits no other descriptor of the daemon (``close_fds``): no lock, socket
    or database of the site is within its reach. It is born in the daemon's control
    group (site/cgroup.py), which it cannot leave: that is what keeps the site's lock
    held while it runs. Safe to call from several threads at once.
    """
    user = job_user(job)
    credentials = {}
    if os.geteuid() == 0:
        groups = os.getgrouplist(user.pw_name, user.pw_gid)
        # Same identity as the daemon (root jobs): no credential change, which lets
        # subprocess use vfork() -- several times cheaper than fork() of the daemon. The
        # primary group counts as a member either way: root's group list is [0] while a
        # daemon started without supplementary groups has [], the same identity.
        if _identity(user.pw_uid, user.pw_gid, groups) != _identity(os.getuid(), os.getgid(), os.getgroups()):
            credentials = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": groups}
    elif user.pw_uid != os.geteuid():
        raise JobStartError("nqsdaemon does not run as root and cannot run jobs of %s" % user.pw_name)
    script = script_path(site.spool, job.id)
    directory = os.path.dirname(script)
    if not os.path.isdir(directory):
        os.makedirs(directory, exist_ok=True)
        os.chmod(directory, 0o711)  # users reach their own script by name, list nothing
    fd = os.open(script, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o500)
    try:
        os.write(fd, bytes(job.script))
        if os.geteuid() == 0:
            os.fchown(fd, user.pw_uid, user.pw_gid)
    finally:
        os.close(fd)
    out_path, err_path = output_paths(site.spool, job.id)
    out = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
    err = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
    home = user.pw_dir if user.pw_dir and os.path.isdir(user.pw_dir) else "/"
    try:
        return subprocess.Popen([job.shell or DEFAULT_SHELL, script],
                                stdin=subprocess.DEVNULL if stdin is None else stdin,
                                stdout=out, stderr=err, cwd=home, env=job_environment(site, job, user),
                                start_new_session=True, close_fds=True, **credentials)
    except OSError as err_:
        raise JobStartError("cannot start the job: %s" % err_)
    finally:
        os.close(out)
        os.close(err)


def cap_output(spool, job_id, limit):
    """Cut the output files of a running job that grew past ``limit`` bytes.

    A file is cut to ``limit + 1`` bytes: the one byte more tells :func:`read_output`
    that the output was cut. The job keeps writing (its descriptors append), so a file
    stays within ``limit`` plus what the job writes between two calls; a job cannot
    fill the site's disk through its stdout or stderr for longer than that.
    """
    for path in output_paths(spool, job_id):
        try:
            if os.stat(path).st_size > limit + 1:
                os.truncate(path, limit + 1)
        except FileNotFoundError:
            pass


def _read_capped(path, limit):
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        return b""
    if len(data) > limit:
        data = data[:limit] + CUT_MARKER % limit
    return data


def run_files(spool, job_id):
    """The files of one run: stdout, stderr, script."""
    return output_paths(spool, job_id) + (script_path(spool, job_id),)


def read_output(spool, job_id, limit=JOB_OUTPUT_LIMIT_DEFAULT):
    """(stdout, stderr) bytes of a job's run so far, at most ``limit`` bytes per stream.

    The files stay: they are removed with :func:`remove_run_files` only after the end of the
    run (its output inside) has been committed, so a crash before the COMMIT loses nothing.
    """
    out_path, err_path = output_paths(spool, job_id)
    return _read_capped(out_path, limit), _read_capped(err_path, limit)


def remove_run_files(spool, job_ids):
    """Remove the output and script files of runs whose end has been committed."""
    for job_id in job_ids:
        for path in run_files(spool, job_id):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


def describe_status(status):
    """(exit status for the tracker, words) from a waitpid status."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return 128 + sig, "killed by signal %d" % sig
    code = os.waitstatus_to_exitcode(status)
    return code, "exit status %d" % code
