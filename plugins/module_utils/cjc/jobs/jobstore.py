"""The job store: the one place where jobs, queues and their events change (docs/job-engine.md).

Every public method of :class:`JobStore` is one named operation, atomic (one
``BEGIN IMMEDIATE`` transaction: all of it is committed, durably, or none of it),
and returns plain values or dataclasses, never a connection or a row. Every state
change of a job goes through :func:`_move`, which allows only the moves of
:data:`TRANSITIONS` and writes the job's event; nothing else updates ``jobs.state``.

Network I/O never happens inside a transaction: routing to another site is
``route_out`` (one transaction), the call (none), then ``confirm_routed`` or
``release_route`` (a second one); see "Routing to another site" in docs/job-engine.md.
"""

import base64
import dataclasses
import json
import re
import socket
import time

from ..errors import NqsError
from .store import BATCH, DELETED, EXITED, MIGRATED, PIPE, QUEUED, RESTART_ATTRIBUTES, ROUTING, RUNNING, StoreError

FINISHED = (EXITED, DELETED, MIGRATED)  # final states: nothing leaves them, retention may purge them
# The term of the partial index jobs_finished_by_end (store.py), literally: SQLite uses a partial
# index only for a query that repeats its term, never with bound parameters.
_FINISHED_TERM = "state IN (%s)" % ", ".join("'%s'" % state for state in FINISHED)

# Every allowed state change of a job, (from, to) -> what it is. _move refuses anything else,
# and tests/unit/plugins/module_utils/cjc/jobs/test_transitions.py walks the whole table.
TRANSITIONS = {
    (QUEUED, QUEUED): "routed from a pipe queue to a local queue",
    (QUEUED, RUNNING): "claimed for dispatch: a run starts",
    (QUEUED, DELETED): "deleted (qdel) before it ran",
    (QUEUED, ROUTING): "being routed to another site",
    (RUNNING, RUNNING): "a signal was asked for (qdel), or the run was interrupted by a site stop",
    (RUNNING, EXITED): "the run ended, or could not start",
    (RUNNING, DELETED): "deleted while it ran, or by the restart rules after an interruption",
    (RUNNING, QUEUED): "re-queued by the restart rules after an interruption, or its start refused by a full disk",
    (RUNNING, ROUTING): "being migrated to another site by the restart rules",
    (ROUTING, ROUTING): "sent again after a crash left the answer unrecorded",
    (ROUTING, MIGRATED): "the other site took it (its request number recorded)",
    (ROUTING, QUEUED): "the other site was not reached or refused: waits (pipe) or re-queued (restart rules)",
    (ROUTING, DELETED): "deleted by the restart rules: the migration destination was not reached",
}
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$")

# Columns _move may set besides the state; names come from this module, never from input.
_MOVE_COLUMNS = ("queue", "reason", "started", "ended", "exit_status", "pid", "host", "runs", "delete_reason",
                 "kill_signal", "routed_to")


class JobMoveError(StoreError):
    """A job was not in a state the operation moves from (the table forbids it, or it changed meanwhile)."""


@dataclasses.dataclass(frozen=True)
class Job:
    """One job (request) as recorded; ``script`` is bytes, ``env`` the JSON text given at submit."""
    id: int
    name: str
    queue: str
    owner: str
    uid: int
    state: str
    restart: str
    script: bytes
    shell: str
    env: str
    submitted: float
    started: float
    ended: float
    exit_status: int
    pid: int
    host: str
    runs: int
    delete_reason: str
    kill_signal: int
    reason: str
    origin: str
    origin_mid: int
    origin_job: int
    routed_to: str

    @classmethod
    def from_row(cls, row):
        """The Job of a row selected with :data:`_JOB_COLUMNS` (that order)."""
        return _from_row(cls, _JOB_FIELDS, row)


@dataclasses.dataclass(frozen=True)
class InterruptedRun:
    """What the restart rules read of a job recorded RUNNING when the site starts (its run was
    interrupted): what they decide on and what the tracker records, not the script or the
    environment (a start may read thousands: bench/recovery_time.py)."""
    id: int
    queue: str
    restart: str
    runs: int
    started: float
    delete_reason: str

    @classmethod
    def from_row(cls, row):
        """The InterruptedRun of a row selected with :data:`_INTERRUPTED_COLUMNS` (that order)."""
        return _from_row(cls, _INTERRUPTED_FIELDS, row)


