"""The site-to-site protocol of netdaemon: remote submit and status between machine IDs.

Requests are frames (see :mod:`wire`) on the site's NQS port (607 by default,
``nqs_port`` in the site's daemon.conf)::

    {"op": "ping"|"submit"|"status", ..., "cred": <credential>}

The credential (:mod:`credential`) names the sender's machine ID and the user there,
as the sender's root daemon knows it (the owner the kernel named at local submit).
A request is served only when its credential is valid and fresh, its nonce unseen,
the sender's machine ID is known to this site (``qmgr add mid``) and it comes from
that machine's registered address, and (for submit/status) the credential's user is
mapped to a local user (``qmgr add map``, guide §2.2.1). No other field of a frame
says who anyone is. Everything else is refused with a reason; nothing a peer sends
can crash the daemon.
"""

import pwd
import socket

from . import wire
from .credential import CredentialError, consume_nonce
from ..config.daemonconf import NQS_PORT_DEFAULT, SITE, load_daemon_conf
from ..errors import CjcError
from ..jobs.requests import JOBS_PAGE, Caller, NqsError, list_jobs, machine, map_remote_user, queue_status, script_of, submit_job


class Refused(CjcError):
    """A request this site will not serve; the text goes back to the peer and into the log."""


def listen_address(site, report=None):
    """(address, port) the site's netdaemon listens on (daemon.conf ``ipaddress``/``nqs_port``).

    ``report(text)`` is told every problem of the file (a bad value is reported, then ignored).
    """
    settings, diagnostics = load_daemon_conf(site.daemon_conf, SITE)
    for diagnostic in diagnostics:
        if report is not None:
            report(str(diagnostic))
    address = settings.get("ipaddress") or site.address or "0.0.0.0"
    return address, int(settings.get("nqs_port", NQS_PORT_DEFAULT))


def handle_request(store, site, request, peer_address, credentials):
    """The reply dict to one request frame; Refused for anything not allowed.

    ``credentials``: the node's credential backend (:func:`credential.node_credentials`).
    """
    op = request.get("op")
    if op not in ("ping", "submit", "status"):
        raise Refused("unknown operation %r" % (op,))
    try:
        claim = credentials.open(request, site.machine_id)
    except CredentialError as err:
        raise Refused(str(err))
    sender = claim.machine_id
    for field, claimed in (("from", sender), ("user", claim.user)):
        if field in request and request[field] != claimed:
            raise Refused("the frame's %s %r is not its credential's %r" % (field, request[field], claimed))
    with store.snapshot() as db:
        known = machine(db, machine_id=sender)
        if known is None:
            raise Refused("machine ID %d is not known to site %s" % (sender, site.name))
        if known["address"] != peer_address:
            raise Refused("machine ID %d must connect from %s, not from %s"
                          % (sender, known["address"], peer_address))
        local_user = None
        if op != "ping":
            local_user = map_remote_user(db, sender, claim.user)
            if local_user is None:
                raise Refused("user %s of machine ID %d is not mapped to a user of site %s"
                              % (claim.user, sender, site.name))
    if op != "submit":
        _consume(store, claim)
    if op == "ping":
        return {"ok": True, "site": site.name, "machine_id": site.machine_id}
    try:
        caller = Caller(pwd.getpwnam(local_user).pw_uid, local_user)
    except KeyError:
        raise Refused("mapped user %s does not exist on this node" % local_user)
    if caller.uid == 0 and claim.user != "root":
        # guide §2.5.4: a job never runs as root unless root submitted it
        raise Refused("user %s of machine ID %d is mapped to root: refused" % (claim.user, sender))
    if op == "submit":
        # "origin_job" (the request number at the sender) makes it exactly-once: a re-send of
        # (sender, origin_job) is answered with the job the first send made
        origin_job = request.get("origin_job")
        if origin_job is not None and (not isinstance(origin_job, int) or isinstance(origin_job, bool)
                                       or origin_job < 1):
            raise Refused("origin_job %r is not a request number" % (origin_job,))
        try:
            job_id = submit_job(store, caller, script_of(request), request.get("queue"),
                                request.get("name"), request.get("restart", "ENABLE"), request.get("env"),
                                origin="machine %d user %s" % (sender, claim.user),
                                origin_key=None if origin_job is None else (sender, origin_job),
                                also=lambda db: consume_nonce(db, claim))
        except (NqsError, CredentialError) as err:
            raise Refused(str(err))
        return {"ok": True, "id": job_id, "site": site.name}
    # status: one page of the caller's jobs (ask again with "after" the last one while "more")
    after = request.get("after")
    if after is not None and (not isinstance(after, int) or isinstance(after, bool)):
        raise Refused("after %r is not a request number" % (after,))
    jobs = list_jobs(store, after=after, limit=JOBS_PAGE, uid=caller.uid)
    return {"ok": True, "site": site.name, "jobs": jobs, "more": len(jobs) == JOBS_PAGE,
            "queues": [q._asdict() for q in queue_status(store)]}


def _consume(store, claim):
    """Remember the nonce of a request without other effect (ping, status) in its own transaction."""
    try:
        with store.transaction() as db:
            consume_nonce(db, claim)
    except CredentialError as err:
        raise Refused(str(err))


def remote_call(site, store, machine_name, request, credentials, caller, timeout=5.0):
    """Send ``request`` from ``site`` to the machine called ``machine_name`` on behalf of the
    local user ``caller`` (a Caller: the owner the kernel named at submit); the reply or Refused.

    Never call it inside a write transaction: it waits on the network (up to ``timeout`` s).
    """
    with store.snapshot() as snap:
        target = machine(snap, name=machine_name)
    if target is None:
        raise Refused("machine %s is not known to site %s (qmgr add mid ...)" % (machine_name, site.name))
    source, _port = listen_address(site)
    request = credentials.seal(request, site.machine_id, caller.name, caller.uid, target["machine_id"])
    try:
        reply = wire.call((target["address"], target["port"]), request, timeout,
                          source=None if source == "0.0.0.0" else source)
    except (OSError, wire.FrameError, socket.timeout) as err:
        raise Refused("machine %s (%s port %d) cannot be reached: %s"
                      % (machine_name, target["address"], target["port"], err))
    if not reply.get("ok"):
        raise Refused("machine %s refused: %s" % (machine_name, reply.get("error")))
    return reply
