"""Who sent a frame between sites: an HMAC-SHA256 credential under the cluster's shared key.

Only root can read the key (``/usr/lib/nqs/etc/cluster.key``, mode 0400), so only a
node's root daemons can make a credential; nqsdaemon states in it the user the kernel
named when the job was submitted locally (SO_PEERCRED), so a process on a peer can have
work done only as itself. Every frame a site sends to another carries ``cred``::

    {"v": 1, "mid": <origin machine ID>, "user": <name there>, "uid": <uid there>,
     "to": <destination machine ID>, "ts": <unix time>, "nonce": <32 hex digits>,
     "body": <sha256 of the frame without cred>, "mac": <HMAC-SHA256 of the fields above under the key>}

The receiver refuses a credential no key of its own made, a body that is not the one
sealed, a credential meant for another machine ID (a frame to one site is no good at
the next), a timestamp more than ``WINDOW`` seconds from its clock, and a nonce it has
seen (kept in the site database for the window, so a restart or a failover forgets none).

The key file holds one key per line (at least 32 characters): the first signs, every one
is accepted (the grace of a rolling key rotation: docs/security.md "Peer machines").
:func:`node_credentials` is the one place that picks the backend: a MUNGE backend would
offer the same ``check``, ``seal`` and ``open``.
"""

import collections
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import stat
import time

from ..errors import CjcError

VERSION = 1
WINDOW = 300.0  # seconds a credential is valid either side of the receiver's clock
MIN_KEY = 32
_FIELDS = ("v", "mid", "user", "uid", "to", "ts", "nonce", "body")


class CredentialError(CjcError):
    """A frame's credential is missing, not made with this cluster's key, stale or replayed."""


class ClusterKeyError(CredentialError):
    """The node's cluster key is missing or unsafe (readable by others, not root's)."""


#: what a valid credential says: who sent the frame, and until when its nonce must be remembered
Claim = collections.namedtuple("Claim", "machine_id user uid nonce expires")


def canonical(message):
    """The bytes a digest is taken of: sorted keys, no spaces (the same dict, the same bytes)."""
    return json.dumps(message, sort_keys=True, separators=(",", ":")).encode("utf-8")


def body_digest(request):
    return hashlib.sha256(canonical({k: v for k, v in request.items() if k != "cred"})).hexdigest()


def load_keys(path):
    """The keys of the key file at ``path`` (the first signs); ClusterKeyError when missing or unsafe."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ClusterKeyError("no cluster key at %s: provision it with the engine role (every node the same key)" % path)
    except OSError as err:
        raise ClusterKeyError("cluster key %s cannot be opened: %s" % (path, err.strerror))
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o077:
            raise ClusterKeyError("cluster key %s must be a file of root with mode 0400 (it is uid %d mode %04o): "
                                  "refused" % (path, info.st_uid, stat.S_IMODE(info.st_mode)))
        keys = [line.strip() for line in handle.read(64 * 1024).splitlines() if line.strip()]
    if not keys or any(len(key) < MIN_KEY for key in keys):
        raise ClusterKeyError("cluster key %s must hold keys of at least %d characters, one a line" % (path, MIN_KEY))
    return keys


def _mac(key, fields):
    return hmac.new(key, canonical(fields), hashlib.sha256).hexdigest()


class HmacCredentials:
    """The credential backend of this release: HMAC-SHA256 under the key file at ``key_path``.

    The file is read on every use, so a rotated key takes effect without a daemon restart.
    """

    def __init__(self, key_path, clock=time.time):
        self.key_path, self.clock = key_path, clock

    def check(self):
        """ClusterKeyError when this node can neither make nor check credentials (told at start)."""
        load_keys(self.key_path)

    def seal(self, request, machine_id, user, uid, to):
        """``request`` with the credential of (``machine_id``, ``user``, ``uid``) for machine ID ``to`` added."""
        key = load_keys(self.key_path)[0]
        fields = {"v": VERSION, "mid": machine_id, "user": user, "uid": uid, "to": to, "ts": self.clock(),
                  "nonce": secrets.token_hex(16), "body": body_digest(request)}
        return dict(request, cred=dict(fields, mac=_mac(key, fields)))

    def open(self, request, receiver):
        """The Claim of a request's credential to machine ID ``receiver``; CredentialError saying why it is refused."""
        cred = request.get("cred")
        if not isinstance(cred, dict):
            raise CredentialError("no credential in the frame")
        fields = {name: cred.get(name) for name in _FIELDS}
        mac = cred.get("mac")
        if cred.keys() != set(_FIELDS) | {"mac"} or not isinstance(mac, str) or fields["v"] != VERSION:
            raise CredentialError("malformed credential")
        if not any(hmac.compare_digest(_mac(key, fields), mac) for key in load_keys(self.key_path)):
            raise CredentialError("invalid credential (not made with this cluster's key)")
        if not isinstance(fields["body"], str) or not hmac.compare_digest(fields["body"], body_digest(request)):
            raise CredentialError("frame body does not match its credential (mutated)")
        if fields["to"] != receiver:
            raise CredentialError("credential is for machine ID %r, not for this site's %d" % (fields["to"], receiver))
        stamp, now = fields["ts"], self.clock()
        if not isinstance(stamp, (int, float)) or isinstance(stamp, bool) or abs(now - stamp) > WINDOW:
            raise CredentialError("credential timestamp %r is more than %d s from this node's clock %.0f"
                                  % (stamp, WINDOW, now))
        if (not isinstance(fields["mid"], int) or not isinstance(fields["user"], str)
                or not isinstance(fields["uid"], int) or not isinstance(fields["nonce"], str)):
            raise CredentialError("malformed credential")
        return Claim(fields["mid"], fields["user"], fields["uid"], fields["nonce"], stamp + WINDOW)


def node_credentials(layout):
    """The credential backend of the node with ``layout`` (the one place a backend is chosen)."""
    return HmacCredentials(layout.cluster_key)


def consume_nonce(db, claim, now=None):
    """Remember ``claim``'s nonce inside the open transaction ``db``; CredentialError when seen.

    Called in the transaction of the request's effect: the effect and its nonce commit together.
    Nonces whose credentials have expired are forgotten here, so the table stays small.
    """
    db.execute("DELETE FROM peer_nonces WHERE expires < ?", (time.time() if now is None else now,))
    try:
        db.execute("INSERT INTO peer_nonces (nonce, machine_id, expires) VALUES (?, ?, ?)",
                   (claim.nonce, claim.machine_id, claim.expires))
    except sqlite3.IntegrityError:
        raise CredentialError("replayed frame (nonce %s of machine ID %d was seen already)"
                              % (claim.nonce[:16], claim.machine_id))
