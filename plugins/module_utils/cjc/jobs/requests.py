"""The engine API of a site: what qsub, qstat, qdel and qmgr do (guide §2.5.2, §2.5.4).

Every function takes an open :class:`~.store.Store` and the :class:`Caller` it
acts for, and does its work in one transaction (all or nothing). Root calls these
directly on the site database; other users' commands reach the very same
functions through nqsdaemon's local socket, which names the caller from the
socket's peer credentials (never from the request).

The daemon is told about new work by :func:`poke` (a datagram; lost pokes only
delay work to the daemon's next tick).
"""

import base64
import binascii
import collections
import os
import pwd
import re
import signal
import socket
import unicodedata

from ..site import endpoints
from ..errors import CjcError
from .jobstore import JobStore, NqsError, check_name, is_manager
from .store import DEFAULT_PIPE_QUEUE, QUEUED, RESTART_FLAGS, ROUTING, RUNNING

QMGR_OK = "NQS manager[TCML_COMPLETE ]:  Transaction complete at local host."
MAX_SCRIPT = 200 * 1024
# requests one bulk submission may make: their numbers must fit one reply frame (net/wire.py MAX_FRAME;
# 10 000 numbers of up to 20 digits are ~220 KB) and the call must stay short for the daemon's other clients
MAX_BULK = 10000
INDEX_ENV = "QSUB_INDEX"  # the index of a job of an array submission (qsub -t), in its environment
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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


# ---------------------------------------------------------------- jobs

def _checked_job(queue, name, restart, script, shell, env):
    """``(queue, name, restart, script, shell, env)`` of one job to submit, checked and normalised; NqsError."""
    if isinstance(script, str):
        script = script.encode("utf-8")
    if not isinstance(script, bytes):
        raise NqsError("the job script must be text")
    if len(script) > MAX_SCRIPT:
        raise NqsError("job script of %d bytes is larger than the limit of %d bytes" % (len(script), MAX_SCRIPT))
    queue = check_name("queue", queue or DEFAULT_PIPE_QUEUE)
    if name is not None and not isinstance(name, str):
        raise NqsError("job name %r is not valid: it must be text" % (name,))
    if name is not None and any(unicodedata.category(c) == "Cc" for c in name):
        # shown by qstat to every user and put into QSUB_REQNAME: a control character there could
        # rewrite another user's terminal, a NUL made Popen raise in nqsdaemon
        raise NqsError("job name %r is not valid: it contains control characters (use qsub -r NAME)" % (name,))
    name = (name or "STDIN")[:63]
    if restart not in RESTART_FLAGS:
        raise NqsError("restart flag %r is not valid: use ENABLE or DISABLE" % (restart,))
    env = dict(env or {})
    for key, value in env.items():
        if not _ENV_NAME.match(str(key)) or not isinstance(value, str) or "\0" in value:
            raise NqsError("environment variable %r is not valid" % (key,))
    if shell is not None and not (isinstance(shell, str) and shell.startswith("/") and "\0" not in shell):
        raise NqsError("shell %r must be an absolute path" % (shell,))
    return queue, name, restart, script, shell, env


def submit_job(store, caller, script, queue=None, name=None, restart="ENABLE", env=None,
               shell=None, owner_uid=None, origin=None, origin_key=None, also=None):
    """Submit a job; returns its request number. Durable when it returns.

    ``owner_uid`` (managers only, and netdaemon for mapped remote users) submits on
    behalf of another user; otherwise the job belongs to the caller. ``origin_key``
    (origin machine ID, request number there): a job routed from another site, kept
    once (a re-send returns the job already made, see :meth:`JobStore.accept_routed`).
    ``also(db)`` runs in the submit's transaction (netdaemon records the frame's nonce:
    both commit or neither).
    """
    queue, name, restart, script, shell, env = _checked_job(queue, name, restart, script, shell, env)
    owner = Caller.of_uid(owner_uid) if owner_uid is not None and owner_uid != caller.uid else caller
    if origin_key is not None:
        return JobStore(store).accept_routed(origin_key[0], origin_key[1], owner, queue, name, restart, script,
                                             shell, env, origin, also)[0]
    return JobStore(store).submit(caller, owner, queue, name, restart, script, shell, env, origin, also)


