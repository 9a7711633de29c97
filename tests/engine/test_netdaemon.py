"""netdaemon: remote submit/status between machine IDs with user mapping; refusals (guide §2.2.1).

The attacks on the credential itself are in test_attack_peers.py.
"""

import os
import signal
import socket
import struct

import pytest

from cjc.net import wire
from cjc.net.credential import node_credentials
from cjc.net.peers import Refused, remote_call
from cjc.jobs.requests import JOBS_PAGE, Caller, delete_job, submit_job
from cjc.jobs.store import open_store
from jobsite import USERS, Node, free_port, make_root, make_users, remove_root, remove_users, wait_until


@pytest.fixture(scope="module")
def pair():
    """Node A (machine 100 on 127.0.0.1) routes pipe queue to_b to node B (machine 200 on 127.0.0.2)."""
    make_users()
    a = Node(make_root(100), address="127.0.0.1")
    b = Node(make_root(200), address="127.0.0.2")
    try:
        b.start_daemon("logdaemon")
        for node in (a, b):
            node.daemon = node.start()
        assert b.qmgr("add mid 100 node_a 127.0.0.1 %d" % a.port, "add map 100 cjct1 cjct2",
                      "add mid 300 node_c 127.0.0.5 607").returncode == 0
        assert a.qmgr("add mid 200 node_b 127.0.0.2 %d" % b.port,
                      "create pipe_queue to_b destination=guibs_1@node_b").returncode == 0
        yield a, b
    finally:
        for node in (a, b):
            node.cleanup()
            remove_root(node.layout)
        remove_users()


def raw(node, data, source="127.0.0.1", read=True):
    """Send raw bytes to the node's netdaemon from ``source``; the reply dict (or None)."""
    sock = socket.create_connection(("127.0.0.2", node.port), timeout=10, source_address=(source, 0))
    try:
        sock.sendall(data)
        if not read:
            return None
        return wire.recv_message(sock)
    finally:
        sock.close()


def frame(message):
    return wire.encode(message)


def signed(node, message, machine_id=100, user="cjct1"):
    """A frame with the credential machine ``machine_id``'s root daemon would give it (the shared test key)."""
    return frame(node_credentials(node.layout).seal(message, machine_id, user, USERS.get(user, 0), node.site.machine_id))


def call(a, request, user):
    with open_store(a.spool) as store:
        return remote_call(a.site, store, "node_b", request, node_credentials(a.layout), Caller(USERS[user], user))


def test_remote_submit_runs_as_the_mapped_user(pair):
    a, b = pair
    job_id = a.qsub("id -u; echo from afar\n", "-q", "to_b", user="cjct1")
    routed = a.wait_state(job_id, "MIGRATED")
    assert routed["reason"].startswith("routed to guibs_1@node_b as request ")
    remote_id = int(routed["reason"].rsplit(" ", 1)[1])
    job = b.wait_state(remote_id, "EXITED")
    assert (job["owner"], job["uid"]) == ("cjct2", USERS["cjct2"])
    assert job["origin"] == "machine 100 user cjct1"
    assert b.tracker(remote_id)["outputs"][0]["stdout"] == "%d\nfrom afar\n" % USERS["cjct2"]


def test_remote_status_lists_the_mapped_users_jobs(pair):
    a, b = pair
    job_id = b.qsub("sleep 30\n", "-q", "guibs_1", user="cjct2")
    reply = call(a, {"op": "status"}, "cjct1")
    assert job_id in [job["id"] for job in reply["jobs"]]
    assert {q["name"] for q in reply["queues"]} >= {"guilb_def", "guibs_1"}
    b.run("/usr/bin/qdel", str(job_id))


def test_remote_status_comes_in_pages_that_fit_a_frame(pair):
    """More queued jobs than one reply may carry: the first page says "more", the next goes on
    after its last request number, and no page is refused for its size."""
    a, b = pair
    assert b.qmgr("create batch_queue q_pages", "stop queue q_pages").returncode == 0  # they stay queued
    with open_store(b.spool) as store:
        ids = [submit_job(store, Caller(USERS["cjct2"], "cjct2"), "true\n", "q_pages") for _ in range(JOBS_PAGE + 5)]
    try:
        first = call(a, {"op": "status"}, "cjct1")
        assert len(first["jobs"]) == JOBS_PAGE and first["more"] is True
        rest = call(a, {"op": "status", "after": first["jobs"][-1]["id"]}, "cjct1")
        assert rest["more"] is False
        assert set(ids) <= {job["id"] for job in first["jobs"] + rest["jobs"]}
        with pytest.raises(Refused, match="after 'x' is not a request number"):
            call(a, {"op": "status", "after": "x"}, "cjct1")
    finally:
        with open_store(b.spool) as store:
            for job_id in ids:
                delete_job(store, Caller(0, "root"), job_id)


def test_unmapped_user_is_refused(pair):
    a, _b = pair
    with pytest.raises(Refused, match="user cjct2 of machine ID 100 is not mapped"):
        call(a, {"op": "submit", "script": "true\n"}, "cjct2")


SIGNED = object()  # the frame's message is sealed by the test (the key is read at run time)


