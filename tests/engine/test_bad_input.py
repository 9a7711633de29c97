"""Bad-input corpus: every malformed argument, name, path, file and script gets the
exact, actionable message, exit status != 0, no traceback and no partial state.

The cases are data: ``tests/engine/bad_input/*.json`` (format in its README.md). They run
against one node root with a cluster site made by cjcmksite in a network namespace; the
site is not running (user commands then act on the database directly, as root's do).
"""

import glob
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import uuid

import pytest

from cjc.plan.install import install_engine
from cjc.config.layout import Layout
from cjc.jobs.requests import Caller, NqsError, submit_job
from cjc.site.processes import site_processes
from cjc.jobs.store import open_store
from jobsite import make_netns, remove_netns

pytestmark = pytest.mark.netns

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "bad_input")
SITE = "testsite.example.com"
HOSTS = ("127.0.0.1 localhost\n10.192.18.10 testsite.example.com testsite\n"
         "10.192.18.11 othersite.example.com othersite\n10.192.18.99 elsewhere.example.com\n")
# What a run may change without being "partial state": logs, runtime records and sockets, bytecode, the WAL files.
VOLATILE = re.compile(r"(^|/)(log|run|ipc|__pycache__)(/|$)|nqs\.db(-wal|-shm|-journal)?$")
_LOG_PREFIX = re.compile(r"(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (\S+)\[\d+\] ")


def _cases():
    cases = []
    for path in sorted(glob.glob(os.path.join(CORPUS, "*.json"))):
        area = os.path.basename(path)[:-5]
        with open(path, encoding="utf-8") as handle:
            for case in json.load(handle):
                cases.append(pytest.param(case, id="%s:%s" % (area, case["id"])))
    return cases


class Rig:
    """A node root, a disk directory with the site DB, a namespace holding the site addresses."""

    def __init__(self):
        self.base = tempfile.mkdtemp(prefix="cjc-badin-", dir="/tmp")
        os.chmod(self.base, 0o755)
        self.layout = Layout(os.path.join(self.base, "root"))
        self.disk = os.path.join(self.base, "disk")
        self.db = os.path.join(self.disk, "jobdb")
        self.netns = "cjcbi-" + uuid.uuid4().hex[:8]

    def up(self):
        make_netns(self.netns, ("10.192.18.10/24", "10.192.18.11/24"), HOSTS)
        os.makedirs(self.disk)
        install_engine(self.layout, sys.executable, 100)
        made = self.run(["/usr/lib/nqs/cluster/cjcmksite", SITE, "200", self.db])
        assert made.returncode == 0, made.stderr
        os.makedirs(os.path.join(self.db, "etc"), exist_ok=True)
        return self

    def down(self):
        for process in site_processes(os.path.join(self.db, "nqs")) + site_processes(self.layout.spool):
            try:
                process.kill()
            except Exception:
                pass
        remove_netns(self.netns)
        shutil.rmtree(self.base, ignore_errors=True)

    def fill(self, text):
        return (text.replace("{root}", self.layout.root).replace("{db}", self.db).replace("{disk}", self.disk))

    def run(self, argv, env=None, stdin=None):
        command = [self.layout.path(argv[0])] + [self.fill(a) for a in argv[1:]]
        full_env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C", "CJC_ROOT": self.layout.root}
        full_env.update(env or {})
        return subprocess.run(["ip", "netns", "exec", self.netns] + command, env=full_env, input=stdin,
                              capture_output=True, timeout=120)

    def snapshot(self, skip=()):
        """Every file and link under the root and the disk (content hashes), and the site DB's content."""
        state = {}
        for top in (self.layout.root, self.disk):
            for directory, dirs, files in os.walk(top):
                dirs.sort()
                for name in sorted(dirs + files):
                    path = os.path.join(directory, name)
                    rel = os.path.relpath(path, self.base)
                    if VOLATILE.search(rel) or path in skip:
                        continue
                    if os.path.islink(path):
                        state[rel] = "-> " + os.readlink(path)
                    elif os.path.isdir(path):
                        state[rel] = "dir %o" % (os.stat(path).st_mode & 0o7777)
                    elif os.path.isfile(path):
                        with open(path, "rb") as handle:
                            state[rel] = hashlib.sha1(handle.read()).hexdigest()
                    else:
                        state[rel] = "special"
        db = sqlite3.connect(os.path.join(self.db, "nqs", "private", "nqs.db"))
        try:
            state["<site database>"] = hashlib.sha1("\n".join(db.iterdump()).encode()).hexdigest()
        finally:
            db.close()
        return state

    def logs(self):
        text = ""
        for path in sorted(glob.glob(os.path.join(self.db, "nqs", "log", "*"))):
            with open(path, encoding="utf-8", errors="replace") as handle:
                text += handle.read()
        return text