def submit_jobs(store, caller, jobs, queue=None, restart="ENABLE", env=None, shell=None, indices=None,
                owner_uid=None):
    """Submit many jobs in one transaction (qsub with several scripts, or ``-t``); their request numbers.

    ``jobs``: ``[(script, name)]``. ``indices`` ``(first, last, step)``: each job once for every
    index of that range, with the index in its environment as ``QSUB_INDEX`` and ``[index]``
    after its name (docs/job-engine.md, "Bulk submission"). All or nothing: one job refused
    (a bad script, name or queue, too many jobs) and none is recorded.
    """
    if not jobs:
        raise NqsError("no job to submit")
    index_range = _index_range(indices) if indices is not None else range(1)
    count = len(jobs) * ((index_range.stop - 1 - index_range.start) // index_range.step + 1)  # no len(): may overflow
    if count > MAX_BULK:
        raise NqsError("%d requests in one call is more than the limit of %d: submit them in several calls"
                       % (count, MAX_BULK))
    if indices is None:
        checked = [_checked_job(queue, name, restart, script, shell, env) for script, name in jobs]
    else:
        checked = [_checked_job(queue, _indexed_name(name, index), restart, script, shell,
                                dict(env or {}, **{INDEX_ENV: str(index)}))
                   for script, name in jobs for index in index_range]
    owner = Caller.of_uid(owner_uid) if owner_uid is not None and owner_uid != caller.uid else caller
    return JobStore(store).submit_many(caller, owner, checked)


def _indexed_name(name, index):
    """``job[7]``: the name of the job of ``index``, cut so the index stays within the 63 characters kept."""
    if name is not None and not isinstance(name, str):
        return name  # refused as it is by _checked_job
    suffix = "[%d]" % index
    return (name or "STDIN")[:63 - len(suffix)] + suffix


def _index_range(indices):
    """The indices of ``qsub -t FIRST-LAST:STEP`` (``[first, last, step]``), checked: ``0 <= first <= last``, ``step >= 1``."""
    if (not isinstance(indices, (list, tuple)) or len(indices) != 3
            or not all(isinstance(n, int) and not isinstance(n, bool) for n in indices)):
        raise NqsError("index range %r is not valid: it must be [first, last, step]" % (indices,))
    first, last, step = indices
    if first < 0 or last < first or step < 1:
        raise NqsError("index range %d-%d:%d is not valid: it must be FIRST-LAST[:STEP] with 0 <= FIRST <= LAST "
                       "and STEP >= 1" % (first, last, step))
    return range(first, last + 1, step)


def delete_job(store, caller, job_id, sig=signal.SIGTERM):
    """Delete a queued job, or ask nqsdaemon to signal a running one. Returns a message."""
    sig = int(sig)
    if sig not in (signal.SIGTERM, signal.SIGKILL, signal.SIGINT, signal.SIGHUP):
        raise NqsError("signal %d is not allowed for qdel (use 1, 2, 9 or 15)" % sig)
    return JobStore(store).request_delete(caller, job_id, sig)


# ---------------------------------------------------------------- status

QueueStatus = collections.namedtuple(
    "QueueStatus", "name type priority run_limit enabled started restart destination migration_dest "
                   "running queued")


def queue_status(store):
    """[QueueStatus] of every queue, in creation order (guilb_def first)."""
    with store.snapshot() as db:
        counts = collections.Counter()
        for row in db.execute("SELECT queue, state, count(*) AS n FROM jobs WHERE state IN (?, ?, ?) "
                              "GROUP BY queue, state", (QUEUED, RUNNING, ROUTING)):
            # a job being routed to another site is still queued here until that site took it
            counts[(row["queue"], QUEUED if row["state"] == ROUTING else row["state"])] += row["n"]
        return [QueueStatus(q["name"], q["type"], q["priority"], q["run_limit"], bool(q["enabled"]),
                            bool(q["started"]), q["restart"], q["destination"], q["migration_dest"],
                            counts[(q["name"], RUNNING)], counts[(q["name"], QUEUED)])
                for q in db.execute("SELECT * FROM queues ORDER BY created, name")]


JOB_COLUMNS = ("id", "name", "queue", "owner", "uid", "state", "restart", "submitted", "started", "ended",
               "exit_status", "pid", "host", "runs", "reason", "origin")


JOBS_PAGE = 1000       # jobs per reply: a page of the longest rows fits in one frame (net/wire.py)
OUTPUT_PAGE = 128 * 1024  # characters of one output stream per reply: fits a frame even when every one is escaped


def list_jobs(store, include_ended=False, job_ids=None, after=None, limit=None, uid=None):
    """[dict] of jobs (queued, running, routing; all with ``include_ended``), by request number.

    ``after``/``limit``: only the first ``limit`` jobs with a number above ``after`` (a page);
    ``uid``: only that user's.
    """
    query = "SELECT %s FROM jobs" % ", ".join(JOB_COLUMNS)
    where, args = [], []
    if uid is not None:
        where.append("uid = ?")
        args.append(int(uid))
    if after is not None:
        where.append("id > ?")
        args.append(int(after))
    if not include_ended:
        where.append("state IN (?, ?, ?)")
        args += [QUEUED, RUNNING, ROUTING]
    if job_ids:
        where.append("id IN (%s)" % ", ".join("?" * len(job_ids)))
        args += [int(i) for i in job_ids]
    if where:
        query += " WHERE " + " AND ".join(where)
    if limit is not None:
        query += " ORDER BY id LIMIT %d" % int(limit)
    else:
        query += " ORDER BY id"
    with store.snapshot() as db:
        return [dict(row) for row in db.execute(query, args)]


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
    JobStore(store).qmgr(caller, words)
    return QMGR_OK


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

def script_of(request):
    """The job script bytes a request carries: ``script_base64`` (byte for byte: any encoding,
    Shift_JIS, EUC-JP ...), else ``script`` (text, UTF-8). NqsError when not base64."""
    if "script_base64" not in request:
        return request.get("script", "")
    try:
        return base64.b64decode(str(request["script_base64"]).encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise NqsError("the job script is not valid base64 (script_base64)")


def _op_submit(store, caller, args):
    return {"id": submit_job(store, caller, script_of(args), args.get("queue"), args.get("name"),
                             args.get("restart", "ENABLE"), args.get("env"), args.get("shell"),
                             args.get("owner_uid"))}


def _op_submit_many(store, caller, args):
    jobs = args.get("jobs")
    if not isinstance(jobs, list) or not all(isinstance(job, dict) for job in jobs):
        raise NqsError("malformed request: jobs must be a list of {script_base64, name}")
    return {"ids": submit_jobs(store, caller, [(script_of(job), job.get("name")) for job in jobs], args.get("queue"),
                               args.get("restart", "ENABLE"), args.get("env"), args.get("shell"), args.get("indices"),
                               args.get("owner_uid"))}


def _page_of_jobs(store, args):
    """One page of ``jobs``: ``{"jobs", "more"}``; the client asks again with ``after`` the last."""
    limit = min(int(args.get("limit") or JOBS_PAGE), JOBS_PAGE)
    jobs = list_jobs(store, bool(args.get("all")), args.get("ids"), args.get("after"), limit)
    return {"jobs": jobs, "more": len(jobs) == limit}


def _tracker_without_output(store, caller, args):
    """The tracker, each run's output replaced by its length: the client pages it with ``output``."""
    tracker = job_tracker(store, int(args["id"]), caller)
    for output in tracker["outputs"]:
        for stream in ("stdout", "stderr"):
            output[stream] = len(output[stream])
    return {"tracker": tracker}


def _page_of_output(store, caller, args):
    """``{"text", "more"}``: OUTPUT_PAGE characters of one stream of one run, from ``offset``."""
    stream, run, offset = args.get("stream"), int(args["run"]), int(args.get("offset") or 0)
    if stream not in ("stdout", "stderr"):
        raise NqsError("output stream %r is not valid: use stdout or stderr" % (stream,))
    outputs = [o for o in job_tracker(store, int(args["id"]), caller)["outputs"] if o["run"] == run]
    if not outputs:
        raise NqsError("request %d has no output of run %d" % (int(args["id"]), run))
    text = outputs[0][stream]
    return {"text": text[offset:offset + OUTPUT_PAGE], "more": len(text) > offset + OUTPUT_PAGE}


OPERATIONS = {
    "submit": _op_submit,
    "submit_many": _op_submit_many,
    "delete": lambda store, caller, args: {"message": delete_job(store, caller, int(args["id"]),
                                                                 int(args.get("signal", 15)))},
    "queues": lambda store, caller, args: {"queues": [q._asdict() for q in queue_status(store)]},
    "jobs": lambda store, _caller, args: _page_of_jobs(store, args),
    "tracker": _tracker_without_output,
    "output": _page_of_output,
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
