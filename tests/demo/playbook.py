"""Run this collection's playbooks against a lab from Python (make demo, the drift test, bench/).

The collection is made importable as ``cjc.cluster`` by a symlink tree under /tmp (never
in the checkout: a ``collections/`` tree there breaks ansible-test sanity).
"""

import json
import os
import re
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAB_VARS = os.path.join(REPO, "tests", "demo", "lab_vars.yml")
_RECAP = re.compile(r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
                    r"\s+failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)", re.M)


def venv_bin():
    return os.path.join(REPO, ".venv", "bin")


def collections_path(tree=None):
    """A tree whose ansible_collections/cjc/cluster is this checkout; returns its path.

    Default: $CJC_COLLECTIONS_PATH, else /tmp/cjc-playbook-collections (as make's CJC_COLLECTIONS).
    """
    tree = tree or os.environ.get("CJC_COLLECTIONS_PATH") or "/tmp/cjc-playbook-collections"
    link = os.path.join(tree, "ansible_collections", "cjc", "cluster")
    os.makedirs(os.path.dirname(link), exist_ok=True)
    if not (os.path.islink(link) and os.readlink(link) == REPO):
        tmp = link + ".tmp%d" % os.getpid()
        os.symlink(REPO, tmp)
        os.replace(tmp, link)
    return tree


def environ(extra=None):
    env = dict(os.environ)
    env["PATH"] = venv_bin() + os.pathsep + env.get("PATH", "")
    env["ANSIBLE_COLLECTIONS_PATH"] = collections_path()
    env.setdefault("ANSIBLE_FORCE_COLOR", "0")
    env.setdefault("ANSIBLE_NOCOLOR", "1")
    env.setdefault("ANSIBLE_HOST_KEY_CHECKING", "False")
    env.update(extra or {})
    return env


class Run:
    """One ansible-playbook run: rc, output, seconds and the PLAY RECAP per host."""

    def __init__(self, argv, rc, output, seconds):
        self.argv, self.rc, self.output, self.seconds = argv, rc, output, seconds
        self.recap = {m["host"]: {k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed", "skipped")}
                      for m in _RECAP.finditer(output)}

    @property
    def changed(self):
        return sum(h["changed"] for h in self.recap.values())

    @property
    def failed(self):
        return self.rc != 0 or any(h["failed"] or h["unreachable"] for h in self.recap.values())

    def host_messages(self, task_name):
        """{host: msg} of the debug task named ``task_name``, every host that printed one."""
        start = self.output.find(": %s]" % task_name)
        if start < 0:
            return {}
        block = self.output[start:].split("\nTASK [", 1)[0].split("\nPLAY RECAP", 1)[0]
        return {m.group(1): json.loads(m.group(2))["msg"]
                for m in re.finditer(r"^ok: \[(\S+)\] => (\{.*?^\})$", block, re.M | re.S)}

    def debug_lines(self, task_name):
        """The ``msg`` list a debug task named ``task_name`` printed (first host)."""
        start = self.output.find("TASK [%s]" % task_name)
        if start < 0:
            start = self.output.find(": %s]" % task_name)
        if start < 0:
            return []
        block = self.output[start:].split("\nTASK [", 1)[0].split("\nPLAY RECAP", 1)[0]
        return [m.group(1).encode().decode("unicode_escape")
                for m in re.finditer(r'^\s+"(.*)",?$', block, re.M) if not m.group(1).startswith("msg")]


def run_playbook(inventory, playbook, *args, log=None, extra_env=None, lab_vars=True, echo=False):
    """ansible-playbook -i INVENTORY playbooks/PLAYBOOK [-e @lab_vars.yml] ARGS; returns a Run."""
    argv = [os.path.join(venv_bin(), "ansible-playbook"), "-i", inventory,
            os.path.join(REPO, "playbooks", playbook)]
    if lab_vars:
        argv += ["-e", "@" + LAB_VARS]
    argv += list(args)
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=environ(extra_env), cwd=REPO)
    chunks = []
    for line in proc.stdout:
        chunks.append(line)
        if echo:
            sys.stdout.write(line)
    rc = proc.wait()
    output = "".join(chunks)
    if log:
        with open(log, "w") as handle:
            handle.write(output)
    return Run(argv, rc, output, time.monotonic() - started)
