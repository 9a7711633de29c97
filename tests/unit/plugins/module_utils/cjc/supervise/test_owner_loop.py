"""The owner's loop (``cjcpw``) on a fake OS: signals, reap, step, publish, sleep.

Real files (ownership lock, owner record, ``laststop.json``) in a temporary spool; the
daemons, the clock and the sleep are the fake's. A script run at each of the loop's
sleeps plays the world: a daemon serves, dies, a signal arrives.
"""

import json
import os
import signal

import pytest

from ansible_collections.cjc.cluster.plugins.module_utils.cjc.config.layout import Layout
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.site.registry import Site
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.supervise.owner import Owner
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.supervise.supervisor import BootError

from fakeos import FakeOs, ListLog

TERM, KILL = signal.SIGTERM, signal.SIGKILL


@pytest.fixture
def site(tmp_path):
    db = str(tmp_path / "jobdb")
    spool = os.path.join(db, "nqs")
    os.makedirs(os.path.join(spool, "run"))
    return Site("testsite.example.com", 200, db, False, None, "10.192.18.10", spool,
                os.path.join(spool, "daemon.conf"), os.path.join(db, "etc", "site.conf"), True)


@pytest.fixture
def make_owner(site, tmp_path):
    """``make_owner(monitored=True, ready=None)`` -> (Owner, FakeOs, ListLog)."""
    def make(monitored=True, ready=None):
        fake, log = FakeOs(site), ListLog()
        owner = Owner(Layout(str(tmp_path / "root")), site, monitored, log, oscalls=fake, ready=ready)
        return owner, fake, log
    return make


def serve_all(fake):
    fake.serve("logdaemon")
    fake.serve("nqsdaemon", "nqsdaemon.pid", "netdaemon.pid")
    fake.serve("comagent")


def last_stop(site):
    with open(os.path.join(site.run_dir, "laststop.json")) as handle:
        return json.load(handle)


def test_sigterm_while_booting_stops_at_once_and_exits_0(make_owner, site):
    owner, fake, log = make_owner()
    owner.start()
    assert owner.ownership.current_owner()["daemons"] == "starting"
    assert fake.caught == {signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGCHLD}

    def world(turn):
        if turn == 0:
            fake.serve("logdaemon")
        elif turn == 5:
            fake.deliver(TERM)
    fake.on_wait = world
    assert owner.run() == 0
    assert fake.turns == 6  # the stop was done in the very turn the signal woke, no wait after it
    assert fake.signals_sent() == [("comagent", TERM), ("nqsdaemon", TERM), ("logdaemon", TERM)]
    assert "SIGTERM: orderly stop" in log.text() and "site testsite.example.com serving" not in log.text()
    assert last_stop(site)["reason"] == "stop requested (SIGTERM)"
    assert owner.ownership.current_owner() is None  # released


def test_a_daemon_death_stops_the_site_and_exits_3(make_owner, site):
    owner, fake, log = make_owner()
    owner.start()

    def world(turn):
        if turn == 0:
            serve_all(fake)
        elif turn == 3:
            fake.exit(fake.pid_of("nqsdaemon"), -KILL)
    fake.on_wait = world
    assert owner.run() == 3
    died = "nqsdaemon (pid %d) killed by signal 9 (netdaemon no longer running)" % fake.pid_of("nqsdaemon")
    assert ("error", "daemon died: %s; stopping the site" % died) in log.lines
    assert fake.signals_sent() == [("comagent", TERM), ("logdaemon", TERM)]
    assert last_stop(site)["reason"] == "daemon died: " + died


def test_a_failed_first_boot_raises_after_stopping_what_started(make_owner, site):
    owner, fake, _log = make_owner()
    owner.start()
    fake.on_wait = lambda turn: fake.exit(fake.pid_of("comagent"), 2) if turn == 0 else None
    with pytest.raises(BootError) as err:
        owner.run()
    assert "comagent (pid %d) exited with status 2" % fake.pid_of("comagent") in str(err.value)
    assert fake.signals_sent() == [("nqsdaemon", TERM), ("logdaemon", TERM)]
    assert last_stop(site)["reason"].startswith("boot failed: comagent")
    assert owner.ownership.current_owner() is None


def test_a_detached_owner_says_ready_once_when_serving_and_does_not_stop_on_a_death(make_owner, site):
    ready = []
    owner, fake, log = make_owner(monitored=False, ready=lambda: ready.append(fake.now))

    def world(turn):
        if turn == 2:
            serve_all(fake)
        elif turn == 6:
            fake.exit(fake.pid_of("comagent"), -KILL)
        elif turn == 12:
            fake.deliver(TERM)
    fake.on_wait = world
    owner.start()
    assert owner.run() == 0
    assert len(ready) == 1
    assert [line for level, line in log.lines if level == "warning" and "daemon died (not monitored): comagent" in line]
    assert fake.signals_sent() == [("nqsdaemon", TERM), ("logdaemon", TERM)]


def test_the_owner_sleeps_until_the_next_deadline(make_owner):
    owner, fake, _log = make_owner()
    owner.start()

    def world(turn):
        if turn == 0:
            serve_all(fake)
        elif turn == 3:
            fake.deliver(TERM)
    fake.on_wait = world
    owner.run()
    waits = [call[1] for call in fake.calls if call[0] == "wait"]
    assert waits[0] == pytest.approx(0.02)  # booting: the readiness poll
    assert waits[1] == pytest.approx(0.2)  # serving: the liveness watch


def want(site, state):
    """What nqsstart / nqsstop write before their SIGUSR1."""
    with open(os.path.join(site.run_dir, "wanted"), "w") as handle:
        handle.write(state + "\n")


def test_nqsstop_during_boot_stops_at_once_and_the_owner_stays(make_owner, site):
    owner, fake, _log = make_owner()
    owner.start()
    seen = {}

    def world(turn):
        if turn == 0:
            fake.serve("logdaemon")
        elif turn == 2:
            want(site, "down")
            fake.deliver(signal.SIGUSR1)
        elif turn == 3:
            seen["daemons"] = owner.ownership.current_owner()["daemons"]
            fake.deliver(TERM)
    fake.on_wait = world
    assert owner.run() == 0
    assert seen["daemons"] == "down"  # stopped within the turn the request woke, owner still there
    assert fake.signals_sent() == [("comagent", TERM), ("nqsdaemon", TERM), ("logdaemon", TERM)]


def test_nqsstart_while_a_stop_runs_is_followed_once_the_stop_ends(make_owner, site):
    owner, fake, _log = make_owner()
    owner.start()
    seen = {}

    def world(turn):
        if turn == 0:
            serve_all(fake)
            fake.ignores[fake.pid_of("comagent")] = {TERM}  # the stop takes a while
        elif turn == 2:
            want(site, "down")
            fake.deliver(signal.SIGUSR1)
        elif turn == 4:
            want(site, "up")
            fake.deliver(signal.SIGUSR1)
        elif turn == 6:
            seen["stopping"] = owner.ownership.current_owner()["daemons"]
            fake.exit(fake.pid_of("comagent"), 0)
        elif turn == 8:
            seen["starting"] = owner.ownership.current_owner()["daemons"]
        elif turn == 9:
            serve_all(fake)
        elif turn == 12:
            seen["up"] = owner.ownership.current_owner()["daemons"]
            fake.deliver(TERM)
    fake.on_wait = world
    assert owner.run() == 0
    assert seen == {"stopping": "stopping", "starting": "starting", "up": "up"}
    assert [call[1] for call in fake.calls if call[0] == "spawn"] == ["logdaemon", "nqsdaemon", "comagent"] * 2
