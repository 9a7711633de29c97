"""Install the engine on a node: the package, the commands at their documented paths,
the documented directory tree and the local site's identity.

Idempotent by content: a second run changes nothing and says so. Used by
``make install-engine ROOT=DIR`` and by the ``cjc.cluster.engine`` role.
"""

import filecmp
import hashlib
import os
import shutil
import subprocess
import tarfile

from ..ocf import agent
from ..jobs import store
from ..config.fileio import write_atomic
from ..errors import InstallError
from ..site.registry import SITEINFO, read_siteinfo, write_siteinfo

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the cjc package

# documented path -> module (inside the cjc package) whose main() it runs
COMMANDS = {
    "/usr/lib/nqs/cluster/cjcmksite": "cli.cjcmksite",
    "/usr/lib/nqs/cluster/cjcls": "cli.cjcls",
    "/usr/lib/nqs/cluster/cjcpw": "cli.cjcpw",
    "/usr/lib/nqs/cluster/cjcbackup": "cli.cjcbackup",
    "/usr/lib/nqs/cluster/cjcrestore": "cli.cjcrestore",
    "/usr/lib/nqs/nqsstart": "cli.nqsstart",
    "/usr/lib/nqs/nqsstop": "cli.nqsstop",
    "/usr/lib/nqs/nqsportkpr": "cli.nqsportkpr",
    "/usr/bin/qsub": "cli.qsub",
    "/usr/bin/qstat": "cli.qstat",
    "/usr/bin/qdel": "cli.qdel",
    "/usr/bin/qmgr": "cli.qmgr",
    "/usr/lib/nqs/combase/comagent": "daemons.comagent",
    "/usr/lib/nqs/nqsdaemon": "daemons.nqsdaemon",
    "/usr/lib/nqs/netdaemon": "daemons.netdaemon",
    "/usr/lib/nqs/logdaemon": "daemons.logdaemon",
}

DIRECTORIES = ("/usr/lib/nqs", "/usr/lib/nqs/cluster", "/usr/lib/nqs/rc", "/usr/lib/nqs/etc",
               "/usr/lib/nqs/lib", "/usr/lib/nqs/combase", "/usr/spool/nqs", "/usr/spool/nqs/run", "/usr/spool/nqs/log",
               "/usr/spool/nqs/output", "/usr/spool/nqs/private", "/usr/bin")

# The user commands start without the site module (-S): they need only the standard library,
# and site's scan of site-packages is a tenth of a qsub (docs/job-engine.md, "Command start").
LEAN_COMMANDS = ("/usr/bin/qsub", "/usr/bin/qstat", "/usr/bin/qdel", "/usr/bin/qmgr")

WRAPPER = """#!{python}{flags}
# {documented}: a command of the cjc engine ({lib}/cjc). Installed by cjc; do not edit.
import sys
sys.path.insert(0, {lib!r})
from cjc.{module} import main
sys.exit(main())
"""


def _ensure_dir(path, changed, check=False):
    if check:  # report only (cjc-install --check)
        if not os.path.isdir(path) or os.stat(path).st_mode & 0o7777 != 0o755:
            changed.append(path)
        return
    if not os.path.isdir(path):
        os.makedirs(path)
        changed.append(path)
    if os.stat(path).st_mode & 0o7777 != 0o755:
        os.chmod(path, 0o755)
        changed.append(path)


def _ensure_file(path, text, mode, changed, check=False):
    try:
        with open(path, encoding="utf-8") as handle:
            same = handle.read() == text
    except (FileNotFoundError, UnicodeDecodeError):
        same = False
    if check:  # report only (cjc-install --check)
        if not same or os.stat(path).st_mode & 0o7777 != mode:
            changed.append(path)
        return
    if not same:
        write_atomic(path, text, mode)
        changed.append(path)
    if os.stat(path).st_mode & 0o7777 != mode:
        os.chmod(path, mode)
        changed.append(path)


def _package_files(package, relative=""):
    """Relative paths of the package's ``.py`` files, sub-packages included, sorted."""
    files = []
    for entry in sorted(os.listdir(package)):
        path = os.path.join(package, entry)
        if os.path.isdir(path) and os.path.exists(os.path.join(path, "__init__.py")):
            files += _package_files(path, os.path.join(relative, entry))
        elif entry.endswith(".py"):
            files.append(os.path.join(relative, entry))
    return files


def package_fingerprint(package=PACKAGE_DIR):
    """SHA-256 over the package's file names and contents: equal means the same engine.

    The engine role compares the controller's fingerprint with the installed copy's to
    skip the transfer when a node is already up to date (a re-run is cheap).
    """
    digest = hashlib.sha256()
    for relative in _package_files(package):
        with open(os.path.join(package, relative), "rb") as handle:
            content = handle.read()
        digest.update(b"%s\0%d\0" % (relative.encode(), len(content)))
        digest.update(content)
    return digest.hexdigest()


