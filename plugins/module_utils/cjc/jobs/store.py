"""The site database: queues, jobs (requests), trackers, managers, machines, user maps.

One SQLite file per site, ``<spool>/private/nqs.db``, so moving the disk moves the
site (docs/engine.md). Durability (guide §2.5.4): WAL journal with ``synchronous=FULL``;
a transaction that returned has been fsynced, so a committed submit survives a
power loss or a SIGKILL at any instant.

Contract of this module:
  * every write happens inside :meth:`Store.transaction` (``BEGIN IMMEDIATE``,
    commit on success, rollback on any exception): all or nothing;
  * bound parameters only, never SQL built from values;
  * the schema carries a version (``PRAGMA user_version``); :func:`open_store`
    upgrades an older database once, forward only, inside one transaction, and
    refuses a database newer than this engine with :class:`StoreError`.
"""

import contextlib
import errno
import os
import signal
import sqlite3
import sys
import time
import urllib.parse

from ..config.fileio import fsync_file
from ..errors import CjcError

DB_NAME = "nqs.db"
DB_DIR = "private"

# Queue and job vocabulary (guide §2.5.4, NQS).
BATCH, PIPE = "BATCH", "PIPE"
RESTART_ATTRIBUTES = ("RESTART", "PURGE", "STOP", "MIGRATION_PURGE", "MIGRATION_STOP")
RESTART_FLAGS = ("ENABLE", "DISABLE")
QUEUED, RUNNING, EXITED, DELETED, MIGRATED = "QUEUED", "RUNNING", "EXITED", "DELETED", "MIGRATED"
# ROUTING: being handed to another site (sent, or about to be, the answer not yet recorded);
# see docs/job-engine.md "Routing to another site".
ROUTING = "ROUTING"
JOB_STATES = (QUEUED, RUNNING, ROUTING, EXITED, DELETED, MIGRATED)

DEFAULT_PIPE_QUEUE = "guilb_def"
DEFAULT_BATCH_QUEUE = "guibs_1"

