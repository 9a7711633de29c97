"""Attacks on the peer protocol (docs/security.md "Peer machines"), by real users on real nodes.

Three network namespaces: node A (site of machine ID 100, 10.193.7.1) and node B (site of
machine ID 200, 10.193.7.2) on one link; node C (10.193.8.3, registered at B as machine ID
300) on a second link to B. B maps cjct1 of machine 100 to its cjct2. The attacker is the
unprivileged user cjct1 on node A (setpriv inside A's namespace: A's address, no key), who
crafts frames by hand and replays what a root sniffer captured on B's link. Each refusal is
one line in B's log naming the source address and the reason, and no job is made.
"""

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from cjc.net import wire
from cjc.net.credential import WINDOW, node_credentials
from cjc.jobs.store import open_store
from jobsite import USER_PYTHON, USERS, Node, make_root, make_users, remove_root, remove_users, wait_until

pytestmark = pytest.mark.netns

A_ADDR, B_ADDR, B_ADDR_C, C_ADDR = "10.193.7.1", "10.193.7.2", "10.193.8.2", "10.193.8.3"
PORT = 6070


def ip(*args):
    subprocess.run(["ip"] + list(args), check=True, capture_output=True)


# Sends the frame bytes read (hex) on stdin from this namespace's address; prints the reply.
SENDER = r"""
import json, socket, struct, sys
host, port = sys.argv[1], int(sys.argv[2])
sock = socket.create_connection((host, port), timeout=10)
sock.sendall(bytes.fromhex(sys.stdin.read().strip()))
head = sock.recv(4, socket.MSG_WAITALL)
body = b""
while len(body) < struct.unpack(">I", head)[0]:
    body += sock.recv(65536)
print(body.decode())
"""

# Root on node B: every TCP payload sent to B's NQS port on link a-b, one hex line per segment.
SNIFFER = r"""
import socket, sys
port, out = int(sys.argv[1]), sys.argv[2]
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
sock.bind(("b0", 0))
with open(out, "w") as handle:
    print("ready", flush=True)
    while True:
        packet = sock.recv(65536)
        ip = packet[14:]
        if packet[12:14] != b"\x08\x00" or ip[9] != 6:
            continue
        tcp = ip[(ip[0] & 15) * 4:]
        if int.from_bytes(tcp[2:4], "big") == port:
            payload = tcp[(tcp[12] >> 4) * 4:int.from_bytes(ip[2:4], "big") - (ip[0] & 15) * 4]
            if payload:
                handle.write(payload.hex() + "\n")
                handle.flush()
"""


@pytest.fixture(scope="module")
def lab():
    tag = uuid.uuid4().hex[:6]
    spaces = {name: "cjcap-%s-%s" % (name, tag) for name in "abc"}
    nodes = []
    make_users()
    try:
        for ns in spaces.values():
            ip("netns", "add", ns)
            ip("-n", ns, "link", "set", "lo", "up")
        links = ((("a", "a0", A_ADDR), ("b", "b0", B_ADDR)), (("c", "c0", C_ADDR), ("b", "b1", B_ADDR_C)))
        for (left, ldev, laddr), (right, rdev, raddr) in links:
            ip("link", "add", ldev, "netns", spaces[left], "type", "veth", "peer", "name", rdev,
               "netns", spaces[right])
            for side, dev, address in ((left, ldev, laddr), (right, rdev, raddr)):
                ip("-n", spaces[side], "addr", "add", address + "/24", "dev", dev)
                ip("-n", spaces[side], "link", "set", dev, "up")
        ip("-n", spaces["c"], "route", "add", B_ADDR + "/32", "via", B_ADDR_C)
        a = Node(make_root(100), address=A_ADDR, port=PORT, ns=spaces["a"])
        b = Node(make_root(200), address=B_ADDR, port=PORT, ns=spaces["b"])
        nodes += [a, b]
        b.start_daemon("logdaemon")  # B's log: where each refusal must be one line
        for node in (a, b):
            node.daemon = node.start()
        assert b.qmgr("add mid 100 node_a %s %d" % (A_ADDR, PORT), "add map 100 cjct1 cjct2",
                      "add mid 300 node_c %s %d" % (C_ADDR, PORT)).returncode == 0
        assert a.qmgr("add mid 200 node_b %s %d" % (B_ADDR, PORT),
                      "create pipe_queue to_b destination=guibs_1@node_b").returncode == 0
        yield a, b, spaces
    finally:
        for node in nodes:
            node.cleanup()
            remove_root(node.layout)
        for ns in spaces.values():
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        remove_users()


