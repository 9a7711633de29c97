"""net/credential: what a credential binds, the key file's rules, the rotation grace, nonces in the site DB.

The same checks attacked over the network by real users: test_attack_peers.py.
"""

import os

import pytest

from cjc.config.layout import Layout
from cjc.jobs.store import create_store, open_store
from cjc.net.credential import WINDOW, ClusterKeyError, CredentialError, HmacCredentials, consume_nonce
from jobsite import write_cluster_key

OLD, NEW = "old-key-" + "a" * 32, "new-key-" + "b" * 32
REQUEST = {"op": "submit", "queue": "guibs_1", "script": "id\n", "env": {"A": "1"}}


@pytest.fixture
def layout(tmp_path):
    layout = Layout(str(tmp_path))
    write_cluster_key(layout)
    return layout


def sealed(layout, clock=None, to=200, **fields):
    backend = HmacCredentials(layout.cluster_key, **({"clock": clock} if clock else {}))
    return backend.seal(dict(REQUEST, **fields), 100, "cjct1", 23001, to)


def test_a_sealed_request_opens_to_its_claim(layout):
    claim = HmacCredentials(layout.cluster_key).open(sealed(layout), 200)
    assert (claim.machine_id, claim.user, claim.uid) == (100, "cjct1", 23001)
    assert len(claim.nonce) == 32 and claim.expires > WINDOW


@pytest.mark.parametrize("change,error", [
    (lambda r: r.pop("cred"), "no credential in the frame"),
    (lambda r: r["cred"].update(user="root"), "invalid credential (not made with this cluster's key)"),
    (lambda r: r["cred"].update(mid=300), "invalid credential"),
    (lambda r: r["cred"].update(extra=1), "malformed credential"),
    (lambda r: r.update(script="rm -rf /\n"), "frame body does not match its credential (mutated)"),
    (lambda r: r.update(user="root"), "frame body does not match its credential (mutated)"),
    (lambda r: r["env"].update(LD_PRELOAD="/tmp/x.so"), "frame body does not match its credential (mutated)"),
])
def test_a_changed_request_is_refused(layout, change, error):
    request = sealed(layout)
    change(request)
    with pytest.raises(CredentialError, match=error.replace("(", r"\(").replace(")", r"\)")):
        HmacCredentials(layout.cluster_key).open(request, 200)


def test_a_credential_for_another_site_or_out_of_its_window_is_refused(layout):
    backend = HmacCredentials(layout.cluster_key)
    with pytest.raises(CredentialError, match="credential is for machine ID 300, not for this site's 200"):
        backend.open(sealed(layout, to=300), 200)
    for skew in (-WINDOW - 5, WINDOW + 5):
        request = sealed(layout, clock=lambda: backend.clock() + skew)
        with pytest.raises(CredentialError, match="more than 300 s from this node's clock"):
            backend.open(request, 200)


def test_another_clusters_key_makes_no_credential_here(layout, tmp_path):
    other = Layout(str(tmp_path / "other"))
    write_cluster_key(other, NEW)
    with pytest.raises(CredentialError, match="not made with this cluster's key"):
        HmacCredentials(layout.cluster_key).open(sealed(other), 200)


def test_rotation_grace_accepts_both_keys_and_signs_with_the_first(tmp_path):
    sender, receiver = Layout(str(tmp_path / "s")), Layout(str(tmp_path / "r"))
    write_cluster_key(sender, OLD)
    write_cluster_key(receiver, OLD, NEW)    # step 1 reached the receiver: the new key accepted, the old signs
    HmacCredentials(receiver.cluster_key).open(sealed(sender), 200)
    write_cluster_key(sender, OLD, NEW)      # step 1 on every node
    write_cluster_key(receiver, NEW, OLD)    # step 2 reached the receiver first: it signs with the new key
    HmacCredentials(sender.cluster_key).open(sealed(receiver), 200)
    HmacCredentials(receiver.cluster_key).open(sealed(sender), 200)
    write_cluster_key(receiver, NEW)         # after the grace: the new key only
    with pytest.raises(CredentialError, match="not made with this cluster's key"):
        HmacCredentials(receiver.cluster_key).open(sealed(sender), 200)


@pytest.mark.parametrize("mode", [0o444, 0o440, 0o404, 0o600 | 0o004])
def test_a_key_readable_by_others_is_refused(layout, mode):
    os.chmod(layout.cluster_key, mode)
    with pytest.raises(ClusterKeyError, match="must be a file of root with mode 0400"):
        HmacCredentials(layout.cluster_key).check()


def test_a_missing_short_or_foreign_key_is_refused(layout):
    backend = HmacCredentials(layout.cluster_key)
    write_cluster_key(layout, "short")
    with pytest.raises(ClusterKeyError, match="at least 32 characters"):
        backend.check()
    os.chown(layout.cluster_key, 23001, 0)
    with pytest.raises(ClusterKeyError, match="it is uid 23001"):
        backend.check()
    os.unlink(layout.cluster_key)
    with pytest.raises(ClusterKeyError, match="no cluster key at .*provision it with the engine role"):
        backend.seal(REQUEST, 100, "cjct1", 23001, 200)
    os.symlink("/etc/passwd", layout.cluster_key)
    with pytest.raises(ClusterKeyError, match="cannot be opened"):
        backend.check()


def test_a_nonce_is_accepted_once_and_forgotten_after_its_window(layout, tmp_path):
    spool = str(tmp_path / "spool")
    os.makedirs(spool)
    create_store(spool)
    claim = HmacCredentials(layout.cluster_key).open(sealed(layout), 200)
    with open_store(spool) as store:
        with store.transaction() as db:
            consume_nonce(db, claim)
    with open_store(spool) as store:  # another connection: as after a restart or a failover
        with pytest.raises(CredentialError, match="replayed frame"), store.transaction() as db:
            consume_nonce(db, claim)
        with store.transaction() as db:
            consume_nonce(db, claim, now=claim.expires + 1)  # expired: forgotten, the table stays small
        assert store.db.execute("SELECT count(*) FROM peer_nonces").fetchone()[0] == 1