@pytest.fixture(scope="module")
def rig():
    made = Rig()
    try:
        yield made.up()
    finally:
        made.down()


def _normalise(text):
    text = _LOG_PREFIX.sub(r"\1[PID] ", text)
    return re.sub(r"\(pid \d+\)", "(pid PID)", text)


@pytest.mark.parametrize("case", _cases())
def test_bad_input_gets_its_exact_message_and_changes_nothing(rig, case):
    files = {rig.fill(k): v.encode() for k, v in case.get("files", {}).items()}
    files.update({rig.fill(k): bytes.fromhex(v) for k, v in case.get("files_hex", {}).items()})
    saved = {}
    for path, data in files.items():
        if os.path.exists(path):
            with open(path, "rb") as handle:
                saved[path] = handle.read()
        with open(path, "wb") as handle:
            handle.write(data)
    stdin = case.get("stdin")
    if "stdin_repeat" in case:
        text, count = case["stdin_repeat"]
        stdin = text * count
    try:
        before = rig.snapshot(skip=files)
        logs_before = rig.logs()
        done = rig.run(case["argv"], env=case.get("env"), stdin=stdin.encode() if stdin is not None else None)
        stdout, stderr = done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
        after = rig.snapshot(skip=files)
        new_logs = rig.logs()[len(logs_before):]
    finally:
        for path in files:
            if path in saved:
                with open(path, "wb") as handle:
                    handle.write(saved[path])
            else:
                os.unlink(path)
    assert "Traceback" not in stdout + stderr + new_logs
    assert done.returncode == case["rc"], (stdout, stderr)
    assert _normalise(stderr) == rig.fill(case["stderr"])
    if "stdout" in case:
        assert stdout == rig.fill(case["stdout"])
    if "log" in case:
        assert rig.fill(case["log"]) in new_logs
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert changed == [], "partial state left by a refused command: %s" % changed


def test_every_error_case_exits_non_zero_and_success_cases_say_why():
    for param in _cases():
        case = param.values[0]
        assert case["rc"] != 0 or case.get("why_rc_0") or case["id"].startswith("site-conf-"), case["id"]


@pytest.mark.parametrize("field,value,message", [
    ("name", "a\0b", "job name 'a\\x00b' is not valid: it contains control characters (use qsub -r NAME)"),
    ("name", ["list"], "job name ['list'] is not valid: it must be text"),
    ("shell", "/bin/sh\0x", "shell '/bin/sh\\x00x' must be an absolute path"),
])
def test_submit_refuses_what_would_crash_nqsdaemon_at_dispatch(rig, field, value, message):
    # Found by the netdaemon fuzzer: a NUL in the job name (QSUB_REQNAME) or the shell made
    # Popen raise ValueError in nqsdaemon's dispatch -- the site died, and again at every start.
    before = rig.snapshot()
    with open_store(os.path.join(rig.db, "nqs")) as store, pytest.raises(NqsError) as err:
        submit_job(store, Caller(0, "root"), "true\n", queue="guibs_1", **{field: value})
    assert str(err.value) == message
    assert rig.snapshot() == before


def test_a_bad_daemon_conf_value_is_reported_in_the_site_log(rig):
    conf = os.path.join(rig.db, "nqs", "daemon.conf")
    with open(conf) as handle:
        saved = handle.read()
    with open(conf, "w") as handle:
        handle.write("ipaddress=garbage\n")
    try:
        logs_before = rig.logs()
        started = rig.run(["/usr/lib/nqs/cluster/cjcpw", "-c", SITE, rig.db])
        rig.run(["/usr/lib/nqs/cluster/cjcpw", "-stop", SITE])
    finally:
        with open(conf, "w") as handle:
            handle.write(saved)
    assert started.returncode == 0  # guide §2.3(5) / docs: a bad value is reported and ignored
    assert ("%s:1: ipaddress=garbage is not an IPv4 address (like 192.168.1.100) (line ignored)" % conf
            in rig.logs()[len(logs_before):])