def _from_row(cls, fields, row, _new=object.__new__):
    """An instance of the frozen dataclass ``cls`` holding ``row`` (its ``fields``, in order).

    Filled without the generated ``__init__`` (frozen: one ``object.__setattr__`` per field),
    at a quarter of its cost: a site start reads every interrupted job (bench/recovery_time.py).
    """
    made = _new(cls)
    made.__dict__.update(zip(fields, row))
    return made


_JOB_FIELDS = tuple(field.name for field in dataclasses.fields(Job))
_JOB_COLUMNS = ", ".join(_JOB_FIELDS)
_JOB_COLUMNS_OF_J = ", ".join("j." + field.name for field in dataclasses.fields(Job))
_INTERRUPTED_FIELDS = tuple(field.name for field in dataclasses.fields(InterruptedRun))
_INTERRUPTED_COLUMNS = ", ".join(_INTERRUPTED_FIELDS)


@dataclasses.dataclass(frozen=True)
class Queue:
    """One queue's settings (guide §2.5.4)."""
    name: str
    type: str
    priority: int
    run_limit: int
    enabled: bool
    started: bool
    restart: str
    destination: str
    migration_dest: str

    @classmethod
    def from_row(cls, row):
        values = dict(row)
        values["enabled"], values["started"] = bool(values["enabled"]), bool(values["started"])
        return cls(**{field.name: values[field.name] for field in dataclasses.fields(cls)})


@dataclasses.dataclass(frozen=True)
class RunEnd:
    """How one run ended: ``exit_status`` (None: it could not start) and ``words`` saying how;
    ``during_stop``: it ended after the site stop sent SIGTERM to every job."""
    job_id: int
    exit_status: int
    words: str
    during_stop: bool = False


@dataclasses.dataclass(frozen=True)
class RecoveryDecision:
    """What the restart rules decided for one interrupted job (see :mod:`.restart`): the
    ``action`` (requeue, delete, migrate) and the move it makes.

    ``to``: QUEUED (re-queued, into ``queue``), DELETED, or ROUTING (to ``routed_to``, another
    site; the outcome of the call is recorded afterwards by :meth:`JobStore.settle_recovery`
    as MIGRATED or the fallback QUEUED / DELETED).
    """
    job_id: int
    action: str
    to: str
    reason: str
    event: str
    queue: str
    stop_queue: bool
    routed_to: str = None


def is_manager(db, caller):
    """Root is always a manager; others when listed (``qmgr add managers NAME``)."""
    if caller.uid == 0:
        return True
    return db.execute("SELECT 1 FROM managers WHERE name = ?", (caller.name,)).fetchone() is not None


def require_manager(db, caller):
    if not is_manager(db, caller):
        raise NqsError("NQS manager[TCML_INSUFFPRV]:  Insufficient privilege: %s is not an NQS manager"
                       % caller.name)


def _move(db, job_id, allowed_from, to, event, at=None, **columns):
    """Move job ``job_id`` from one of ``allowed_from`` to ``to``, set ``columns``, and write the
    event: its reason ``event`` (the tracker's message) at ``at`` (default now).

    Inside the caller's transaction. Raises JobMoveError when a move is not in TRANSITIONS
    (a bug) or the job is not in ``allowed_from`` (the caller's transaction rolls back).
    """
    names = tuple(columns)
    _move_many(db, allowed_from, to, names, [(job_id, event, tuple(columns[name] for name in names))], at)


def _move_many(db, allowed_from, to, names, moves, at=None):
    """:func:`_move` of many jobs at once: each of ``moves`` (job id, event, values) sets the
    columns ``names`` to its ``values``; one statement for the lot, its parameters built
    without a per-job dict (the restart rules move thousands at a start)."""
    for state in allowed_from:
        if (state, to) not in TRANSITIONS:
            raise JobMoveError("request %d: no move from %s to %s" % (moves[0][0], state, to))
    unknown = set(names) - set(_MOVE_COLUMNS)
    if unknown or any(len(values) != len(names) for _id, _event, values in moves):
        raise JobMoveError("request %d: column(s) %s cannot be set by a move"
                           % (moves[0][0], ", ".join(sorted(unknown) or names)))
    sets = "".join(", %s = ?" % name for name in names)
    head, tail = (to,), tuple(allowed_from)
    changed = db.executemany("UPDATE jobs SET state = ?%s WHERE id = ? AND state IN (%s)"
                             % (sets, ", ".join("?" * len(allowed_from))),
                             [head + values + (job_id,) + tail for job_id, _event, values in moves]).rowcount
    if changed != len(moves):
        for job_id, _event, _values in moves:
            row = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None or row[0] != to or len(moves) == 1:
                raise JobMoveError("request %d is %s, not %s: it cannot become %s"
                                   % (job_id, row[0] if row else "unknown", " or ".join(allowed_from), to))
    now = time.time() if at is None else at
    db.executemany("INSERT INTO events (job_id, at, state, message) VALUES (?, ?, ?, ?)",
                   [(job_id, now, to, event) for job_id, event, _columns in moves])