def installed_fingerprint(layout):
    """Fingerprint of the package installed under ``layout``, or None when there is none."""
    package = os.path.join(layout.engine_lib, "cjc")
    if not os.path.isfile(os.path.join(package, "__init__.py")):
        return None
    return package_fingerprint(package)


def pack_package(archive, package=PACKAGE_DIR):
    """Write the package's ``.py`` files (what an install copies) to the ``tar.gz`` ``archive``."""
    with tarfile.open(archive, "w:gz") as tar:
        for relative in _package_files(package):
            tar.add(os.path.join(package, relative), arcname=relative, recursive=False)


def unpack_package(archive, directory):
    """Unpack a ``tar.gz`` of the package into ``directory``; returns the package directory.

    The archive comes from the controller (the ``cjc_engine`` action plugin packs this
    package); a member that is not a plain file or directory inside ``directory`` is refused
    rather than trusted, so a damaged or foreign archive cannot write elsewhere.
    """
    with tarfile.open(archive, "r:gz") as tar:
        members = tar.getmembers()
        for member in members:
            path = os.path.normpath(os.path.join(directory, member.name))
            if not (member.isfile() or member.isdir()) or not (path + "/").startswith(directory.rstrip("/") + "/"):
                raise InstallError("%s: member %r is not a file of the engine package" % (archive, member.name))
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(directory, members=members, **safe)  # every member checked above
    return check_package(directory)


def check_package(directory):
    """``directory`` if it holds an engine package (``__init__.py`` and ``plan/install.py``), else InstallError."""
    if not all(os.path.isfile(os.path.join(directory, *p)) for p in (("__init__.py",), ("plan", "install.py"))):
        raise InstallError("%s does not hold the cjc engine package" % directory)
    return directory


def _sync_package(source, target, changed, check=False):
    """Make ``target`` an exact copy of the package's ``.py`` files."""
    _ensure_dir(target, changed, check)
    wanted = set()
    for entry in sorted(os.listdir(source)):
        src = os.path.join(source, entry)
        dst = os.path.join(target, entry)
        if os.path.isdir(src) and os.path.exists(os.path.join(src, "__init__.py")):
            wanted.add(entry)
            _sync_package(src, dst, changed, check)
        elif entry.endswith(".py"):
            wanted.add(entry)
            if not (os.path.isfile(dst) and filecmp.cmp(src, dst, shallow=False)):
                if not check:
                    shutil.copyfile(src, dst)
                changed.append(dst)
            if not check and os.stat(dst).st_mode & 0o7777 != 0o644:
                os.chmod(dst, 0o644)
    for entry in (os.listdir(target) if os.path.isdir(target) else []):
        path = os.path.join(target, entry)
        if entry not in wanted and entry != "__pycache__":
            if not check:
                shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)
            changed.append(path)


def _compile_package(python, package):
    """Byte-compile the installed package with the interpreter the commands run with.

    A cache, not content: never reported as a change. Without it every daemon start
    compiles the engine again (PYTHONDONTWRITEBYTECODE, or a read-only lib directory),
    which is most of a site's boot time on a small node.
    """
    subprocess.run([python, "-m", "compileall", "-q", package], check=True, stdout=subprocess.DEVNULL)


def install_engine(layout, python, local_machine_id=None, check=False, source=PACKAGE_DIR):
    """Install the package at ``source`` onto ``layout``; returns the paths changed (empty: nothing to do).

    ``check=True`` changes nothing and returns the paths a real run would change.
    """
    changed = []
    for directory in DIRECTORIES:
        _ensure_dir(layout.path(directory), changed, check)
    lib = layout.engine_lib
    package = os.path.join(lib, "cjc")
    synced_before = len(changed)
    _sync_package(source, package, changed, check)
    if not check and (len(changed) > synced_before or not os.path.isdir(os.path.join(package, "__pycache__"))):
        _compile_package(python, package)
    for documented, module in sorted(COMMANDS.items()):
        text = WRAPPER.format(python=python, flags=" -S" if documented in LEAN_COMMANDS else "", documented=documented,
                              lib=lib, module=module)
        _ensure_file(layout.path(documented), text, 0o755, changed, check)
    # the OCF resource agent ocf:cjc:cjcsite where Pacemaker looks for it
    _ensure_dir(layout.path(os.path.dirname(agent.AGENT_PATH)), changed, check)
    _ensure_file(layout.path(agent.AGENT_PATH), agent.agent_script(python, lib), 0o755, changed, check)
    if read_siteinfo(layout.spool) is None and local_machine_id is not None:
        siteinfo = os.path.join(layout.spool, SITEINFO)
        if not check:
            write_siteinfo(layout.spool, int(local_machine_id))
        changed.append(siteinfo)
    # The local site's database (queues, jobs): made once, upgraded when the engine is newer.
    if not os.path.isfile(store.db_path(layout.spool)) or _store_outdated(layout.spool):
        changed.append(store.db_path(layout.spool) if check else store.create_store(layout.spool))
    return changed


def _store_outdated(spool):
    with store.Store(store.db_path(spool)) as db:
        return db.version() < store.SCHEMA_VERSION
