"""The engine API of a site: what qsub, qstat, qdel and qmgr do (SPEC §2.9, §2.10).

Every function takes an open :class:`~.store.Store` and the :class:`Caller` it
acts for, and does its work in one transaction (all or nothing). Root calls these
directly on the site database; other users' commands reach the very same
functions through nqsdaemon's local socket, which names the caller from the
socket's peer credentials (never from the request).

The daemon is told about new work by :func:`poke` (a datagram; lost pokes only
delay work to the daemon's next tick).
"""

import collections
import json
import os
import pwd
import re
import signal
import socket
import time

from ..site import endpoints
from ..errors import CjcError
from .store import (BATCH, DEFAULT_PIPE_QUEUE, DELETED, PIPE, QUEUED, RESTART_ATTRIBUTES, RESTART_FLAGS,
                    RUNNING, add_event)

QMGR_OK = "NQS manager[TCML_COMPLETE ]:  Transaction complete at local host."
MAX_SCRIPT = 200 * 1024
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class NqsError(CjcError):
    """A request the site refuses (no such queue, not allowed, ...)."""


class Caller(collections.namedtuple("Caller", "uid name")):
    """Who asks: a local user."""

    @classmethod
    def of_uid(cls, uid):
        try:
            return cls(uid, pwd.getpwuid(uid).pw_name)
        except KeyError:
            return cls(uid, str(uid))

    @classmethod
    def current(cls):
        return cls.of_uid(os.geteuid())