# Forward migrations: MIGRATIONS[n] brings a database from version n to n + 1.
MIGRATIONS = (
    # 0 -> 1: queues, jobs and their trackers.
    """
    CREATE TABLE queues (
        name TEXT PRIMARY KEY,
        type TEXT NOT NULL CHECK (type IN ('BATCH', 'PIPE')),
        priority INTEGER NOT NULL DEFAULT 10,
        run_limit INTEGER NOT NULL DEFAULT 1,
        enabled INTEGER NOT NULL DEFAULT 1,
        started INTEGER NOT NULL DEFAULT 1,
        restart TEXT NOT NULL DEFAULT 'RESTART',
        destination TEXT,
        created REAL NOT NULL
    );
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        queue TEXT NOT NULL,
        owner TEXT NOT NULL,
        uid INTEGER NOT NULL,
        state TEXT NOT NULL,
        restart TEXT NOT NULL DEFAULT 'ENABLE',
        script BLOB NOT NULL,
        shell TEXT,
        env TEXT NOT NULL DEFAULT '{}',
        submitted REAL NOT NULL,
        started REAL,
        ended REAL,
        exit_status INTEGER,
        pid INTEGER,
        host TEXT,
        runs INTEGER NOT NULL DEFAULT 0,
        delete_reason TEXT,
        kill_signal INTEGER,
        reason TEXT,
        origin TEXT
    );
    CREATE INDEX jobs_by_state ON jobs (state, queue);
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        job_id INTEGER NOT NULL,
        at REAL NOT NULL,
        state TEXT NOT NULL,
        message TEXT NOT NULL
    );
    CREATE INDEX events_by_job ON events (job_id);
    CREATE TABLE outputs (
        job_id INTEGER NOT NULL,
        run INTEGER NOT NULL,
        stdout BLOB NOT NULL,
        stderr BLOB NOT NULL,
        exit_status INTEGER,
        started REAL,
        ended REAL,
        how TEXT NOT NULL,
        PRIMARY KEY (job_id, run)
    );
    CREATE TABLE managers (name TEXT PRIMARY KEY);
    """,
    # 1 -> 2: migration destinations and the network (machine IDs, user mapping, guide §2.2.1).
    """
    ALTER TABLE queues ADD COLUMN migration_dest TEXT;
    CREATE TABLE machines (
        machine_id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        address TEXT NOT NULL,
        port INTEGER NOT NULL
    );
    CREATE TABLE user_map (
        machine_id INTEGER NOT NULL,
        remote_user TEXT NOT NULL,
        local_user TEXT NOT NULL,
        PRIMARY KEY (machine_id, remote_user)
    );
    """,
    # 2 -> 3: exactly-once routing between sites. A job that came from another site carries the
    # key (origin machine ID, origin request number), unique here, so a re-send finds the job
    # made by the first send; a job being routed out records where to (``routed_to``) so that
    # every re-send goes to the same place.
    """
    ALTER TABLE jobs ADD COLUMN origin_mid INTEGER;
    ALTER TABLE jobs ADD COLUMN origin_job INTEGER;
    ALTER TABLE jobs ADD COLUMN routed_to TEXT;
    CREATE UNIQUE INDEX jobs_by_origin ON jobs (origin_mid, origin_job) WHERE origin_mid IS NOT NULL;
    """,
    # 3 -> 4: nonces of the peer frames served, kept until their credentials expire (net/credential.py).
    """
    CREATE TABLE peer_nonces (
        nonce TEXT PRIMARY KEY,
        machine_id INTEGER NOT NULL,
        expires REAL NOT NULL
    );
    CREATE INDEX peer_nonces_by_expiry ON peer_nonces (expires);
    """,
    # 4 -> 5: retention (docs/job-engine.md "Retention"): finished requests by the time they ended, so
    # that nqsdaemon finds the expired ones without a scan, however many are kept (the term is
    # jobstore.py's _FINISHED_TERM, which must repeat it).
    """
    CREATE INDEX jobs_finished_by_end ON jobs (ended) WHERE state IN ('EXITED', 'DELETED', 'MIGRATED');
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


# Crash-test hook, off by default: when CJC_STORE_FAULT names a file, a
# transaction that wrote rows and is about to COMMIT checks that file; if it exists
# and holds this program's name (basename of argv[0], e.g. ``nqsdaemon``) or nothing,
# the process removes it (so exactly one process fires) and SIGKILLs itself: the
# write is done, the commit never happens. ``nqsdaemon confirm_routed`` (program and
# operation) fires only in a transaction named so (:meth:`Store.transaction`).
# Only the crash-torture tests set it.
FAULT_ENV = "CJC_STORE_FAULT"
_FAULT_FILE = os.environ.get(FAULT_ENV)


def _fault_point(operation):
    try:
        with open(_FAULT_FILE, encoding="utf-8") as handle:
            who, _space, where = handle.read().strip().partition(" ")
    except OSError:
        return
    if who and who != os.path.basename(sys.argv[0] if sys.argv else ""):
        return
    if where and where != operation:
        return
    try:
        os.unlink(_FAULT_FILE)
    except OSError:
        return  # another process fired it first
    os.kill(os.getpid(), signal.SIGKILL)


class StoreError(CjcError):
    """The site database is missing, newer than this engine, or unusable."""


class SiteDiskFull(StoreError):
    """The site's disk has no room for a write: nothing of that write was recorded."""


_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def disk_full(err):
    """Whether exception ``err`` says the site's disk (or the user's quota) is full."""
    if isinstance(err, SiteDiskFull):
        return True
    if isinstance(err, OSError):
        return err.errno in _FULL_ERRNOS
    return isinstance(err, sqlite3.OperationalError) and (
        getattr(err, "sqlite_errorname", "") == "SQLITE_FULL" or "disk is full" in str(err))


def site_disk_full(path, err):
    """The SiteDiskFull to raise for ``err`` about the database (or spool file) ``path``."""
    return SiteDiskFull("site disk full: %s could not be written (%s); nothing of it was recorded: "
                        "free space on the site's disk" % (path, err))


def db_path(spool):
    """Where the site database of the site with ``spool`` lives."""
    return os.path.join(spool, DB_DIR, DB_NAME)


class Store:
    """One connection to a site database. Not shared between threads or processes."""

    def __init__(self, path, create=False):
        self.path = path
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, one place only.
        # mode=rw unless creating: opening never makes a database where there was none.
        uri = "file:%s?mode=%s" % (urllib.parse.quote(os.path.abspath(path)), "rwc" if create else "rw")
        self.db = sqlite3.connect(uri, timeout=60, isolation_level=None, uri=True)
        self.db.row_factory = sqlite3.Row
        mode = self.db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise StoreError("%s: cannot switch the site database to WAL mode (got %s)" % (path, mode))
        self.db.execute("PRAGMA synchronous=FULL")  # guide §2.5.4: survive power loss

    def close(self):
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @contextlib.contextmanager
    def transaction(self, operation=None):
        """``with store.transaction() as db:`` -- a write transaction, all or nothing.

        ``BEGIN IMMEDIATE`` takes the write lock at once (no upgrade deadlocks);
        the commit is durable when the block returns. ``operation`` names it for
        the crash-test hook only.
        """
        self.db.execute("BEGIN IMMEDIATE")
        changes = self.db.total_changes
        try:
            yield self.db
            if _FAULT_FILE and self.db.total_changes != changes:
                _fault_point(operation)
            self.db.execute("COMMIT")
        except BaseException as err:
            if self.db.in_transaction:  # a failed COMMIT (SQLITE_FULL) may leave it open
                self.db.execute("ROLLBACK")
            if disk_full(err) and not isinstance(err, SiteDiskFull):
                raise site_disk_full(self.path, err) from err
            raise

    @contextlib.contextmanager
    def snapshot(self):
        """``with store.snapshot() as db:`` -- a consistent read-only view."""
        self.db.execute("BEGIN")
        try:
            yield self.db
        finally:
            self.db.execute("ROLLBACK")

    def version(self):
        return self.db.execute("PRAGMA user_version").fetchone()[0]


def _migrate(store, target=SCHEMA_VERSION):
    """Bring the database to ``target`` in one transaction; returns the version found."""
    with store.transaction() as db:
        found = db.execute("PRAGMA user_version").fetchone()[0]
        if found > SCHEMA_VERSION:
            raise StoreError("site database %s has schema version %d, newer than this engine knows "
                             "(%d): install the newer engine on this node (both nodes must run the "
                             "same engine version)" % (store.path, found, SCHEMA_VERSION))
        for version in range(found, target):
            for statement in MIGRATIONS[version].split(";"):
                if statement.strip():
                    db.execute(statement)
        if target > found:
            # PRAGMA takes no bound parameters; target is an int from this module.
            db.execute("PRAGMA user_version=%d" % int(target))
        if found == 0 and target >= 1:
            _create_default_queues(db)
    return found


def _create_default_queues(db):
    """Every new site has the pipe queue guilb_def routing to the batch queue guibs_1."""
    now = time.time()
    db.execute("INSERT INTO queues (name, type, priority, run_limit, destination, created) "
               "VALUES (?, ?, 10, 1, ?, ?)", (DEFAULT_PIPE_QUEUE, PIPE, DEFAULT_BATCH_QUEUE, now))
    db.execute("INSERT INTO queues (name, type, priority, run_limit, created) VALUES (?, ?, 10, 1, ?)",
               (DEFAULT_BATCH_QUEUE, BATCH, now + 1e-6))


def create_store(spool, target=SCHEMA_VERSION):
    """Create (or upgrade) the site database of ``spool``; idempotent. Returns its path.

    ``target`` exists for tests that need an old-version database.
    """
    directory = os.path.join(spool, DB_DIR)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    path = db_path(spool)
    if os.path.exists(path):
        check_database_file(path)
    with Store(path, create=True) as store:
        _migrate(store, target)
    # Scripts and environments of every user are inside: root only (the -wal and -shm
    # files SQLite makes take this mode too). Users reach it through nqsdaemon.
    os.chmod(path, 0o600)
    return path


def open_store(spool):
    """The Store of the site with ``spool``, upgraded to this engine's schema; or StoreError."""
    path = db_path(spool)
    if not os.path.isfile(path):
        raise StoreError("no site database at %s: make the site with cjcmksite (cluster site) or "
                         "install the engine (local site)" % path)
    check_database_file(path)
    try:
        store = Store(path)
    except sqlite3.DatabaseError as err:
        raise StoreError("site database %s cannot be opened: %s" % (path, _database_error(err)))
    try:
        if store.version() != SCHEMA_VERSION:
            _migrate(store)
    except sqlite3.DatabaseError as err:
        store.close()
        raise StoreError("site database %s cannot be read: %s" % (path, _database_error(err)))
    except BaseException:
        store.close()
        raise
    return store


def _database_error(err):
    if "not a database" in str(err):
        return "it is not an SQLite database: refused and left as it is; restore it from a backup " \
               "(only cjcmksite makes a site database)"
    return str(err)


def check_database_file(path):
    """Refuse an empty site database file before SQLite sees it.

    SQLite takes a zero-length file for an empty database and writes a new one into it:
    a site database truncated by a full or failing disk would silently become an empty
    site. A file that is not SQLite at all SQLite refuses itself, without writing
    (:class:`Store`). Only ``stat``: opening and closing the file would drop the POSIX
    locks SQLite holds on it through this process's other connections.
    """
    try:
        size = os.stat(path).st_size
    except OSError as err:
        raise StoreError("site database %s cannot be read: %s" % (path, err.strerror))
    if size == 0:
        raise StoreError("site database %s is empty (0 bytes): refused and left as it is; restore it from a backup "
                         "(only cjcmksite makes a site database)" % path)


def copy_database(source, target):
    """Copy the site database file ``source`` to the new file ``target`` (root only, 0600) with
    SQLite's online backup API; returns the copy's schema version.

    The copy is taken in one read transaction, so it is the database as committed at one
    instant, while the site's daemons keep writing (WAL readers do not block writers). It is
    left as one self-contained file (journal mode DELETE: no ``-wal`` beside it) and must pass
    ``PRAGMA integrity_check``, else StoreError and ``target`` is removed. A file copy of a
    live WAL database could miss committed transactions or catch a page half-written.
    """
    check_database_file(source)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    try:
        reader = _read_only(source)
        writer = sqlite3.connect(target, isolation_level=None)
        try:
            reader.backup(writer)
            writer.execute("PRAGMA journal_mode=DELETE")
            verdict = writer.execute("PRAGMA integrity_check").fetchone()[0]
            version = writer.execute("PRAGMA user_version").fetchone()[0]
        finally:
            writer.close()
            reader.close()
        if verdict != "ok":
            raise StoreError("the copy of %s fails SQLite's integrity check (%s)" % (source, verdict))
        if version > SCHEMA_VERSION:
            raise StoreError("site database %s has schema version %d, newer than this engine knows (%d): "
                             "use the engine that wrote it" % (source, version, SCHEMA_VERSION))
        os.chmod(target, 0o600)
        fsync_file(target)
    except sqlite3.DatabaseError as err:
        os.unlink(target)
        if disk_full(err):
            raise site_disk_full(target, err) from err
        raise StoreError("site database %s cannot be copied: %s" % (source, _database_error(err)))
    except BaseException:
        os.unlink(target)
        raise
    return version


def _read_only(path):
    """A read-only connection to the database file ``path``: its journal mode is left as it is."""
    return sqlite3.connect("file:%s?mode=ro" % urllib.parse.quote(os.path.abspath(path)), uri=True, timeout=60)


def census(path):
    """What the site database file ``path`` holds, counted in one read transaction: ``tables``
    (rows of every table), ``jobs_by_state``, ``queues`` (names) and ``job_ids`` (sorted).
    A backup's manifest records it; a restore is checked against it."""
    check_database_file(path)
    db = _read_only(path)
    try:
        db.execute("BEGIN")
        tables = [row[0] for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        counts = {}
        for table in tables:  # names read from this database's sqlite_master, quoted as identifiers
            counts[table] = db.execute('SELECT COUNT(*) FROM "%s"' % table.replace('"', '""')).fetchone()[0]
        states = dict(db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state ORDER BY state").fetchall())
        queues = [row[0] for row in db.execute("SELECT name FROM queues ORDER BY name")]
        job_ids = [row[0] for row in db.execute("SELECT id FROM jobs ORDER BY id")]
    except sqlite3.DatabaseError as err:
        raise StoreError("site database %s cannot be read: %s" % (path, _database_error(err)))
    finally:
        db.close()
    return {"tables": counts, "jobs_by_state": states, "queues": queues, "job_ids": job_ids}
