"""The site-to-site protocol of netdaemon: remote submit and status between machine IDs.

Requests are frames (see :mod:`wire`) on the site's NQS port (607 by default,
``nqs_port`` in the site's daemon.conf)::

    {"op": "ping"|"submit"|"status", "from": <sender machine ID>, "user": <user there>, ...}

A request is served only when the sender's machine ID is known to this site
(``qmgr add mid``), it comes from that machine's registered address, and (for
submit/status) its user is mapped to a local user (``qmgr add map``, SPEC §2.12).
Everything else is refused with a reason; nothing a peer sends can crash the daemon.
"""

import pwd
import socket

from . import wire
from ..config.daemonconf import NQS_PORT_DEFAULT, SITE, load_daemon_conf
from ..errors import CjcError
from ..jobs.requests import Caller, NqsError, list_jobs, machine, map_remote_user, queue_status, script_of, submit_job


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


def handle_request(store, site, request, peer_address):
    """The reply dict to one request frame; Refused for anything not allowed."""
    op = request.get("op")
    sender = request.get("from")
    if op not in ("ping", "submit", "status"):
        raise Refused("unknown operation %r" % (op,))
    if not isinstance(sender, int) or isinstance(sender, bool):
        raise Refused("no sender machine ID in the request")
    with store.snapshot() as db:
        known = machine(db, machine_id=sender)
        if known is None:
            raise Refused("machine ID %d is not known to site %s" % (sender, site.name))
        if known["address"] != peer_address:
            raise Refused("machine ID %d must connect from %s, not from %s"
                          % (sender, known["address"], peer_address))
        local_user = None
        if op != "ping":
            remote_user = request.get("user")
            if not isinstance(remote_user, str):
                raise Refused("no user in the request")
            local_user = map_remote_user(db, sender, remote_user)
            if local_user is None:
                raise Refused("user %s of machine ID %d is not mapped to a user of site %s"
                              % (remote_user, sender, site.name))
    if op == "ping":
        return {"ok": True, "site": site.name, "machine_id": site.machine_id}
    try:
        caller = Caller(pwd.getpwnam(local_user).pw_uid, local_user)
    except KeyError:
        raise Refused("mapped user %s does not exist on this node" % local_user)
    if caller.uid == 0 and request["user"] != "root":
        # SPEC §2.10: a job never runs as root unless root submitted it
        raise Refused("user %s of machine ID %d is mapped to root: refused" % (request["user"], sender))
    if op == "submit":
        try:
            job_id = submit_job(store, caller, script_of(request), request.get("queue"),
                                request.get("name"), request.get("restart", "ENABLE"), request.get("env"),
                                origin="machine %d user %s" % (sender, request["user"]))
        except NqsError as err:
            raise Refused(str(err))
        return {"ok": True, "id": job_id, "site": site.name}
    jobs = [job for job in list_jobs(store) if job["uid"] == caller.uid]
    return {"ok": True, "site": site.name, "jobs": jobs, "queues": [q._asdict() for q in queue_status(store)]}


def remote_call(site, store, machine_name, request, timeout=5.0, db=None):
    """Send ``request`` from ``site`` to the machine called ``machine_name``; the reply or Refused.

    ``db``: the connection of a transaction already open (the lookup then reads inside it).
    """
    if db is not None:
        target = machine(db, name=machine_name)
    else:
        with store.snapshot() as snap:
            target = machine(snap, name=machine_name)
    if target is None:
        raise Refused("machine %s is not known to site %s (qmgr add mid ...)" % (machine_name, site.name))
    source, _port = listen_address(site)
    request = dict(request, **{"from": site.machine_id})
    try:
        reply = wire.call((target["address"], target["port"]), request, timeout,
                          source=None if source == "0.0.0.0" else source)
    except (OSError, wire.FrameError, socket.timeout) as err:
        raise Refused("machine %s (%s port %d) cannot be reached: %s"
                      % (machine_name, target["address"], target["port"], err))
    if not reply.get("ok"):
        raise Refused("machine %s refused: %s" % (machine_name, reply.get("error")))
    return reply
