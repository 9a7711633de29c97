"""netdaemon and comagent fuzzing, small size; ``make fuzz N=10000`` is the full run (tests/reliability/fuzz.py)."""

import os

import pytest

from reliability.fuzz import fuzz, passed

pytestmark = pytest.mark.netns

FRAMES = int(os.environ.get("FUZZ_N", "600"))


def test_netdaemon_and_comagent_survive_random_mutated_and_forged_input_and_keep_serving_valid_clients():
    summary = fuzz(FRAMES, seed=int(os.environ.get("FUZZ_SEED", "7")), out=lambda text: None)
    assert summary["frames"] == FRAMES
    assert summary["crashes"] == 0, summary
    assert summary["valid"] > 0 and summary["valid_failed"] == 0, summary["failures"]
    assert summary["hangs"] == 0, summary["failures"]
    assert summary["forged"] > 0 and summary["forged_served"] == 0, summary["failures"]
    assert summary["http"] > 0
    assert summary["rss_flat"], (summary["rss_before_kb"], summary["rss_after_kb"])
    assert passed(summary)


CLIENT = r"""
import socket, sys, time
site, stranger, peer, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
request = bytes.fromhex(sys.argv[5])
idle = []
for _ in range(70):
    sock = socket.socket()
    sock.bind((stranger, 0))
    sock.connect((site, port))
    idle.append(sock)
time.sleep(0.3)
sock = socket.socket()
sock.settimeout(8)
sock.bind((peer, 0))
sock.connect((site, port))
try:
    sock.sendall(request)
    sock.shutdown(socket.SHUT_WR)
    print(sock.recv(4096)[4:].decode())
except OSError as err:
    print("error: %r" % err)
"""


def test_idle_connections_of_a_stranger_do_not_lock_out_a_registered_machine():
    import json
    import subprocess
    import sys
    from reliability.fuzz import ADDRESS, PEER, PORT, SITE, SITE_MID, STRANGER, FuzzSite, Sealer, frame
    site = FuzzSite()
    try:
        site.up()
        ping = frame(Sealer(site.layout.cluster_key)({"op": "ping"}))
        done = subprocess.run(["ip", "netns", "exec", site.netns, sys.executable, "-c", CLIENT, ADDRESS, STRANGER,
                               PEER, str(PORT), ping.hex()],
                              capture_output=True, text=True, timeout=60)
    finally:
        site.down()
    assert json.loads(done.stdout) == {"ok": True, "site": SITE, "machine_id": SITE_MID}