def as_user(ns, user, argv, stdin=None, env=None):
    """Run ``argv`` as ``user`` (no privileges, no groups) inside network namespace ``ns``."""
    uid = str(USERS[user])
    return subprocess.run(["ip", "netns", "exec", ns, "setpriv", "--reuid", uid, "--regid", uid, "--clear-groups"]
                          + argv, input=stdin, capture_output=True, text=True, timeout=30,
                          env=dict({"PATH": "/usr/bin:/bin", "LANG": "C"}, **(env or {})))


def send(ns, data, user="cjct1"):
    """The reply to frame bytes ``data`` sent to B's netdaemon by ``user`` from namespace ``ns``."""
    done = as_user(ns, user, [USER_PYTHON, "-c", SENDER, B_ADDR, str(PORT)], stdin=data.hex())
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def seal(node, message, machine_id=100, user="cjct1", to=200, clock=None):
    """What the root daemon of ``node`` would send (the test is root: it can read the key)."""
    backend = node_credentials(node.layout)
    if clock:
        backend.clock = clock
    return wire.encode(backend.seal(message, machine_id, user, USERS.get(user, 0), to))


def jobs_of(node):
    with open_store(node.spool) as store:
        return store.db.execute("SELECT count(*) FROM jobs").fetchone()[0]


def refusal(node, ns, data, reason, source):
    """Send ``data`` from ``ns``: refused with ``reason``, exactly one new line in the node's log about
    ``source`` (the refusal, with the reason), and no new job."""
    log = os.path.join(node.spool, "log", "nqs.log")
    offset, jobs = os.path.getsize(log), jobs_of(node)
    reply = send(ns, data)
    assert reply["ok"] is False and reason in reply["error"], reply

    def new_lines():
        with open(log) as handle:
            handle.seek(offset)
            return handle.read().splitlines()

    def about():  # the lines naming the source (not the daemons' start lines after a restart)
        return [line for line in new_lines() if source in line]
    wait_until(about, 5, "the refusal in the log")
    time.sleep(0.2)  # and nothing more comes
    lines = about()
    assert len(lines) == 1 and "refused request from %s port " % source in lines[0] and reason in lines[0], lines
    assert jobs_of(node) == jobs