def poke(layout, spool):
    """Wake the site's nqsdaemon on this node (best effort; root only: the wake socket is 0600)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        endpoints.sendto(sock, b"w", endpoints.endpoint(layout, spool, "wake"))
    except OSError:
        pass
    finally:
        sock.close()


def is_manager(db, caller):
    """Root is always a manager; others when listed (``qmgr add managers NAME``)."""
    if caller.uid == 0:
        return True
    return db.execute("SELECT 1 FROM managers WHERE name = ?", (caller.name,)).fetchone() is not None


def _require_manager(db, caller):
    if not is_manager(db, caller):
        raise NqsError("NQS manager[TCML_INSUFFPRV]:  Insufficient privilege: %s is not an NQS manager"
                       % caller.name)


def _check_name(kind, name):
    if not isinstance(name, str) or not _NAME.match(name):
        raise NqsError("%s name %r is not valid (letters, digits, _ . -; at most 63)" % (kind, name))
    return name


def _queue(db, name):
    row = db.execute("SELECT * FROM queues WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise NqsError("no such queue: %s" % name)
    return row


# ---------------------------------------------------------------- jobs

def submit_job(store, caller, script, queue=None, name=None, restart="ENABLE", env=None,
               shell=None, owner_uid=None, origin=None):
    """Submit a job; returns its request number. Durable when it returns.

    ``owner_uid`` (managers only, and netdaemon for mapped remote users) submits on
    behalf of another user; otherwise the job belongs to the caller.
    """
    if isinstance(script, str):
        script = script.encode("utf-8")
    if not isinstance(script, bytes):
        raise NqsError("the job script must be text")
    if len(script) > MAX_SCRIPT:
        raise NqsError("job script of %d bytes is larger than the limit of %d bytes" % (len(script), MAX_SCRIPT))
    queue = _check_name("queue", queue or DEFAULT_PIPE_QUEUE)
    if name is not None and (not isinstance(name, str) or "\0" in name):
        # it becomes QSUB_REQNAME in the job's environment: a NUL there made Popen raise in nqsdaemon
        raise NqsError("job name %r is not valid: text without NUL characters" % (name,))
    name = (name or "STDIN")[:63]
    if restart not in RESTART_FLAGS:
        raise NqsError("restart flag %r is not valid: use ENABLE or DISABLE" % (restart,))
    env = dict(env or {})
    for key, value in env.items():
        if not _ENV_NAME.match(str(key)) or not isinstance(value, str) or "\0" in value:
            raise NqsError("environment variable %r is not valid" % (key,))
    if shell is not None and not (isinstance(shell, str) and shell.startswith("/") and "\0" not in shell):
        raise NqsError("shell %r must be an absolute path" % (shell,))
    now = time.time()
    with store.transaction() as db:
        owner = caller
        if owner_uid is not None and owner_uid != caller.uid:
            _require_manager(db, caller)
            owner = Caller.of_uid(owner_uid)
        row = _queue(db, queue)
        if not row["enabled"]:
            raise NqsError("queue %s is disabled: it accepts no requests" % queue)
        cursor = db.execute(
            "INSERT INTO jobs (name, queue, owner, uid, state, restart, script, shell, env, submitted, origin) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (name, queue, owner.name, owner.uid, QUEUED, restart, script, shell,
             json.dumps(env, sort_keys=True), now, origin))
        job_id = cursor.lastrowid
        add_event(db, job_id, QUEUED, "submitted by %s to queue %s (restart %s)%s"
                  % (owner.name, queue, restart, " from %s" % origin if origin else ""), now)
    return job_id


def parse_request_id(text, site_name=None):
    """``123`` or ``123.site`` -> 123, or NqsError.

    With ``site_name`` (the site the command acts on), a ``.site`` suffix must name that
    site: a request ID of another site is refused, since a command reaches only its own
    site (netdaemon serves no delete or tracker of another site's request).
    """
    head, _dot, suffix = str(text).partition(".")
    if not head.isdigit():
        raise NqsError("request ID %r is not valid (like 123 or 123.sitename)" % (text,))
    if suffix and site_name is not None and not names_site(suffix, site_name):
        raise NqsError("request %s belongs to site %s, not to site %s (NQS_SITE): a command reaches only its "
                       "own site; run it with NQS_SITE=%s on a node of that site" % (text, suffix, site_name, suffix))
    return int(head)


def names_site(name, site_name):
    """Whether host name ``name`` names the site ``site_name``: the same name, or the short
    form of it (``testsite`` for ``testsite.example.com``, or the other way round), case
    aside. Two different full names never match."""
    name, site_name = name.lower().rstrip("."), site_name.lower().rstrip(".")
    if name == site_name:
        return True
    if "." in name and "." in site_name:
        return False
    return name.split(".", 1)[0] == site_name.split(".", 1)[0]


def delete_job(store, caller, job_id, sig=signal.SIGTERM):
    """Delete a queued job, or ask nqsdaemon to signal a running one. Returns a message."""
    sig = int(sig)
    if sig not in (signal.SIGTERM, signal.SIGKILL, signal.SIGINT, signal.SIGHUP):
        raise NqsError("signal %d is not allowed for qdel (use 1, 2, 9 or 15)" % sig)
    with store.transaction() as db:
        row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None or row["state"] not in (QUEUED, RUNNING):
            raise NqsError("request %d does not exist (or has already ended)" % job_id)
        if row["uid"] != caller.uid and not is_manager(db, caller):
            raise NqsError("request %d belongs to %s: only its owner or an NQS manager may delete it"
                           % (job_id, row["owner"]))
        reason = "deleted by %s" % caller.name
        if row["state"] == QUEUED:
            db.execute("UPDATE jobs SET state = ?, reason = ?, ended = ? WHERE id = ?",
                       (DELETED, reason + " before it ran", time.time(), job_id))
            add_event(db, job_id, DELETED, reason + " before it ran")
            return "Request %d has been deleted." % job_id
        db.execute("UPDATE jobs SET delete_reason = ?, kill_signal = ? WHERE id = ?", (reason, sig, job_id))
        add_event(db, job_id, RUNNING, "%s: signal %d requested" % (reason, sig))
        return "Request %d is running, and has been signalled." % job_id


# ---------------------------------------------------------------- status

QueueStatus = collections.namedtuple(
    "QueueStatus", "name type priority run_limit enabled started restart destination migration_dest "
                   "running queued")


def queue_status(store):
    """[QueueStatus] of every queue, in creation order (guilb_def first)."""
    with store.snapshot() as db:
        counts = collections.Counter()
        for row in db.execute("SELECT queue, state, count(*) AS n FROM jobs WHERE state IN (?, ?) "
                              "GROUP BY queue, state", (QUEUED, RUNNING)):
            counts[(row["queue"], row["state"])] = row["n"]
        return [QueueStatus(q["name"], q["type"], q["priority"], q["run_limit"], bool(q["enabled"]),
                            bool(q["started"]), q["restart"], q["destination"], q["migration_dest"],
                            counts[(q["name"], RUNNING)], counts[(q["name"], QUEUED)])
                for q in db.execute("SELECT * FROM queues ORDER BY created, name")]


JOB_COLUMNS = ("id", "name", "queue", "owner", "uid", "state", "restart", "submitted", "started", "ended",
               "exit_status", "pid", "host", "runs", "reason", "origin")


def list_jobs(store, include_ended=False, job_ids=None):
    """[dict] of jobs (queued and running; all with ``include_ended``), by request number."""
    query = "SELECT %s FROM jobs" % ", ".join(JOB_COLUMNS)
    where, args = [], []
    if not include_ended:
        where.append("state IN (?, ?)")
        args += [QUEUED, RUNNING]
    if job_ids:
        where.append("id IN (%s)" % ", ".join("?" * len(job_ids)))
        args += [int(i) for i in job_ids]
    if where:
        query += " WHERE " + " AND ".join(where)
    with store.snapshot() as db:
        return [dict(row) for row in db.execute(query + " ORDER BY id", args)]


def job_tracker(store, job_id, caller=None):
    """{job, events, outputs} of one job: its whole tracker history; NqsError if unknown.

    With ``caller``: only the job's owner or an NQS manager may read it (output is private).
    """
    with store.snapshot() as db:
        row = db.execute("SELECT %s FROM jobs WHERE id = ?" % ", ".join(JOB_COLUMNS), (job_id,)).fetchone()
        if row is None:
            raise NqsError("request %d does not exist" % job_id)
        if caller is not None and row["uid"] != caller.uid and not is_manager(db, caller):
            raise NqsError("request %d belongs to %s: only its owner or an NQS manager may read its tracker"
                           % (job_id, row["owner"]))
        events = [dict(e) for e in db.execute(
            "SELECT at, state, message FROM events WHERE job_id = ? ORDER BY id", (job_id,))]
        outputs = [dict(o, stdout=bytes(o["stdout"]).decode("utf-8", "replace"),
                        stderr=bytes(o["stderr"]).decode("utf-8", "replace"))
                   for o in db.execute("SELECT * FROM outputs WHERE job_id = ? ORDER BY run", (job_id,))]
    return {"job": dict(row), "events": events, "outputs": outputs}


# ---------------------------------------------------------------- qmgr

def _int_attr(key, value, low=0):
    if not str(value).isdigit() or int(value) < low:
        raise NqsError("%s=%s: use a whole number >= %d" % (key, value, low))
    return int(value)


def _destination(db, value, kind):
    """A destination is a local queue name or ``queue@machine-name`` (a known machine)."""
    queue, _, machine = str(value).partition("@")
    _check_name("queue", queue)
    if machine and db.execute("SELECT 1 FROM machines WHERE name = ?", (machine,)).fetchone() is None:
        raise NqsError("%s %s: machine %s is not known (qmgr add mid ...)" % (kind, value, machine))
    return value


def _split_words(line):
    """Words of a qmgr line, ``key = value`` joined into ``key=value``."""
    words = line.replace("=", " = ").split()
    joined = []
    for word in words:
        if joined and (word == "=" or joined[-1].endswith("=")):
            joined[-1] += word
        else:
            joined.append(word)
    return joined


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


QMGR_HELP = """qmgr commands (one per line, or with -c):
  create batch_queue NAME [priority=N] [run_limit=N] [restart=ATTR] [migration=DEST]
  create pipe_queue NAME destination=QUEUE [priority=N] [restart=ATTR]
  delete queue NAME
  set queue NAME key=value ...          (priority, run_limit, restart, destination, migration)
  enable queue NAME | disable queue NAME | start queue NAME | stop queue NAME
  add managers USER | delete managers USER
  add mid MACHINE-ID NAME ADDRESS [PORT] | delete mid MACHINE-ID
  add map MACHINE-ID REMOTE-USER LOCAL-USER | delete map MACHINE-ID REMOTE-USER
ATTR is RESTART, PURGE, STOP, MIGRATION_PURGE or MIGRATION_STOP; DEST is QUEUE or QUEUE@MACHINE."""


def qmgr(store, caller, line):
    """Run one qmgr command line for ``caller``; returns the message to print."""
    words = _split_words(line)
    if not words:
        return ""
    verb = words[0].lower()
    if verb in ("help", "?"):
        return QMGR_HELP
    with store.transaction() as db:
        _require_manager(db, caller)
        _qmgr(db, verb, [w.lower() for w in words[1:2]] + words[2:], words)
    return QMGR_OK


def _qmgr(db, verb, args, words):
    noun = args[0] if args else ""
    rest = args[1:]
    if verb == "create" and noun in ("batch_queue", "pipe_queue") and rest:
        name = _check_name("queue", rest[0])
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
        _queue(db, rest[0])
        busy = db.execute("SELECT count(*) FROM jobs WHERE queue = ? AND state IN (?, ?)",
                          (rest[0], QUEUED, RUNNING)).fetchone()[0]
        if busy:
            raise NqsError("queue %s still holds %d request(s): delete them first" % (rest[0], busy))
        db.execute("DELETE FROM queues WHERE name = ?", (rest[0],))
    elif verb == "set" and noun == "queue" and len(rest) >= 2:
        row = _queue(db, rest[0])
        attrs = _attributes(db, rest[1:])
        if "destination" in attrs and row["type"] != PIPE:
            raise NqsError("queue %s is a batch queue: only pipe queues have a destination" % rest[0])
        for column, value in sorted(attrs.items()):
            # column comes from the fixed set produced by _attributes, never from input
            db.execute("UPDATE queues SET %s = ? WHERE name = ?" % column, (value, rest[0]))
    elif verb in ("enable", "disable", "start", "stop") and noun == "queue" and len(rest) == 1:
        _queue(db, rest[0])
        column = "enabled" if verb in ("enable", "disable") else "started"
        db.execute("UPDATE queues SET %s = ? WHERE name = ?" % column,
                   (1 if verb in ("enable", "start") else 0, rest[0]))
    elif verb == "add" and noun == "managers" and len(rest) == 1:
        db.execute("INSERT OR IGNORE INTO managers (name) VALUES (?)", (_check_name("user", rest[0]),))
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
                   (mid, _check_name("machine", rest[1]), rest[2], port))
    elif verb == "delete" and noun == "mid" and len(rest) == 1:
        db.execute("DELETE FROM machines WHERE machine_id = ?", (_int_attr("machine ID", rest[0], 1),))
    elif verb == "add" and noun == "map" and len(rest) == 3:
        mid = _int_attr("machine ID", rest[0], 1)
        db.execute("INSERT OR REPLACE INTO user_map (machine_id, remote_user, local_user) VALUES (?, ?, ?)",
                   (mid, _check_name("user", rest[1]), _check_name("user", rest[2])))
    elif verb == "delete" and noun == "map" and len(rest) == 2:
        db.execute("DELETE FROM user_map WHERE machine_id = ? AND remote_user = ?",
                   (_int_attr("machine ID", rest[0], 1), rest[1]))
    else:
        raise NqsError("cannot understand %r; try 'qmgr help'" % " ".join(words))


# ---------------------------------------------------------------- network

def map_remote_user(db, machine_id, remote_user):
    """The local user a remote (machine ID, user) maps to on this site, or None."""
    row = db.execute("SELECT local_user FROM user_map WHERE machine_id = ? AND remote_user = ?",
                     (machine_id, remote_user)).fetchone()
    return row["local_user"] if row else None


def machine(db, machine_id=None, name=None):
    """The machines row for an ID or a name, or None."""
    if machine_id is not None:
        return db.execute("SELECT * FROM machines WHERE machine_id = ?", (machine_id,)).fetchone()
    return db.execute("SELECT * FROM machines WHERE name = ?", (name,)).fetchone()


# ---------------------------------------------------------------- the local request socket

def _op_submit(store, caller, args):
    return {"id": submit_job(store, caller, args.get("script", ""), args.get("queue"), args.get("name"),
                             args.get("restart", "ENABLE"), args.get("env"), args.get("shell"),
                             args.get("owner_uid"))}


OPERATIONS = {
    "submit": _op_submit,
    "delete": lambda store, caller, args: {"message": delete_job(store, caller, int(args["id"]),
                                                                 int(args.get("signal", 15)))},
    "queues": lambda store, caller, args: {"queues": [q._asdict() for q in queue_status(store)]},
    "jobs": lambda store, caller, args: {"jobs": list_jobs(store, bool(args.get("all")), args.get("ids"))},
    "tracker": lambda store, caller, args: {"tracker": job_tracker(store, int(args["id"]), caller)},
    "qmgr": lambda store, caller, args: {"message": qmgr(store, caller, str(args.get("line", "")))},
}


def serve_request(store, caller, request):
    """Answer one request dict from the local socket: ``{"ok": True, ...}`` or ``{"ok": False, "error"}``."""
    operation = OPERATIONS.get(request.get("op"))
    if operation is None:
        return {"ok": False, "error": "unknown operation %r" % (request.get("op"),)}
    try:
        result = operation(store, caller, request.get("args") or {})
    except CjcError as err:
        return {"ok": False, "error": str(err)}
    except (KeyError, TypeError, ValueError) as err:
        return {"ok": False, "error": "malformed request: %s" % err}
    result["ok"] = True
    return result
