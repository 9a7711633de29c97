#!/usr/bin/env python3
"""netdaemon and comagent fuzzing: random, mutated and forged input against a live site in a network namespace.

``make fuzz N=10000`` runs ``fuzz.py -n 10000``; ``tests/engine/test_fuzz.py`` runs a
small size inside ``make test``.

A cluster site (made by cjcmksite, started by ``cjcpw -c``) listens on 10.192.20.10
inside a namespace of its own; the machine ID 300 at 10.192.20.11 is registered
with user ``fuzzer`` mapped to ``nobody``; 10.192.20.12 is a stranger. A client inside
the namespace sends N frames, each on its own connection, from either address:
random bytes, truncated frames, oversize and lying length headers, wrong JSON types,
deep nesting, unknown/huge/negative machine IDs, bit-flipped and spliced valid
frames, trailing garbage, half-closes -- and keeps up to 8 *slow senders* open that
trickle bytes or stall until the daemon's timeout. Most frames carry a valid credential
(net/credential.py: the client is root in the namespace and reads the site's cluster key),
so the fuzz reaches past the credential check; *forged* frames are authenticated frames
whose body was changed after sealing, or which are sent a second time (replayed). Every
20th step it is a valid client: a ping (exact answer checked), a status or a submit,
each of which must be answered correctly within 5 s. Every 4th step also sends HTTP
garbage to the site's comagent (bad request lines, huge or many headers, lying lengths,
binary), and every 20th asks it ``GET /health`` (exact answer checked).

Pass: netdaemon, nqsdaemon and comagent keep their pids (no crash, no restart), every
valid request is answered right, no forged frame is ever served, no connection hangs
past the daemon's timeout, and netdaemon's RSS after the run is within 8 MiB of its RSS
after warm-up.
"""

import argparse
import json
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
ENGINE = os.path.join(REPO, "plugins", "module_utils")
for _path in (ENGINE, os.path.join(REPO, "tests", "engine")):  # the engine; jobsite (test support)
    if _path not in sys.path:
        sys.path.insert(0, _path)

SITE = "fuzzsite.example.com"
ADDRESS, PEER, STRANGER = "10.192.20.10", "10.192.20.11", "10.192.20.12"
SITE_MID, PEER_MID = 200, 300
PORT = 607
COMAGENT_PORT = 611
MAX_FRAME = 1024 * 1024  # net/wire.py
RSS_SLACK_KB = 8 * 1024
VALID_EVERY = 20
SLOW_MAX = 8


# ---------------------------------------------------------------- frames

def frame(message):
    body = json.dumps(message).encode()
    return struct.pack(">I", len(body)) + body


def valid_messages(rng):
    return [
        {"op": "ping"},
        {"op": "status"},
        {"op": "submit", "queue": "guibs_1", "script": "true\n", "name": "fz%d" % rng.randrange(1000)},
    ]


class Sealer:
    """Seals messages as the root daemon of machine PEER_MID would (the site's cluster key)."""

    def __init__(self, key_path):
        from cjc.net.credential import HmacCredentials
        self.backend = HmacCredentials(key_path)

    def __call__(self, message, machine_id=PEER_MID, user="fuzzer"):
        return self.backend.seal(message, machine_id, user, 65534, SITE_MID)


def forged_case(rng, seal):
    """(name, frame bytes) of an authenticated frame changed after sealing: never to be served."""
    message = seal(rng.choice(valid_messages(rng)))
    field = rng.choice([k for k in message if k != "cred"] + ["script", "queue", "user", "from", "env"])
    before = json.dumps(message, sort_keys=True)
    message[field] = rng.choice([_weird_value(rng), "root", "guibs_1", 0, PEER_MID, {"LD_PRELOAD": "/x.so"},
                                 "true\n" + "x" * rng.randrange(4)])
    if rng.random() < 0.3:  # or the credential itself
        message["cred"] = dict(message["cred"], **{rng.choice(list(message["cred"])): _weird_value(rng)})
    if json.dumps(message, sort_keys=True) == before:
        message["script"] = "changed\n"
    return "forged-body", frame(message)


def _weird_value(rng, depth=0):
    choice = rng.randrange(10 if depth < 3 else 7)
    if choice == 9:
        return [_weird_value(rng, depth + 1) for _ in range(3)]
    return [None, True, -1, 2 ** 70, 1e308, "x" * rng.randrange(0, 300), "\u0000\ud7ff\u2028",
            [], {"op": "ping"}][choice]


def mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        kind = rng.randrange(5)
        if kind == 0 and data:
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif kind == 1:
            data.insert(rng.randrange(len(data) + 1), rng.randrange(256))
        elif kind == 2 and data:
            del data[rng.randrange(len(data))]
        elif kind == 3 and len(data) > 4:
            i = rng.randrange(4, len(data))
            data[i:i] = data[4:i]  # splice a copy of the body into itself
        elif kind == 4 and len(data) >= 4:
            data[:4] = struct.pack(">I", max(0, len(data) - 4 + rng.randint(-3, 3)))
    return bytes(data)


def fuzz_case(rng, seal):
    """(name, bytes, how) -- how: 'close' after sending, 'half' shutdown(WR) then read, 'slow'."""
    valid = seal(rng.choice(valid_messages(rng)))
    kind = rng.randrange(14)
    if kind == 0:
        return "random", os.urandom(rng.randrange(0, 2048)), rng.choice(["half", "close"])
    if kind == 1:
        whole = frame(valid)
        return "truncated", whole[:rng.randrange(0, len(whole))], rng.choice(["half", "close", "slow"])
    if kind == 2:
        return "oversize", struct.pack(">I", rng.randrange(MAX_FRAME + 1, 2 ** 32)) + os.urandom(64), "half"
    if kind == 3:
        return "lying-length", struct.pack(">I", rng.randrange(1000, MAX_FRAME)) + b'{"op":', \
            rng.choice(["half", "close", "slow"])
    if kind == 4:  # sealed after the change: reaches the request's own checks
        message = {k: v for k, v in valid.items() if k != "cred"}
        message[rng.choice(list(message) + ["op", "script", "queue", "env", "name", "restart"])] = _weird_value(rng)
        return "wrong-type", frame(seal(message)), "half"
    if kind == 5:
        message = seal({k: v for k, v in valid.items() if k != "cred"},
                       machine_id=rng.choice([rng.randrange(-2 ** 31, 2 ** 31), 0, -1, 2 ** 63, 2 ** 64 + 1, SITE_MID, 7]))
        return "unknown-mid", frame(message), "half"
    if kind == 6:
        depth = rng.randrange(100, 100000)
        body = b"[" * depth + b"]" * depth
        return "deep-nesting", struct.pack(">I", len(body)) + body, "half"
    if kind == 7:
        body = json.dumps(_weird_value(rng)).encode()
        return "not-an-object", struct.pack(">I", len(body)) + body, "half"
    if kind == 8:
        return "trailing", frame(valid) + os.urandom(rng.randrange(1, 64)), "half"
    if kind == 9:
        body = os.urandom(rng.randrange(1, 512))
        return "binary-body", struct.pack(">I", len(body)) + body, "half"
    if kind == 10:
        return "empty", b"", rng.choice(["half", "close"])
    if kind == 11:
        message = seal({"op": "submit", "script": "x" * rng.randrange(200 * 1024, MAX_FRAME - 1000)})
        return "big-script", frame(message), "half"
    if kind == 12:
        return "slow-valid", frame(seal({"op": "ping"})), "slow"
    return "mutated", mutate(rng, frame(valid)), rng.choice(["half", "close"])


def http_case(rng):
    """(name, bytes) of HTTP garbage for comagent; sent with a half-close."""
    kind = rng.randrange(8)
    if kind == 0:
        return "http-random", os.urandom(rng.randrange(0, 4096))
    if kind == 1:
        method = rng.choice([b"GET", b"POST", b"DELETE", b"\x00\xff", b"G" * 5000, b""])
        path = rng.choice([b"/status", b"/../../etc/passwd", b"/%00", b"/\xc3\x28", b"*", b"/" + b"a" * 70000])
        version = rng.choice([b"HTTP/1.1", b"HTTP/9.9", b"HTTP/1.1 extra", b""])
        return "http-request-line", method + b" " + path + b" " + version + b"\r\n\r\n"
    if kind == 2:
        return "http-huge-header", b"GET /status HTTP/1.1\r\nX: " + b"y" * rng.randrange(60000, 200000) + b"\r\n\r\n"
    if kind == 3:
        return "http-many-headers", b"GET /health HTTP/1.1\r\n" + b"".join(
            b"X-%d: %d\r\n" % (i, i) for i in range(rng.randrange(90, 400))) + b"\r\n"
    if kind == 4:
        return "http-lying-length", b"POST /status HTTP/1.1\r\nContent-Length: %d\r\n\r\nab" % rng.choice(
            [10 ** 12, -1, 5])
    if kind == 5:
        return "http-incomplete", b"GET /" + b"A" * rng.randrange(0, 3000)
    if kind == 6:
        return "http-0.9", rng.choice([b"GET /status\r\n", b"GET\r\n", b"\r\n\r\n"])
    return "http-mutated", mutate(rng, b"\x00\x00\x00\x2eGET /health HTTP/1.1\r\nHost: x\r\n\r\n")[4:]


