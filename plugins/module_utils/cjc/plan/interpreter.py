"""The interpreter the installed commands run with: it must start, import psutil (the
daemons use it) and, for qsub, qstat, qdel and qmgr, be runnable by every user.

A virtualenv or pyenv interpreter under root's home directory passes the first two and
fails the third: the user commands then end in "Permission denied" (README, "Install").
"""

import os
import stat
import subprocess

from ..errors import InstallError


def check_interpreter(python):
    """Raise InstallError unless ``python`` runs and imports psutil (what every daemon needs)."""
    try:
        done = subprocess.run([python, "-c", "import psutil"], capture_output=True, text=True, timeout=60,
                              check=False)
    except OSError as err:
        raise InstallError("interpreter %s cannot be run: %s" % (python, err.strerror)) from None
    if done.returncode != 0:
        raise InstallError("interpreter %s has no psutil, which the daemons need: install python3-psutil "
                           "(Debian) or choose another with --python" % python)


def unreachable_by_users(python):
    """The first path that keeps users other than root from running ``python``, or None.

    Every directory on the way to the real file needs execute permission for others, and
    the file itself execute permission for others (group and ACL grants are not counted:
    the commands are for every user).
    """
    real = os.path.realpath(python)
    directory = os.path.dirname(real)
    ancestors = []
    while True:
        ancestors.append(directory)
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    for directory in reversed(ancestors):
        if not os.stat(directory).st_mode & stat.S_IXOTH:
            return directory
    return None if os.stat(real).st_mode & stat.S_IXOTH else real
