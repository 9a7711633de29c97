"""TEST DOUBLE of Sun Cluster's ``pmfadm`` (process monitor facility) -- not the product.

It only records its arguments and runs or stops the command, so the generated
Sun Cluster 2.2 scripts can be executed against the real engine. State (one pid
file per tag) and the call log live in ``$PMFADM_DOUBLE_DIR``.

    pmfadm -c TAG [-C LEVEL] [-n RETRIES] [-t MINUTES] CMD [ARG...]   start CMD detached under TAG
    pmfadm -q TAG                                                     0 if TAG is registered and alive, else 1
    pmfadm -s TAG [SIGNAL]                                            forget TAG; send SIGNAL to its process if given

A real PMF also restarts a command that dies (``-n``/``-t``); this double never does.
"""

import json
import os
import signal
import subprocess
import sys

STATE = os.environ["PMFADM_DOUBLE_DIR"]


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def pid_of(tag):
    try:
        with open(os.path.join(STATE, tag + ".pid")) as handle:
            return int(handle.read())
    except FileNotFoundError:
        return None


def main(argv):
    with open(os.path.join(STATE, "calls.jsonl"), "a") as log:
        log.write(json.dumps(argv) + "\n")
    if len(argv) >= 2 and argv[0] == "-q":
        pid = pid_of(argv[1])
        return 0 if pid and alive(pid) else 1
    if len(argv) >= 2 and argv[0] == "-s":
        pid = pid_of(argv[1])
        if pid is None:
            print("pmfadm: %s: no such tag" % argv[1], file=sys.stderr)
            return 1
        os.unlink(os.path.join(STATE, argv[1] + ".pid"))
        if len(argv) > 2:
            os.kill(pid, getattr(signal, "SIG" + argv[2].upper().replace("SIG", "", 1)))
        return 0
    if len(argv) >= 3 and argv[0] == "-c":
        tag, rest = argv[1], argv[2:]
        while rest and rest[0] in ("-C", "-n", "-t"):
            rest = rest[2:]
        pid = pid_of(tag)
        if pid and alive(pid) or not rest:
            print("pmfadm: %s: tag exists or no command" % tag, file=sys.stderr)
            return 1
        out = open(os.path.join(STATE, tag + ".out"), "ab")
        proc = subprocess.Popen(rest, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
        with open(os.path.join(STATE, tag + ".pid"), "w") as handle:
            handle.write(str(proc.pid))
        return 0
    print("pmfadm (test double): unsupported arguments %r" % (argv,), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