@pytest.mark.parametrize("data,source,error", [
    (b"GET / HTTP/1.0\r\n\r\n", "127.0.0.1", "frame of 1195725856 bytes announced"),
    (struct.pack(">I", wire.MAX_FRAME + 1), "127.0.0.1", "frame of %d bytes announced, the limit is %d" % (wire.MAX_FRAME + 1, wire.MAX_FRAME)),
    (struct.pack(">I", 5) + b"\xff{}[]", "127.0.0.1", "frame is not UTF-8 JSON"),
    (struct.pack(">I", 2) + b"[]", "127.0.0.1", "frame does not hold a JSON object"),
    (frame({"op": "ping", "from": 100}), "127.0.0.1", "no credential in the frame"),
    ((SIGNED, {"op": "ping"}, 999), "127.0.0.1", "machine ID 999 is not known"),
    (frame({"op": "ping", "from": 100}), "127.0.0.3", "127.0.0.3 is not the address of a machine known to site"),
    ((SIGNED, {"op": "ping"}, 300), "127.0.0.1", "machine ID 300 must connect from 127.0.0.5, not from 127.0.0.1"),
    (frame({"op": "rm -rf", "from": 100}), "127.0.0.1", "unknown operation"),
    ((SIGNED, {"op": "submit", "queue": "nosuch", "script": "x"}, 100), "127.0.0.1", "no such queue: nosuch"),
])
def test_bad_frames_are_refused_logged_and_the_daemon_keeps_serving(pair, data, source, error):
    _a, b = pair
    if isinstance(data, tuple):
        data = signed(b, data[1], data[2])
    pid = b.record_pid("netdaemon")
    reply = raw(b, data, source)
    assert reply["ok"] is False and error in reply["error"]
    log = os.path.join(b.spool, "log", "nqs.log")
    wait_until(lambda: error in open(log).read(), 5, "the refusal in the site log")
    assert raw(b, signed(b, {"op": "ping"})) == {"ok": True, "site": b.site.name, "machine_id": 200}
    assert b.record_pid("netdaemon") == pid


def test_half_frame_and_silent_peers_do_not_block_others(pair):
    _a, b = pair
    stuck = socket.create_connection(("127.0.0.2", b.port), timeout=10, source_address=("127.0.0.1", 0))
    stuck.sendall(struct.pack(">I", 100) + b"{")
    raw(b, struct.pack(">I", 100) + b"{", read=False)  # and one that hangs up mid-frame
    assert raw(b, signed(b, {"op": "ping"}))["ok"] is True
    stuck.close()


def test_mapping_onto_root_is_refused(pair):
    a, b = pair
    assert b.qmgr("add map 100 cjct2 root").returncode == 0
    try:
        with pytest.raises(Refused, match="user cjct2 of machine ID 100 is mapped to root"):
            call(a, {"op": "submit", "script": "id\n"}, "cjct2")
    finally:
        b.qmgr("delete map 100 cjct2")


def test_unreachable_remote_destination_keeps_jobs_waiting_without_holding_up_the_site(pair):
    a, _b = pair
    assert a.qmgr("add mid 300 node_x 127.0.0.1 %d" % free_port(),
                  "create pipe_queue to_x destination=guibs_1@node_x").returncode == 0
    waiting = [a.qsub("true\n", "-q", "to_x") for _ in range(3)]
    local = a.qsub("echo here\n", "-q", "guibs_1")
    assert a.wait_state(local, "EXITED", seconds=5)
    assert [a.job(job_id)["state"] for job_id in waiting] == ["QUEUED"] * 3
    assert a.queues()["to_x"].queued == 3
    # nothing was sent, so nothing was ever ROUTING (only a site that answers gets a job sent)
    assert not [e for job_id in waiting for e in a.tracker(job_id)["events"] if e["state"] != "QUEUED"]


def test_remote_migration_destination_takes_interrupted_jobs(pair):
    a, b = pair
    assert a.qmgr("create batch_queue q_mig restart=MIGRATION_PURGE migration=guibs_1@node_b").returncode == 0
    job_id = a.qsub("echo run on $QSUB_HOST; sleep 1000\n", "-q", "q_mig", user="cjct1")
    a.wait_state(job_id, "RUNNING")
    pgid = wait_until(lambda: a.job(job_id)["pid"], 5, "pid")
    netdaemon = a.record_pid("netdaemon")
    a.kill9("nqsdaemon")
    os.killpg(pgid, signal.SIGKILL)
    wait_until(lambda: a.record_pid("netdaemon") is None, 5, "netdaemon %d to exit" % netdaemon)
    a.daemon = a.start()
    job = a.job(job_id)
    assert job["state"] == "MIGRATED" and job["reason"].startswith("migrated to guibs_1@node_b as request ")
    remote = b.wait_state(int(job["reason"].rsplit(" ", 1)[1]), "RUNNING", seconds=10)
    assert (remote["owner"], remote["queue"]) == ("cjct2", "guibs_1")
    assert a.tracker(job_id)["outputs"][0]["stdout"] == "run on %s\n" % a.site.name


def test_idle_connections_of_strangers_and_a_greedy_peer_do_not_lock_out_others(pair):
    _a, b = pair
    idle = []
    try:
        for source in ["127.0.0.7"] * 70 + ["127.0.0.1"] * 16:
            sock = socket.create_connection(("127.0.0.2", b.port), timeout=10, source_address=(source, 0))
            idle.append(sock)
        stranger = wire.recv_message(idle[0])
        assert stranger == {"ok": False, "error": "127.0.0.7 is not the address of a machine known to site %s"
                            % b.site.name}
        assert raw(b, signed(b, {"op": "ping"}, 300), source="127.0.0.5")["ok"] is True
        greedy = raw(b, signed(b, {"op": "ping"}))
        assert greedy == {"ok": False, "error": "16 connections from 127.0.0.1 are open already"}
    finally:
        for sock in idle:
            sock.close()