def check_name(kind, name):
    """``name`` when it is a valid queue/user/machine name, else NqsError."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise NqsError("%s name %r is not valid (letters, digits, _ . -; at most 63)" % (kind, name))
    return name


def _int_attr(key, value, low=0):
    if not str(value).isdigit() or int(value) < low:
        raise NqsError("%s=%s: use a whole number >= %d" % (key, value, low))
    return int(value)


def _destination(db, value, kind):
    """A destination is a local queue name or ``queue@machine-name`` (a known machine)."""
    queue, _, machine = str(value).partition("@")
    check_name("queue", queue)
    if machine and db.execute("SELECT 1 FROM machines WHERE name = ?", (machine,)).fetchone() is None:
        raise NqsError("%s %s: machine %s is not known (qmgr add mid ...)" % (kind, value, machine))
    return value


def _attributes(db, words):
    attrs = {}
    for word in words:
        key, eq, value = word.partition("=")
        key = key.lower()
        if not eq:
            raise NqsError("expected key=value, got %r" % word)
        if key == "priority":
            attrs["priority"] = _int_attr(key, value)
        elif key == "run_limit":
            attrs["run_limit"] = _int_attr(key, value, 1)
        elif key in ("restart", "restart_attribute"):
            if value.upper() not in RESTART_ATTRIBUTES:
                raise NqsError("restart attribute %s is not valid: use %s" % (value, ", ".join(RESTART_ATTRIBUTES)))
            attrs["restart"] = value.upper()
        elif key in ("destination", "migration", "migration_destination"):
            column = "destination" if key == "destination" else "migration_dest"
            attrs[column] = None if value.lower() == "none" else _destination(db, value, key)
        else:
            raise NqsError("unknown queue attribute %r (known: priority, run_limit, restart, destination, "
                           "migration)" % key)
    return attrs


def _qmgr(db, verb, args, words):
    """One qmgr command on queues, managers, machines or user maps (inside a transaction)."""
    noun = args[0] if args else ""
    rest = args[1:]
    if verb == "create" and noun in ("batch_queue", "pipe_queue") and rest:
        name = check_name("queue", rest[0])
        if db.execute("SELECT 1 FROM queues WHERE name = ?", (name,)).fetchone():
            raise NqsError("queue %s already exists" % name)
        attrs = _attributes(db, rest[1:])
        qtype = BATCH if noun == "batch_queue" else PIPE
        if qtype == PIPE and not attrs.get("destination"):
            raise NqsError("a pipe queue needs destination=QUEUE")
        if qtype == BATCH and attrs.get("destination"):
            raise NqsError("a batch queue has no destination (did you mean migration=?)")
        db.execute("INSERT INTO queues (name, type, priority, run_limit, restart, destination, migration_dest, "
                   "created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (name, qtype, attrs.get("priority", 10), attrs.get("run_limit", 1),
                    attrs.get("restart", "RESTART"), attrs.get("destination"), attrs.get("migration_dest"),
                    time.time()))
    elif verb == "delete" and noun == "queue" and len(rest) == 1:
        _get_queue(db, rest[0])
        busy = db.execute("SELECT count(*) FROM jobs WHERE queue = ? AND state IN (?, ?, ?)",
                          (rest[0], QUEUED, RUNNING, ROUTING)).fetchone()[0]
        if busy:
            raise NqsError("queue %s still holds %d request(s): delete them first" % (rest[0], busy))
        db.execute("DELETE FROM queues WHERE name = ?", (rest[0],))
    elif verb == "set" and noun == "queue" and len(rest) >= 2:
        row = _get_queue(db, rest[0])
        attrs = _attributes(db, rest[1:])
        if "destination" in attrs and row.type != PIPE:
            raise NqsError("queue %s is a batch queue: only pipe queues have a destination" % rest[0])
        for column, value in sorted(attrs.items()):
            # column comes from the fixed set produced by _attributes, never from input
            db.execute("UPDATE queues SET %s = ? WHERE name = ?" % column, (value, rest[0]))
    elif verb in ("enable", "disable", "start", "stop") and noun == "queue" and len(rest) == 1:
        _get_queue(db, rest[0])
        column = "enabled" if verb in ("enable", "disable") else "started"
        db.execute("UPDATE queues SET %s = ? WHERE name = ?" % column,
                   (1 if verb in ("enable", "start") else 0, rest[0]))
    elif verb == "add" and noun == "managers" and len(rest) == 1:
        db.execute("INSERT OR IGNORE INTO managers (name) VALUES (?)", (check_name("user", rest[0]),))
    elif verb == "delete" and noun == "managers" and len(rest) == 1:
        db.execute("DELETE FROM managers WHERE name = ?", (rest[0],))
    elif verb == "add" and noun == "mid" and len(rest) in (3, 4):
        mid = _int_attr("machine ID", rest[0], 1)
        port = _int_attr("port", rest[3], 1) if len(rest) == 4 else 607
        try:
            socket.inet_aton(rest[2])
        except OSError:
            raise NqsError("address %r is not an IPv4 address" % rest[2])
        db.execute("INSERT OR REPLACE INTO machines (machine_id, name, address, port) VALUES (?, ?, ?, ?)",
                   (mid, check_name("machine", rest[1]), rest[2], port))
    elif verb == "delete" and noun == "mid" and len(rest) == 1:
        db.execute("DELETE FROM machines WHERE machine_id = ?", (_int_attr("machine ID", rest[0], 1),))
    elif verb == "add" and noun == "map" and len(rest) == 3:
        mid = _int_attr("machine ID", rest[0], 1)
        db.execute("INSERT OR REPLACE INTO user_map (machine_id, remote_user, local_user) VALUES (?, ?, ?)",
                   (mid, check_name("user", rest[1]), check_name("user", rest[2])))
    elif verb == "delete" and noun == "map" and len(rest) == 2:
        db.execute("DELETE FROM user_map WHERE machine_id = ? AND remote_user = ?",
                   (_int_attr("machine ID", rest[0], 1), rest[1]))
    else:
        raise NqsError("cannot understand %r; try 'qmgr help'" % " ".join(words))


def _insert_output(db, job, exit_status, ended, how, stdout, stderr):
    db.execute("INSERT OR REPLACE INTO outputs (job_id, run, stdout, stderr, exit_status, started, ended, how) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               (job.id, job.runs, stdout, stderr, exit_status, job.started, ended, how))


def _get_queue(db, name):
    row = db.execute("SELECT * FROM queues WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise NqsError("no such queue: %s" % name)
    return Queue.from_row(row)


def _get_job(db, job_id):
    row = db.execute("SELECT %s FROM jobs WHERE id = ?" % _JOB_COLUMNS, (job_id,)).fetchone()
    return None if row is None else Job.from_row(row)


# what a recovery move sets: a job re-queued or deleted here, a job being routed to another site
_RECOVERED_COLUMNS = ("queue", "pid", "delete_reason", "kill_signal", "reason", "ended")
_ROUTED_COLUMNS = ("queue", "pid", "delete_reason", "kill_signal", "routed_to")


class JobStore:
    """The operations on the jobs of one site database (a :class:`~.store.Store`)."""

    def __init__(self, store):
        self._store = store

    # ------------------------------------------------------------ submit

    def submit(self, caller, owner, queue, name, restart, script, shell, env, origin=None, also=None):
        """Insert one QUEUED job owned by ``owner`` into ``queue``; its request number.

        ``owner`` other than ``caller``: ``caller`` must be an NQS manager. The queue must
        exist and be enabled. Durable when it returns; NqsError (nothing written) otherwise.
        ``also(db)``: one more write in the same transaction (netdaemon records the frame's
        nonce: both commit or neither).
        """
        with self._store.transaction("submit") as db:
            if also is not None:
                also(db)
            if owner.uid != caller.uid:
                require_manager(db, caller)
            return self._insert(db, owner, queue, name, restart, script, shell, env, origin, None, None)

    def submit_many(self, caller, owner, jobs):
        """Insert every job of ``jobs`` (``(queue, name, restart, script, shell, env)`` each) as QUEUED
        jobs of ``owner`` in one transaction; their request numbers, in order.

        All or nothing: one refused job (a missing or disabled queue) writes none of them.
        ``owner`` other than ``caller`` as for :meth:`submit`.
        """
        with self._store.transaction("submit_many") as db:
            if owner.uid != caller.uid:
                require_manager(db, caller)
            return [self._insert(db, owner, queue, name, restart, script, shell, env, None, None, None)
                    for queue, name, restart, script, shell, env in jobs]

    def accept_routed(self, origin_mid, origin_job, owner, queue, name, restart, script, shell, env, origin,
                      also=None):
        """The receiving side of a routing: (request number, new?) of the job sent as
        (``origin_mid``, ``origin_job``). Idempotent on that key: a re-send gets the job the
        first send made, whatever its state now, and no job is written. ``also(db)`` as
        for :meth:`submit` (a re-sent frame has a nonce of its own)."""
        with self._store.transaction("accept_routed") as db:
            if also is not None:
                also(db)
            row = db.execute("SELECT id FROM jobs WHERE origin_mid = ? AND origin_job = ?",
                             (origin_mid, origin_job)).fetchone()
            if row is not None:
                return row[0], False
            return self._insert(db, owner, queue, name, restart, script, shell, env, origin,
                                origin_mid, origin_job), True

    @staticmethod
    def _insert(db, owner, queue, name, restart, script, shell, env, origin, origin_mid, origin_job):
        if not _get_queue(db, queue).enabled:
            raise NqsError("queue %s is disabled: it accepts no requests" % queue)
        now = time.time()
        job_id = db.execute(
            "INSERT INTO jobs (name, queue, owner, uid, state, restart, script, shell, env, submitted, origin, "
            "origin_mid, origin_job) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (name, queue, owner.name, owner.uid, QUEUED, restart, script, shell, json.dumps(env, sort_keys=True),
             now, origin, origin_mid, origin_job)).lastrowid
        db.execute("INSERT INTO events (job_id, at, state, message) VALUES (?, ?, ?, ?)",
                   (job_id, now, QUEUED, "submitted by %s to queue %s (restart %s)%s"
                    % (owner.name, queue, restart, " from %s" % origin if origin else "")))
        return job_id

    # ------------------------------------------------------------ qmgr

    def qmgr(self, caller, words):
        """One qmgr command (its words, ``key=value`` joined) for ``caller``, an NQS manager, in
        one transaction; NqsError (nothing changed) when refused."""
        with self._store.transaction("qmgr") as db:
            require_manager(db, caller)
            _qmgr(db, words[0].lower(), [w.lower() for w in words[1:2]] + words[2:], words)

    # ------------------------------------------------------------ delete

    def request_delete(self, caller, job_id, sig):
        """qdel: a QUEUED job becomes DELETED; a RUNNING one records the signal nqsdaemon is
        to send. Returns the message for the user; NqsError when not allowed or not there."""
        with self._store.transaction("request_delete") as db:
            job = _get_job(db, job_id)
            if job is None or job.state not in (QUEUED, RUNNING, ROUTING):
                raise NqsError("request %d does not exist (or has already ended)" % job_id)
            if job.uid != caller.uid and not is_manager(db, caller):
                raise NqsError("request %d belongs to %s: only its owner or an NQS manager may delete it"
                               % (job_id, job.owner))
            if job.state == ROUTING:
                # it may be at the other site already: only the answer of that site decides
                raise NqsError("request %d is being routed to %s: try again in a moment" % (job_id, job.routed_to))
            reason = "deleted by %s" % caller.name
            if job.state == QUEUED:
                _move(db, job_id, (QUEUED,), DELETED, reason + " before it ran",
                      reason=reason + " before it ran", ended=time.time())
                return "Request %d has been deleted." % job_id
            _move(db, job_id, (RUNNING,), RUNNING, "%s: signal %d requested" % (reason, sig),
                  delete_reason=reason, kill_signal=sig)
            return "Request %d is running, and has been signalled." % job_id

    # ------------------------------------------------------------ dispatch and ends

    def claim_for_dispatch(self, host, limit):
        """Move up to ``limit`` QUEUED jobs of started batch queues to RUNNING within each queue's
        run limit (highest priority first, oldest first); the claimed [Job], runs counted.

        Recorded before any process exists: a crash after it leaves them RUNNING for the
        restart rules, never running twice unrecorded.
        """
        now = time.time()
        with self._store.transaction("claim_for_dispatch") as db:
            running = dict(db.execute("SELECT queue, count(*) FROM jobs WHERE state = ? GROUP BY queue",
                                      (RUNNING,)).fetchall())
            claimed = []
            for queue in db.execute("SELECT name, run_limit FROM queues WHERE type = 'BATCH' AND started = 1 "
                                    "ORDER BY priority DESC, name").fetchall():
                free = min(queue["run_limit"] - running.get(queue["name"], 0), limit - len(claimed))
                if free <= 0:
                    continue
                for row in db.execute("SELECT %s FROM jobs WHERE queue = ? AND state = ? ORDER BY id LIMIT ?" % _JOB_COLUMNS,
                                      (queue["name"], QUEUED, free)).fetchall():
                    job = dataclasses.replace(Job.from_row(row), state=RUNNING, runs=row["runs"] + 1, started=now,
                                              host=host, pid=None, ended=None, exit_status=None)
                    _move(db, job.id, (QUEUED,), RUNNING, "run %d started on %s" % (job.runs, host), now,
                          runs=job.runs, started=now, host=host, pid=None, ended=None, exit_status=None)
                    claimed.append(job)
            return claimed

    def record_started(self, started):
        """Record the process group of each started run: ``started`` is [(job id, pid)]."""
        with self._store.transaction("record_started") as db:
            db.executemany("UPDATE jobs SET pid = ? WHERE id = ? AND state = ?",
                           [(pid, job_id, RUNNING) for job_id, pid in started])

    def unclaim(self, unstarted):
        """Claimed runs whose files a full disk refused (``unstarted`` [(job id, why)]): QUEUED
        again, their run not counted, as if never claimed."""
        with self._store.transaction("unclaim") as db:
            for job_id, why in unstarted:
                job = _get_job(db, job_id)
                _move(db, job_id, (RUNNING,), QUEUED, "not started, queued again: %s" % why,
                      runs=job.runs - 1, started=None, host=None, pid=None)

    def record_ended(self, ends, output, at=None):
        """Record the end of runs ([RunEnd]); the ids whose run files may now be removed.

        A run the site stop interrupted (ended during the stop, not cleanly, no qdel) stays
        RUNNING for the restart rules of the next start and keeps its files. Every other one
        becomes EXITED, or DELETED when qdel asked for it, with ``output(job id)`` -> (stdout,
        stderr) bytes in its tracker.
        """
        now = time.time() if at is None else at
        finished = []
        with self._store.transaction("record_ended") as db:
            for end in ends:
                job = _get_job(db, end.job_id)
                if end.during_stop and not job.delete_reason and end.exit_status != 0:
                    _move(db, job.id, (RUNNING,), RUNNING, "interrupted by the stop of the site (%s)" % end.words,
                          now, pid=None)
                    continue
                stdout, stderr = output(job.id)
                if end.exit_status is None:
                    _insert_output(db, job, None, now, "not started", stdout, stderr)
                    _move(db, job.id, (RUNNING,), EXITED, "could not start: %s" % end.words, now,
                          ended=now, reason=end.words, pid=None)
                else:
                    state = DELETED if job.delete_reason else EXITED
                    reason = job.delete_reason and "%s while running (%s)" % (job.delete_reason, end.words)
                    _insert_output(db, job, end.exit_status, now, end.words, stdout, stderr)
                    _move(db, job.id, (RUNNING,), state, reason or "ended: %s" % end.words, now,
                          ended=now, exit_status=end.exit_status, pid=None, reason=reason)
                finished.append(job.id)
        return finished

    def signals_to_send(self):
        """[(job id, pid, signal)] of RUNNING jobs qdel asked to signal (a read)."""
        with self._store.snapshot() as db:
            return [tuple(row) for row in db.execute(
                "SELECT id, pid, kill_signal FROM jobs WHERE state = ? AND kill_signal IS NOT NULL", (RUNNING,))]

    # ------------------------------------------------------------ pipe queues

    def route_local(self):
        """Move the QUEUED jobs of every started pipe queue whose destination is an enabled local
        queue into that queue; returns {pipe queue: destination} of the remote ones that hold jobs."""
        now = time.time()
        remote = {}
        with self._store.transaction("route_local") as db:
            pipes = db.execute("SELECT q.name, q.destination, d.enabled AS dest_enabled FROM queues q "
                               "LEFT JOIN queues d ON d.name = q.destination "
                               "WHERE q.type = ? AND q.started = 1 AND EXISTS "
                               "(SELECT 1 FROM jobs j WHERE j.queue = q.name AND j.state IN (?, ?))",
                               (PIPE, QUEUED, ROUTING)).fetchall()
            for pipe in pipes:
                if "@" in (pipe["destination"] or ""):
                    remote[pipe["name"]] = pipe["destination"]
                    continue
                if not pipe["dest_enabled"]:
                    continue  # destination missing or disabled: the jobs wait in the pipe queue
                for (job_id,) in db.execute("SELECT id FROM jobs WHERE queue = ? AND state = ? ORDER BY id",
                                            (pipe["name"], QUEUED)).fetchall():
                    _move(db, job_id, (QUEUED,), QUEUED, "routed from pipe queue %s to %s"
                          % (pipe["name"], pipe["destination"]), now, queue=pipe["destination"])
        return remote

    def routing_jobs(self, queue):
        """[Job] of ``queue`` to be routed to another site: those a crash left ROUTING first
        (they go to the place recorded), then the QUEUED ones, oldest first (a read)."""
        with self._store.snapshot() as db:
            return [Job.from_row(row) for row in db.execute(
                "SELECT %s FROM jobs WHERE queue = ? AND state IN (?, ?) ORDER BY state = ?, id" % _JOB_COLUMNS,
                (queue, ROUTING, QUEUED, QUEUED))]

    def route_out(self, job_id, destination, allowed_from=(QUEUED, ROUTING)):
        """Mark a job ROUTING to ``destination`` (``queue@machine``) before it is sent; the Job.

        A job sent before keeps the destination of its first send: a re-send must reach the
        same site, which answers with the job it already has.
        """
        with self._store.transaction("route_out") as db:
            job = _get_job(db, job_id)
            if job is not None and job.routed_to:
                destination = job.routed_to
                message = "sent again to %s" % destination
            else:
                message = "being routed to %s" % destination
            _move(db, job_id, allowed_from, ROUTING, message, routed_to=destination)
            return dataclasses.replace(job, state=ROUTING, routed_to=destination)

    def confirm_routed(self, job_id, reason, event):
        """The other site took the job: ROUTING -> MIGRATED, ``reason`` naming its request there."""
        with self._store.transaction("confirm_routed") as db:
            now = time.time()
            _move(db, job_id, (ROUTING,), MIGRATED, event, now, reason=reason, ended=now)

    def release_route(self, job_id, why):
        """The other site was not reached or refused: ROUTING -> QUEUED, to be sent again later.

        ``routed_to`` stays: the next send goes to the same site, so a send whose answer was
        lost cannot make a second copy elsewhere.
        """
        with self._store.transaction("release_route") as db:
            _move(db, job_id, (ROUTING,), QUEUED, "waits: %s" % why)

    # ------------------------------------------------------------ recovery at start

    def queues(self):
        """{name: Queue} of every queue (a read)."""
        with self._store.snapshot() as db:
            return {row["name"]: Queue.from_row(row) for row in db.execute("SELECT * FROM queues")}

    def apply_recovery(self, decide, outputs):
        """Apply the restart rules to every RUNNING job, in one transaction; [Job] now ROUTING
        to another site (those a crash left ROUTING from an earlier recovery included).

        ``decide(run, queues)`` -> RecoveryDecision is the rule for one InterruptedRun (pure, no
        I/O; ``queues`` maps names to Queue);
        ``outputs(run)`` -> (stdout, stderr) bytes of the interrupted run from its files.
        The interrupted run's output goes into the tracker; queues decided STOPPED are stopped.
        """
        now = time.time()
        with self._store.transaction("apply_recovery") as db:
            queues = {row["name"]: Queue.from_row(row) for row in db.execute("SELECT * FROM queues")}
            jobs = [InterruptedRun.from_row(row) for row in db.execute(
                "SELECT %s FROM jobs WHERE state = ? ORDER BY id" % _INTERRUPTED_COLUMNS, (RUNNING,))]
            decisions = [decide(job, queues) for job in jobs]
            db.executemany("INSERT OR REPLACE INTO outputs (job_id, run, stdout, stderr, exit_status, started, ended, "
                           "how) VALUES (?, ?, ?, ?, NULL, ?, ?, 'interrupted')",
                           [(job.id, job.runs) + outputs(job) + (job.started, now) for job in jobs])
            moves = {}  # to -> [(job id, event, values of its columns below)]: one statement each
            for decision in decisions:
                if decision.to == ROUTING:
                    values = (decision.queue, None, None, None, decision.routed_to)
                else:
                    values = (decision.queue, None, None, None, decision.reason, None if decision.to == QUEUED else now)
                moves.setdefault(decision.to, []).append((decision.job_id, decision.event, values))
            for to, group in sorted(moves.items()):
                _move_many(db, (RUNNING,), to, _ROUTED_COLUMNS if to == ROUTING else _RECOVERED_COLUMNS, group, now)
            stopped = {decision.queue for decision in decisions if decision.stop_queue}
            for name in sorted(stopped):
                db.execute("UPDATE queues SET started = 0 WHERE name = ?", (name,))
            routing = [Job.from_row(row) for row in db.execute(
                "SELECT %s FROM jobs j JOIN queues q ON q.name = j.queue WHERE j.state = ? AND q.type = 'BATCH' "
                "ORDER BY j.id" % _JOB_COLUMNS_OF_J, (ROUTING,))]
        return decisions, routing

    def settle_recovery(self, outcomes):
        """Record the outcome of each migration the restart rules sent, in one transaction.

        ``outcomes``: [RecoveryDecision]: ``to`` is MIGRATED when the other site took the job,
        else the fallback of the restart rules, QUEUED or DELETED (its queue STOPPED when it
        says so).
        """
        now = time.time()
        with self._store.transaction("settle_recovery") as db:
            for outcome in outcomes:
                _move(db, outcome.job_id, (ROUTING,), outcome.to, outcome.event, now, reason=outcome.reason,
                      ended=None if outcome.to == QUEUED else now)
                if outcome.stop_queue:
                    db.execute("UPDATE queues SET started = 0 WHERE name = ?", (outcome.queue,))

    # ------------------------------------------------------------ retention

    def expired(self, before, limit):
        """Request numbers of up to ``limit`` finished requests that ended before ``before``,
        the oldest end first (a read; the partial index jobs_finished_by_end serves it, named:
        the planner would otherwise walk jobs_by_state through every finished request).

        The highest request number is never among them: SQLite gives a new row the highest
        number plus one, so keeping that row keeps request numbers from ever being reused (a
        peer keys routed requests by them, docs/job-engine.md "Routing to another site").
        """
        with self._store.snapshot() as db:
            return [row[0] for row in db.execute(
                "SELECT id FROM jobs INDEXED BY jobs_finished_by_end WHERE %s AND ended < ? "
                "AND id < (SELECT max(id) FROM jobs) ORDER BY ended LIMIT ?" % _FINISHED_TERM, (before, int(limit)))]

    def histories(self, job_ids):
        """[dict] the whole record of each of ``job_ids``: the request (its script in base64), its
        events and the output of its runs (base64), for an export before a purge (a read)."""
        with self._store.snapshot() as db:
            found = []
            for job_id in job_ids:
                row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
                if row is None:
                    continue
                job = dict(row)
                job["script"] = base64.b64encode(job["script"]).decode("ascii")
                events = [dict(e) for e in db.execute(
                    "SELECT at, state, message FROM events WHERE job_id = ? ORDER BY id", (job_id,))]
                outputs = [dict(o, stdout=base64.b64encode(o["stdout"]).decode("ascii"),
                                stderr=base64.b64encode(o["stderr"]).decode("ascii"))
                           for o in db.execute("SELECT * FROM outputs WHERE job_id = ? ORDER BY run", (job_id,))]
                found.append({"job": job, "events": events, "outputs": outputs})
            return found

    def purge(self, job_ids, before):
        """Remove each of ``job_ids`` that is still finished and ended before ``before``, with its
        events and outputs, in one transaction; the request numbers removed."""
        with self._store.transaction("purge") as db:
            marks = ", ".join("?" * len(job_ids))
            gone = [row[0] for row in db.execute(
                "SELECT id FROM jobs WHERE id IN (%s) AND state IN (?, ?, ?) AND ended < ? ORDER BY id" % marks,
                list(job_ids) + list(FINISHED) + [before])]
            if gone:
                marks = ", ".join("?" * len(gone))
                for table, column in (("events", "job_id"), ("outputs", "job_id"), ("jobs", "id")):
                    # table and column names from this line, never from input
                    db.execute("DELETE FROM %s WHERE %s IN (%s)" % (table, column, marks), gone)
            return gone