@pytest.fixture(scope="module")
def sniffed(lab):
    """A real routed submit of cjct1 on A, as a root sniffer on B's link captured it (its submit frame)."""
    a, b, spaces = lab
    out = "/tmp/cjcap-sniff-%s" % uuid.uuid4().hex[:6]
    sniffer = subprocess.Popen(["ip", "netns", "exec", spaces["b"], sys.executable, "-c", SNIFFER, str(PORT), out],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert sniffer.stdout.readline() == "ready\n"
        done = as_user(spaces["a"], "cjct1", [USER_PYTHON, a.layout.path("/usr/bin/qsub"), "-q", "to_b"],
                       stdin="id -u\n", env={"CJC_ROOT": a.layout.root})
        assert done.returncode == 0, done.stderr
        job_id = int(done.stdout.split()[1].split(".")[0])
        routed = a.wait_state(job_id, "MIGRATED")
        remote_id = int(routed["reason"].rsplit(" ", 1)[1])
        wait_until(lambda: os.path.getsize(out) > 0, 5, "the sniffed frame")
        time.sleep(0.3)
    finally:
        sniffer.send_signal(signal.SIGKILL)
        sniffer.wait()
        sniffer.stdout.close()
    with open(out) as handle:
        data = b"".join(bytes.fromhex(line) for line in handle if line.strip())
    os.unlink(out)
    frames = []  # the route's ping, then its submit: one frame each
    while len(data) >= 4:
        length = int.from_bytes(data[:4], "big")
        assert len(data) >= 4 + length
        frames.append(data[:4 + length])
        data = data[4 + length:]
    return job_id, remote_id, next(frame for frame in frames if wire.decode(frame[4:]).get("op") == "submit")


def test_a_routed_job_runs_as_the_mapped_user_of_the_credentials_user(lab, sniffed):
    _a, b, _spaces = lab
    _job_id, remote_id, data = sniffed
    job = b.wait_state(remote_id, "EXITED")
    assert (job["owner"], job["uid"], job["origin"]) == ("cjct2", USERS["cjct2"], "machine 100 user cjct1")
    assert b.tracker(remote_id)["outputs"][0]["stdout"] == "%d\n" % USERS["cjct2"]
    frame = wire.decode(data[4:])
    assert "user" not in frame and "from" not in frame  # who it is for is in the credential only
    assert (frame["cred"]["mid"], frame["cred"]["user"], frame["cred"]["uid"], frame["cred"]["to"]) == \
        (100, "cjct1", USERS["cjct1"], 200)


def test_the_unprivileged_user_cannot_read_the_key(lab):
    a, _b, spaces = lab
    done = as_user(spaces["a"], "cjct1", [USER_PYTHON, "-c", "open(%r).read()" % a.layout.cluster_key])
    assert done.returncode != 0 and "PermissionError" in done.stderr
    assert os.stat(a.layout.cluster_key).st_mode & 0o777 == 0o400


def test_a_hand_made_frame_without_the_key_is_refused(lab):
    _a, b, spaces = lab
    bare = {"op": "submit", "from": 100, "user": "cjct1", "queue": "guibs_1", "script": "id\n"}
    refusal(b, spaces["a"], wire.encode(bare), "no credential in the frame", A_ADDR)
    guess = dict(bare, cred={"v": 1, "mid": 100, "user": "root", "uid": 0, "to": 200, "ts": time.time(),
                             "nonce": "0" * 32, "body": "0" * 64, "mac": "f" * 64})
    refusal(b, spaces["a"], wire.encode(guess), "invalid credential (not made with this cluster's key)", A_ADDR)


def test_a_sniffed_frame_replayed_is_refused_even_after_a_restart(lab, sniffed):
    _a, b, spaces = lab
    data = sniffed[2]
    refusal(b, spaces["a"], data, "replayed frame (nonce ", A_ADDR)
    b.stop(b.daemon)
    b.daemon = b.start()  # a new nqsdaemon and netdaemon: the nonce is in the site DB
    refusal(b, spaces["a"], data, "replayed frame (nonce ", A_ADDR)


@pytest.mark.parametrize("change,reason", [
    (lambda f: f.update(script="id; cat /etc/shadow\n"), "frame body does not match its credential (mutated)"),
    (lambda f: f.update(user="root"), "frame body does not match its credential (mutated)"),
    (lambda f: f["env"].update(LD_PRELOAD="/tmp/x.so"), "frame body does not match its credential (mutated)"),
    (lambda f: f["cred"].update(user="root", uid=0), "invalid credential (not made with this cluster's key)"),
    (lambda f: f["cred"].update(nonce="1" * 32), "invalid credential (not made with this cluster's key)"),
    (lambda f: f["cred"].update(ts=time.time()), "invalid credential (not made with this cluster's key)"),
])
def test_a_sniffed_frame_changed_by_hand_is_refused(lab, sniffed, change, reason):
    _a, b, spaces = lab
    frame = wire.decode(sniffed[2][4:])
    change(frame)
    refusal(b, spaces["a"], wire.encode(frame), reason, A_ADDR)


def test_a_user_field_for_another_user_never_decides(lab):
    _a, b, spaces = lab
    forged = seal(b, {"op": "submit", "user": "root", "queue": "guibs_1", "script": "id\n"})
    refusal(b, spaces["a"], forged, "the frame's user 'root' is not its credential's 'cjct1'", A_ADDR)
    forged = seal(b, {"op": "submit", "from": 300, "queue": "guibs_1", "script": "id\n"})
    refusal(b, spaces["a"], forged, "the frame's from 300 is not its credential's 100", A_ADDR)
    unmapped = seal(b, {"op": "submit", "queue": "guibs_1", "script": "id\n"}, user="cjct2")
    refusal(b, spaces["a"], unmapped, "user cjct2 of machine ID 100 is not mapped", A_ADDR)


def test_a_frame_for_another_site_or_too_old_is_refused(lab):
    _a, b, spaces = lab
    refusal(b, spaces["a"], seal(b, {"op": "ping"}, to=300),
            "credential is for machine ID 300, not for this site's 200", A_ADDR)
    stale = seal(b, {"op": "ping"}, clock=lambda: time.time() - WINDOW - 60)
    refusal(b, spaces["a"], stale, "s from this node's clock", A_ADDR)


def test_a_frame_from_a_third_node_claiming_machine_100_is_refused(lab):
    _a, b, spaces = lab
    refusal(b, spaces["c"], seal(b, {"op": "submit", "queue": "guibs_1", "script": "id\n"}),
            "machine ID 100 must connect from %s, not from %s" % (A_ADDR, C_ADDR), C_ADDR)
    assert send(spaces["c"], seal(b, {"op": "ping"}, machine_id=300))["ok"] is True  # C as itself is served


def test_a_key_others_can_read_or_no_key_makes_netdaemon_refuse_everything(lab):
    a, b, spaces = lab
    os.chmod(b.layout.cluster_key, 0o444)
    try:
        refusal(b, spaces["a"], seal(a, {"op": "ping"}), "must be a file of root with mode 0400", A_ADDR)
    finally:
        os.chmod(b.layout.cluster_key, 0o400)
    os.rename(b.layout.cluster_key, b.layout.cluster_key + ".away")
    try:
        refusal(b, spaces["a"], seal(a, {"op": "ping"}), "no cluster key at %s" % b.layout.cluster_key, A_ADDR)
    finally:
        os.rename(b.layout.cluster_key + ".away", b.layout.cluster_key)
    assert send(spaces["a"], seal(b, {"op": "ping"}))["ok"] is True  # read at each use: no restart needed
