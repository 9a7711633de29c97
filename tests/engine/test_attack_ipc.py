"""Attacks on a site's local IPC and its servers by an unprivileged local user (docs/security.md,
"Local IPC" and "Clients that are slow, many or hostile").

The attacker is the test user cjct2 (made by useradd, jobsite.make_users), the victim cjct1;
the site is real: logdaemon, nqsdaemon with its netdaemon, comagent, the installed commands.
"""

import json
import os
import pwd
import socket
import subprocess
import sys
import time

import pytest

from cjc.errors import CjcError
from cjc.net import wire
from cjc.net.credential import node_credentials
from cjc.net.portkeeper import take_over
from cjc.ocf.agent import SiteAgent
from cjc.site import endpoints
from cjc.site.log import RateLimited

from jobsite import USER_PYTHON, Node, free_port, make_root, remove_root, wait_until

pytestmark = [pytest.mark.root, pytest.mark.slow]

ATTACKER, VICTIM = "cjct2", "cjct1"
QSUB, QSTAT = "/usr/bin/qsub", "/usr/bin/qstat"
KINDS = ("nqs", "wake", "log", "health")


def as_user(name, code, *args, stdin=None):
    """A Popen of ``python3 -c code args`` running as user ``name`` (stdout/stderr piped, text)."""
    entry = pwd.getpwnam(name)
    return subprocess.Popen([USER_PYTHON, "-c", code] + [str(a) for a in args], user=entry.pw_uid,
                            group=entry.pw_gid, extra_groups=[], stdin=stdin or subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_as(name, code, *args, timeout=30):
    proc = as_user(name, code, *args)
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return json.loads(out)


def paths(node):
    found = {kind: endpoints.endpoint(node.layout, node.spool, kind) for kind in KINDS}
    found["handover"] = endpoints.handover_endpoint(node.layout, "127.0.0.1", node.port)
    return found


def log_text(node):
    try:
        with open(os.path.join(node.spool, "log", "nqs.log")) as handle:
            return handle.read()
    except FileNotFoundError:
        return ""


def start_comagent(node):
    """comagent (installed under combase/, which Node.start_daemon does not know), once it serves."""
    argv = [sys.executable, node.layout.path("/usr/lib/nqs/combase/comagent"), "--root", node.layout.root,
            "--site", node.site_spec]
    proc = subprocess.Popen(argv, env=dict(node.env, CJC_SITE_SPOOL=node.spool), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    node.procs.append(proc)
    wait_until(lambda: node.record_pid("comagent") or proc.poll() is not None, 20, "comagent to serve")
    assert proc.poll() is None, proc.communicate()
    return proc


def new_node():
    node = Node(make_root(100), address="127.0.0.1")
    node.comagent_port = free_port()
    with open(node.layout.local_daemon_conf, "a") as handle:
        handle.write("comagent_port=%d\n" % node.comagent_port)
    return node


@pytest.fixture
def fresh(users):
    node = new_node()
    yield node
    node.cleanup()
    remove_root(node.layout)


@pytest.fixture(scope="module")
def site(users):
    node = new_node()
    try:
        node.start_daemon("logdaemon")
        node.daemon = node.start()
        start_comagent(node)
        # machine 300 is the honest peer; machine 400 shares the attacker's address
        assert node.qmgr("add mid 300 node_c 127.0.0.4 607", "add mid 400 node_d 127.0.0.1 607").returncode == 0
        yield node
    finally:
        node.cleanup()
        remove_root(node.layout)


# ---------------------------------------------------------------- squatting

SQUAT_FILES = r"""
import json, os, socket, sys
out = {}
for path in sys.argv[1:]:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).bind(path)
        out[path] = "bound"
    except OSError as err:
        out[path] = type(err).__name__
print(json.dumps(out))
"""

# Binds the names the site used before (abstract sockets) and reports what it received.
SQUAT_ABSTRACT = r"""
import json, socket, sys
held = []
for name in sys.argv[1:]:
    kind = socket.SOCK_STREAM if "-nqs-" in name or "nqsportkpr" in name else socket.SOCK_DGRAM
    sock = socket.socket(socket.AF_UNIX, kind)
    sock.bind("\0" + name)
    if kind == socket.SOCK_STREAM:
        sock.listen(16)
    sock.setblocking(False)
    held.append((name, sock))
print("ready", flush=True)
sys.stdin.read()
got = {}
for name, sock in held:
    try:
        got[name] = len(sock.accept()[0].recv(65536)) if sock.type == socket.SOCK_STREAM else len(sock.recv(65536))
    except BlockingIOError:
        pass
print(json.dumps(got))
"""


def test_squatters_get_nothing_and_the_site_still_starts(fresh):
    node = fresh
    targets = paths(node)
    squatted = run_as(ATTACKER, SQUAT_FILES, *targets.values())
    assert squatted == {path: "PermissionError" for path in targets.values()}
    key = endpoints.site_key(node.spool)
    old_names = ["cjc-%s-%s" % (kind, key) for kind in ("nqs", "log", "wake")]
    old_names.append("cjc-nqsportkpr-127.0.0.1-%d" % node.port)
    squatter = as_user(ATTACKER, SQUAT_ABSTRACT, *old_names, stdin=subprocess.PIPE)
    try:
        assert squatter.stdout.readline() == "ready\n"
        node.start_daemon("logdaemon")
        node.daemon = node.start()
        start_comagent(node)
        job_id = node.qsub("echo hello\n", user=VICTIM)
        assert node.run(QSTAT, user=VICTIM).returncode == 0
        node.wait_state(job_id, "EXITED")
        wait_until(lambda: "site %s serving" % node.site.name in log_text(node), 5, "the nqsdaemon's log line")
        out, _err = squatter.communicate("", timeout=10)
    finally:
        if squatter.poll() is None:
            squatter.kill()
            squatter.communicate()
    assert json.loads(out.splitlines()[-1]) == {}  # not one job script, log line or poke
    top = os.lstat(node.layout.path(endpoints.IPC_DIR))
    assert (top.st_uid, top.st_mode & 0o7777) == (0, 0o755)
    modes = {kind: os.lstat(targets[kind]) for kind in KINDS}
    assert {kind: (m.st_uid, m.st_mode & 0o777) for kind, m in modes.items()} == {
        "nqs": (0, 0o666), "wake": (0, 0o600), "log": (0, 0o600), "health": (0, 0o600)}


FAKE_SERVER = r"""
import json, os, socket, struct, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o666)
sock.listen(4)
print("ready", flush=True)
sock.settimeout(20)
conn = sock.accept()[0]
conn.settimeout(5)
body = json.dumps({"ok": True, "id": 1, "message": "Request 1.fake submitted to queue: guilb_def."}).encode()
try:
    conn.sendall(struct.pack(">I", len(body)) + body)
    got = conn.recv(65536)
except OSError:
    got = b""
print(json.dumps({"received": len(got)}))
"""


def test_a_user_owned_socket_directory_stops_the_daemon_and_qsub_refuses_a_user_server(fresh):
    node = fresh
    directory = endpoints.site_dir(node.layout, node.spool)
    os.makedirs(directory)
    os.chown(directory, pwd.getpwnam(ATTACKER).pw_uid, -1)  # a mistake, or an attacker's earlier luck
    daemon = node.start_daemon("nqsdaemon", wait=False)
    assert daemon.wait(timeout=20) == 1
    stderr = daemon.stderr.read().decode()
    last = stderr.splitlines()[-1]  # (the line before: the same, to stderr as no logdaemon listens)
    assert "Traceback" not in stderr and last.startswith("nqsdaemon: %s must be a directory owned by root and "
                                                         "writable by root only" % directory)
    fake = as_user(ATTACKER, FAKE_SERVER, endpoints.endpoint(node.layout, node.spool, "nqs"))
    try:
        assert fake.stdout.readline() == "ready\n"
        done = node.run(QSUB, user=VICTIM, stdin="echo secret\n")
        out, _err = fake.communicate(timeout=20)
    finally:
        if fake.poll() is None:
            fake.kill()
            fake.communicate()
    assert done.returncode == 1 and done.stdout == ""
    assert "is served by uid %d, not by root" % pwd.getpwnam(ATTACKER).pw_uid in done.stderr
    assert json.loads(out) == {"received": 0}  # the script never left qsub


# ---------------------------------------------------------------- forged log lines, pokes, hand-offs

SEND_AS_USER = r"""
import json, socket, sys
out = {}
for kind, path in zip(("log", "wake", "handover", "health"), sys.argv[1:]):
    try:
        if kind in ("log", "wake"):
            socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"forged by a user", path)
        else:
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).connect(path)
        out[kind] = "sent"
    except OSError as err:
        out[kind] = type(err).__name__
print(json.dumps(out))
"""


def test_a_user_cannot_log_poke_take_the_port_or_ask_health(site):
    port = free_port()
    kept = site.run("/usr/lib/nqs/nqsportkpr", "127.0.0.1", "--port", port)
    assert kept.returncode == 0, kept.stderr
    targets = paths(site)
    handover = endpoints.handover_endpoint(site.layout, "127.0.0.1", port)
    sent = run_as(ATTACKER, SEND_AS_USER, targets["log"], targets["wake"], handover, targets["health"])
    assert sent == {"log": "PermissionError", "wake": "PermissionError", "handover": "PermissionError",
                    "health": "PermissionError"}
    listener = take_over(site.layout, "127.0.0.1", port)  # the keeper still holds it, for root alone
    assert listener.getsockname() == ("127.0.0.1", port)
    listener.close()
    wait_until(lambda: not os.path.exists(handover), 5, "the keeper to leave after the handover")


def test_logdaemon_drops_a_line_sent_with_user_credentials(site):
    """A socket root connected, used after the process became a user: the kernel says who sends."""
    attacker = pwd.getpwnam(ATTACKER)
    pid = os.fork()
    if pid == 0:
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            endpoints.connect(sock, paths(site)["log"])
            os.setgroups([])
            os.setgid(attacker.pw_gid)
            os.setuid(attacker.pw_uid)
            sock.send(b"2026-01-01 00:00:00 nqsdaemon[1] INFO: forged line from a user")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    wait_until(lambda: "dropped a log line sent by uid %d" % attacker.pw_uid in log_text(site), 5, "the drop")
    assert "forged line from a user" not in log_text(site)


def test_netdaemon_refuses_a_handed_socket_bound_elsewhere(fresh):
    """A fake keeper (root here: no user can bind there) hands over a listener on another port."""
    node = fresh
    path = endpoints.handover_endpoint(node.layout, "127.0.0.1", node.port)
    keeper = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    other = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        endpoints.bind(keeper, node.layout, path, endpoints.PRIVATE)
        keeper.listen(1)
        other.bind(("127.0.0.1", 0))
        other.listen(1)
        pid = os.fork()
        if pid == 0:
            try:
                conn = keeper.accept()[0]
                socket.send_fds(conn, [b"port"], [other.fileno()])
                conn.recv(16)
            finally:
                os._exit(0)
        with pytest.raises(CjcError) as err:
            take_over(node.layout, "127.0.0.1", node.port)
        os.waitpid(pid, 0)
    finally:
        keeper.close()
        other.close()
    assert "not the NQS port 127.0.0.1:%d" % node.port in str(err.value)


# ---------------------------------------------------------------- slow, many and hostile clients

# argv: nqs-path netdaemon-port comagent-port; holds its connections until stdin closes.
HOSTILE = r"""
import json, socket, struct, sys, threading, time
nqs, net_port, com_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
held, refused = [], [0]

def unix():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(nqs)
    return s

def tcp(port):
    return socket.create_connection(("127.0.0.1", port), timeout=5, source_address=("127.0.0.1", 0))

def frame(message):
    body = json.dumps(message).encode()
    return struct.pack(">I", len(body)) + body

for connect, partial, full in ((unix, struct.pack(">I", 100), frame({"op": "jobs", "args": {"all": True}})),
                               (lambda: tcp(net_port), struct.pack(">I", 100), frame({"op": "ping", "from": 400})),
                               (lambda: tcp(com_port), b"GET /sta", b"GET /status HTTP/1.0\r\n\r\n")):
    for count, data in ((10, partial), (5, full), (200, b"")):  # slowloris, unread replies, a flood
        for _ in range(count):
            try:
                s = connect()
                if data:
                    s.sendall(data)
                held.append(s)
            except OSError:
                refused[0] += 1

def drip():  # slowloris: one more byte now and then on the partial ones
    while True:
        time.sleep(0.3)
        for s in held:
            try:
                s.send(b"x", socket.MSG_DONTWAIT)
            except OSError:
                pass
threading.Thread(target=drip, daemon=True).start()
print("ready %d %d" % (len(held), refused[0]), flush=True)
sys.stdin.read()
"""

# The victim's own calls, timed inside its process (the interpreter's start is not the daemon's).
VICTIM_CALLS = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from cjc.config.layout import Layout
from cjc.net.client import SiteClient
from cjc.site.registry import local_site
layout = Layout(sys.argv[2])
client = SiteClient(layout, local_site(layout), timeout=10)
times = {}
for op, args in (("queues", {}), ("submit", {"script": "echo victim\n"}), ("jobs", {}), ("queues", {})):
    started = time.monotonic()
    client.call(op, **args)
    times.setdefault(op, []).append(time.monotonic() - started)
print(json.dumps(times))
"""


def ping(node, source):
    """An honest peer's ping (machine 300, with a credential under the node's cluster key)."""
    request = node_credentials(node.layout).seal({"op": "ping"}, 300, "root", 0, node.site.machine_id)
    started = time.monotonic()
    reply = wire.call(("127.0.0.1", node.port), request, timeout=5, source=source)
    return reply, time.monotonic() - started


def http_status(node, source):
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", node.comagent_port), timeout=5, source_address=(source, 0)) as conn:
        conn.sendall(b"GET /status HTTP/1.0\r\n\r\n")
        data = b""
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
    return data.split(b"\r\n", 1)[0], time.monotonic() - started


def test_slowloris_floods_and_unread_replies_delay_no_one(site):
    hostile = as_user(ATTACKER, HOSTILE, paths(site)["nqs"], site.port, site.comagent_port, stdin=subprocess.PIPE)
    agent = SiteAgent({"OCF_RESKEY_root": site.layout.root, "OCF_RESKEY_db_path": os.path.dirname(site.spool),
                       "OCF_RESKEY_site": site.site.name})
    try:
        line = hostile.stdout.readline().split()
        assert line[0] == "ready", hostile.stderr.read()
        assert int(line[1]) >= 3 * 16  # every server holds its per-peer share of them
        timed = run_as(VICTIM, VICTIM_CALLS, site.layout.engine_lib, site.layout.root)
        assert max(max(times) for times in timed.values()) < 1.0, timed
        reply, took = ping(site, "127.0.0.4")
        assert reply["ok"] is True and took < 1.0
        status, took = http_status(site, "127.0.0.4")
        assert status == b"HTTP/1.0 200 OK" and took < 1.0
        started = time.monotonic()
        assert agent.health() is None
        assert time.monotonic() - started < 1.0
        done = site.run(QSTAT, user=VICTIM)
        assert done.returncode == 0, done.stderr
    finally:
        hostile.stdin.close()
        hostile.wait(timeout=10)
        hostile.stdout.close()
        hostile.stderr.close()
    # every server refused most of the flood, and said so in a few lines, then with a count
    wait_until(lambda: log_text(site).count("more refusal(s) not logged") >= 3, 15, "the refusal counts")
    text = log_text(site)
    for server in ("local-requests", "netdaemon", "comagent"):
        lines = [ln for ln in text.splitlines() if "%s: refused connection" % server in ln]
        assert 1 <= len(lines) <= 20, (server, len(lines))


def test_bind_removes_a_stale_socket_and_refuses_a_live_one_or_a_non_socket(fresh):
    layout, spool = fresh.layout, fresh.spool
    path = endpoints.endpoint(layout, spool, "log")
    first = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    endpoints.bind(first, layout, path, endpoints.PRIVATE)
    second = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    with pytest.raises(CjcError, match="another process already serves %s" % path):
        endpoints.bind(second, layout, path, endpoints.PRIVATE)
    first.close()  # its daemon died: the file stays behind, stale
    endpoints.bind(second, layout, path, endpoints.PRIVATE)
    second.close()
    os.unlink(path)
    with open(path, "w"):
        pass
    with pytest.raises(CjcError, match="is not a socket: remove it by hand"):
        endpoints.bind(socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM), layout, path, endpoints.PRIVATE)
    os.chmod(os.path.dirname(path), 0o777)
    with pytest.raises(CjcError, match="writable by root only .*mode 777"):
        endpoints.bind(socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM), layout, path, endpoints.PRIVATE)


def test_refusal_lines_are_limited_to_a_burst_then_counted():
    now = [0.0]
    lines = []
    limited = RateLimited(lines.append, burst=3, every=10.0, clock=lambda: now[0])
    for number in range(50):
        limited("refused %d" % number)
    limited.flush()
    assert lines == ["refused 0", "refused 1", "refused 2"]
    now[0] = 10.0
    limited.flush()
    assert lines[3:] == ["47 more refusal(s) not logged in 10 s (at most 3 lines per 10 s)"]
    limited("refused again")
    assert lines[4:] == ["refused again"]