# ---------------------------------------------------------------- client (inside the namespace)

class Client:
    def __init__(self, seed, frames, key_path):
        self.rng = random.Random(seed)
        self.frames = frames
        self.seal = Sealer(key_path)
        self.stats = {"frames": 0, "valid": 0, "valid_failed": 0, "replies": 0, "resets": 0, "hangs": 0,
                      "slow": 0, "forged": 0, "forged_served": 0, "http": 0, "kinds": {}, "failures": []}
        self.slow = []  # [socket, remaining bytes, next send time, started]
        self.served = []  # frames served: replayed later, they must be refused

    def connect(self, source, port=PORT):
        sock = socket.socket()
        sock.settimeout(8)
        sock.bind((source, 0))
        sock.connect((ADDRESS, port))
        return sock

    def exchange(self, data, port=PORT):
        """Send ``data`` from the registered peer, half-close, read the whole answer (bytes)."""
        sock = self.connect(PEER, port)
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            chunks = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    return chunks
                chunks += chunk
        finally:
            sock.close()

    def forged(self, name, data):
        """A forged or replayed frame: any answer but a served one is right."""
        self.stats["forged"] += 1
        self.stats["kinds"][name] = self.stats["kinds"].get(name, 0) + 1
        try:
            answer = self.exchange(data)
            reply = json.loads(answer[4:]) if len(answer) > 4 else None
        except socket.timeout:
            self.stats["hangs"] += 1
            self.stats["failures"].append("%s: no reply within 8 s" % name)
            return
        except (OSError, ValueError):
            return
        if isinstance(reply, dict) and reply.get("ok") is not False:
            self.stats["forged_served"] += 1
            self.stats["failures"].append("%s served: %r" % (name, reply))

    def http(self):
        """HTTP garbage to comagent; it must answer or close within 8 s."""
        name, data = http_case(self.rng)
        self.stats["http"] += 1
        self.stats["kinds"][name] = self.stats["kinds"].get(name, 0) + 1
        try:
            self.exchange(data, COMAGENT_PORT)
        except socket.timeout:
            self.stats["hangs"] += 1
            self.stats["failures"].append("comagent: %s: no answer within 8 s" % name)
        except OSError:
            pass

    def http_valid(self):
        self.stats["valid"] += 1
        try:
            answer = self.exchange(b"GET /health HTTP/1.0\r\n\r\n", COMAGENT_PORT)
        except OSError as err:
            answer = b"error: %r" % err
        if not (answer.startswith(b"HTTP/1.0 200 ") and answer.endswith(b'\r\n\r\n{"ok": true}\n')):
            self.stats["valid_failed"] += 1
            self.stats["failures"].append("comagent GET /health: %r" % answer[:200])

    def valid(self):
        message = self.seal(self.rng.choice(valid_messages(self.rng)))
        self.stats["valid"] += 1
        started = time.monotonic()
        try:
            sock = self.connect(PEER)
            try:
                sock.settimeout(5)
                sock.sendall(frame(message))
                self.served.append(frame(message))
                reply = _read_reply(sock)
            finally:
                sock.close()
        except (OSError, ValueError) as err:
            reply = "error: %s" % err
        ok = isinstance(reply, dict) and reply.get("ok") is True
        if ok and message["op"] == "ping":
            ok = reply == {"ok": True, "site": SITE, "machine_id": SITE_MID}
        elif ok and message["op"] == "status":
            ok = isinstance(reply.get("jobs"), list) and {q["name"] for q in reply["queues"]} >= {"guibs_1"}
        elif ok:
            ok = isinstance(reply.get("id"), int)
        if not ok:
            self.stats["valid_failed"] += 1
            self.stats["failures"].append("%s after %.2f s: %r" % (message["op"], time.monotonic() - started,
                                                                   reply))

    def send(self, name, data, how):
        self.stats["frames"] += 1
        self.stats["kinds"][name] = self.stats["kinds"].get(name, 0) + 1
        source = PEER if self.rng.random() < 0.7 else STRANGER
        try:
            sock = self.connect(source)
        except OSError as err:
            self.stats["failures"].append("connect failed: %s" % err)
            self.stats["valid_failed"] += 1
            return
        if how == "slow" and len(self.slow) < SLOW_MAX:
            sock.setblocking(False)
            self.slow.append([sock, data, time.monotonic(), time.monotonic()])
            self.stats["slow"] += 1
            return
        try:
            sock.sendall(data)
            if how == "half":
                sock.shutdown(socket.SHUT_WR)
                sock.settimeout(8)
                reply = _read_reply(sock)
                if reply is not None:
                    self.stats["replies"] += 1
        except socket.timeout:
            self.stats["hangs"] += 1
            self.stats["failures"].append("%s: no reply within 8 s" % name)
        except (OSError, ValueError):
            self.stats["resets"] += 1
        finally:
            sock.close()

    def trickle(self):
        now = time.monotonic()
        for entry in list(self.slow):
            sock, rest, due, started = entry
            if now - started > 8:  # the daemon must have given up on it after its 5 s timeout
                self.stats["hangs"] += 1
                self.stats["failures"].append("slow sender still open after 8 s")
                sock.close()
                self.slow.remove(entry)
                continue
            try:
                data = sock.recv(65536)
                if data or data == b"":
                    sock.close()  # answered (refused or served) or closed by the daemon
                    self.slow.remove(entry)
                    continue
            except BlockingIOError:
                pass
            except OSError:
                sock.close()
                self.slow.remove(entry)
                continue
            if rest and now >= due:
                try:
                    sock.send(rest[:1])
                    entry[1] = rest[1:]
                except OSError:
                    pass
                entry[2] = now + self.rng.uniform(0.01, 0.3)

    def run(self):
        warm = min(200, self.frames // 10)
        for step in range(self.frames):
            if step == warm:
                print("WARM", flush=True)
                sys.stdin.readline()  # the orchestrator measures RSS after warm-up
            if step % VALID_EVERY == 0:
                self.valid()
                self.http_valid()
            if step % 4 == 1:
                self.forged(*forged_case(self.rng, self.seal))
            if step % 4 == 2 and self.served:
                self.forged("replayed", self.served.pop(self.rng.randrange(len(self.served))))
            if step % 4 == 3:
                self.http()
            self.send(*fuzz_case(self.rng, self.seal))
            self.trickle()
        deadline = time.monotonic() + 10
        while self.slow and time.monotonic() < deadline:
            self.trickle()
            time.sleep(0.05)
        for _ in range(5):
            self.valid()
        return self.stats


def _read_reply(sock):
    """The reply frame, None when the daemon closed without one; ValueError when malformed."""
    chunks = b""
    while True:
        data = sock.recv(65536)
        if not data:
            break
        chunks += data
    if not chunks:
        return None
    if len(chunks) < 4 or struct.unpack(">I", chunks[:4])[0] != len(chunks) - 4:
        raise ValueError("malformed reply %r" % chunks[:80])
    return json.loads(chunks[4:])


# ---------------------------------------------------------------- the site (outside the namespace)

class FuzzSite:
    def __init__(self):
        from cjc.config.layout import Layout
        self.base = tempfile.mkdtemp(prefix="cjc-fuzz-", dir="/tmp")
        os.chmod(self.base, 0o755)
        self.layout = Layout(os.path.join(self.base, "root"))
        self.db = os.path.join(self.base, "disk", "jobdb")
        self.spool = os.path.join(self.db, "nqs")
        self.netns = "cjcfz-" + uuid.uuid4().hex[:8]
        self.env = dict(os.environ, CJC_ROOT=self.layout.root)

    def nsrun(self, argv, check=True, **kwargs):
        return subprocess.run(["ip", "netns", "exec", self.netns] + argv, env=self.env, check=check,
                              capture_output=True, text=True, **kwargs)

    def up(self):
        from cjc.plan.install import install_engine
        from cjc.jobs.requests import Caller, qmgr
        from cjc.jobs.store import open_store
        from jobsite import make_netns
        make_netns(self.netns, [a + "/24" for a in (ADDRESS, PEER, STRANGER)],
                   "127.0.0.1 localhost\n%s %s\n%s fuzzpeer.example.com\n" % (ADDRESS, SITE, PEER))
        from jobsite import write_cluster_key
        os.makedirs(os.path.dirname(self.db))
        install_engine(self.layout, sys.executable, 100)
        write_cluster_key(self.layout)
        self.nsrun([self.layout.path("/usr/lib/nqs/cluster/cjcmksite"), SITE, str(SITE_MID), self.db])
        with open_store(self.spool) as store:
            for line in ("add mid %d fuzzpeer %s %d" % (PEER_MID, PEER, PORT), "add map %d fuzzer nobody" % PEER_MID,
                         "set queue guibs_1 run_limit=8"):
                qmgr(store, Caller(0, "root"), line)
        self.nsrun([self.layout.path("/usr/lib/nqs/cluster/cjcpw"), "-c", SITE, self.db], timeout=120)

    def pid(self, daemon):
        try:
            with open(os.path.join(self.spool, "run", daemon + ".pid")) as handle:
                return json.load(handle)["pid"]
        except (OSError, ValueError, KeyError):
            return None

    def down(self):
        from jobsite import remove_netns
        try:
            self.nsrun([self.layout.path("/usr/lib/nqs/cluster/cjcpw"), "-stop", SITE], check=False, timeout=120)
        finally:
            remove_netns(self.netns)
            if not os.environ.get("FUZZ_KEEP"):  # FUZZ_KEEP=1: keep the site (its logs) for a post-mortem
                shutil.rmtree(self.base, ignore_errors=True)
            else:
                print("kept " + self.base)


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def fuzz(frames, seed, out=print):
    """Run the whole fuzz; returns the summary dict (``crashes`` etc.)."""
    site = FuzzSite()
    try:
        site.up()
        net, nqs = site.pid("netdaemon"), site.pid("nqsdaemon")
        started = time.monotonic()
        agent = site.pid("comagent")
        client = subprocess.Popen(["ip", "netns", "exec", site.netns, sys.executable, os.path.abspath(__file__),
                                   "client", "-n", str(frames), "--seed", str(seed), "--key", site.layout.cluster_key],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        first = client.stdout.readline()
        rss_before = rss_kb(net) if first.strip() == "WARM" else None
        client.stdin.write("go\n")
        client.stdin.flush()
        stats = json.loads(client.stdout.read() or "{}")
        client.wait()
        time.sleep(0.5)
        rss_after = rss_kb(net)
        crashes = (int(site.pid("netdaemon") != net or rss_after is None)
                   + int(site.pid("nqsdaemon") != nqs or rss_kb(nqs) is None)
                   + int(agent is None or site.pid("comagent") != agent or rss_kb(agent) is None))
        summary = {"frames": stats.get("frames", 0), "valid": stats.get("valid", 0),
                   "valid_failed": stats.get("valid_failed", -1), "hangs": stats.get("hangs", -1),
                   "crashes": crashes, "rss_before_kb": rss_before, "rss_after_kb": rss_after,
                   "replies": stats.get("replies"), "resets": stats.get("resets"), "slow": stats.get("slow"),
                   "forged": stats.get("forged", 0), "forged_served": stats.get("forged_served", -1),
                   "http": stats.get("http", 0),
                   "seconds": round(time.monotonic() - started, 1), "kinds": stats.get("kinds", {}),
                   "failures": stats.get("failures", [])[:20], "client_status": client.returncode}
        summary["rss_flat"] = bool(rss_before and rss_after and rss_after - rss_before <= RSS_SLACK_KB)
        return summary
    finally:
        site.down()


def passed(summary):
    return (summary["crashes"] == 0 and summary["valid_failed"] == 0 and summary["hangs"] == 0
            and summary["forged_served"] == 0 and summary["rss_flat"] and summary["client_status"] == 0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("mode", nargs="?", default="run", choices=("run", "client"))
    parser.add_argument("-n", "--frames", type=int, default=int(os.environ.get("N") or 10000))
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--key", help="the site's cluster key (client mode)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    if args.mode == "client":
        stats = Client(seed, args.frames, args.key).run()
        print(json.dumps(stats))
        return 0
    print("fuzz: %d frame(s), seed %d" % (args.frames, seed), flush=True)
    summary = fuzz(args.frames, seed)
    print("kinds: " + " ".join("%s=%d" % kv for kv in sorted(summary["kinds"].items())))
    for failure in summary["failures"]:
        print("  " + failure)
    print("FUZZ frames=%(frames)d valid=%(valid)d valid_failed=%(valid_failed)d hangs=%(hangs)d "
          "crashes=%(crashes)d forged=%(forged)d forged_served=%(forged_served)d http=%(http)d "
          "rss_before=%(rss_before_kb)s kB rss_after=%(rss_after_kb)s kB "
          "(replies=%(replies)s resets=%(resets)s slow=%(slow)s, %(seconds)s s)" % summary)
    return 0 if passed(summary) else 1


if __name__ == "__main__":
    sys.exit(main())
