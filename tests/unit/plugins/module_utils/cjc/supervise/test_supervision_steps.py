"""The supervisor's state machine on a fake OS (no root, no processes, no sleeping).

Boot, death detection and the stop escalation SIGTERM -> deadline -> SIGKILL, driven
by ``SiteSupervisor.step(now)`` at times the test chooses (guide §2.3(7); the rules
are in docs/engine.md, "The supervisor: cjcpw").
"""

import errno
import signal

import pytest

from ansible_collections.cjc.cluster.plugins.module_utils.cjc.config.layout import Layout
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.config.siteconf import SiteTimings
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.supervise import supervisor as sv
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.supervise.supervisor import (
    BOOT_FAILED, DIED, SERVING, STOPPED, BootError, SiteSupervisor, State, stop_site_processes)

from fakeos import SITE, TIMINGS, FakeOs, ListLog

TERM, KILL = signal.SIGTERM, signal.SIGKILL
ORDER = ["logdaemon", "nqsdaemon", "comagent"]


@pytest.fixture
def fake():
    return FakeOs()


@pytest.fixture
def log():
    return ListLog()


def supervisor_on(fake, log, timings=TIMINGS):
    return SiteSupervisor(Layout("/node"), SITE, timings, log, oscalls=fake)


def step(supervisor, fake):
    """One loop turn of the owner: reap, then step at the fake's time."""
    supervisor.reap()
    return supervisor.step(fake.now)


def serve_all(fake):
    fake.serve("logdaemon")
    fake.serve("nqsdaemon", "nqsdaemon.pid", "netdaemon.pid")
    fake.serve("comagent")


def states(supervisor):
    return {d.spec.name: d.state for d in supervisor.daemons}


def booted(fake, log, timings=TIMINGS):
    supervisor = supervisor_on(fake, log, timings)
    supervisor.begin_boot(fake.now)
    serve_all(fake)
    assert step(supervisor, fake) == (SERVING, None)
    return supervisor


def run_stop(supervisor, fake, limit=10000):
    """Step until the stop ends, jumping the fake clock to each deadline; the StopReport."""
    for _turn in range(limit):
        event, detail = step(supervisor, fake)
        if event == STOPPED:
            return detail
        assert supervisor.deadline is not None and supervisor.deadline >= fake.now
        fake.now = supervisor.deadline
    raise AssertionError("the stop did not end")


# -- boot ------------------------------------------------------------------------------

def test_boot_starts_the_daemons_in_order_and_serves_once_every_record_lives(fake, log):
    supervisor = supervisor_on(fake, log)
    supervisor.begin_boot(fake.now)
    assert [call[1] for call in fake.calls if call[0] == "spawn"] == ORDER
    assert set(states(supervisor).values()) == {State.STARTING}
    fake.serve("logdaemon")
    fake.serve("nqsdaemon")  # netdaemon (its child) does not serve yet
    fake.serve("comagent")
    assert step(supervisor, fake) == (None, None)
    assert supervisor.deadline == fake.now + sv.POLL
    assert states(supervisor)["nqsdaemon"] is State.STARTING
    fake.advance(1.0)
    fake.serve("nqsdaemon", "netdaemon.pid")
    assert step(supervisor, fake) == (SERVING, None)
    assert set(states(supervisor).values()) == {State.RUNNING}
    assert supervisor.deadline == fake.now + sv.WATCH
    assert "nqsdaemon pid %d: starting -> running (serving)" % fake.pid_of("nqsdaemon") in log.text()


def test_steps_never_sleep(fake, log):
    supervisor = booted(fake, log)
    fake.ignores[fake.pid_of("comagent")] = {TERM}
    supervisor.begin_stop("test", fake.now)
    before = fake.now
    for _turn in range(50):
        step(supervisor, fake)
    assert fake.now == before
    assert not [call for call in fake.calls if call[0] in ("sleep", "wait")]


def test_boot_timeout_stops_everything_started(fake, log):
    supervisor = supervisor_on(fake, log)
    started = fake.now
    supervisor.begin_boot(started)
    fake.serve("logdaemon")
    fake.now = started + TIMINGS.boot_timeout - 0.01
    assert step(supervisor, fake) == (None, None)
    assert supervisor.deadline == started + TIMINGS.boot_timeout  # never past the boot deadline
    fake.now = supervisor.deadline
    event, error = step(supervisor, fake)
    assert event == BOOT_FAILED and isinstance(error, BootError) and error.exit_status == 4
    assert str(error) == ("site testsite.example.com was not serving within BOOT_TIMEOUT=30 s (still waiting "
                          "for nqsdaemon, comagent); everything started was stopped")
    report = run_stop(supervisor, fake)
    assert report.reason == "boot timeout" and report.forced == [] and report.leftovers == []
    assert fake.signals_sent() == [("comagent", TERM), ("nqsdaemon", TERM), ("logdaemon", TERM)]
    assert set(states(supervisor).values()) == {State.STOPPED}
    assert fake.zombies == {} and fake.alive == set()


def test_a_daemon_exiting_during_boot_fails_it_and_stops_the_others(fake, log):
    supervisor = supervisor_on(fake, log)
    supervisor.begin_boot(fake.now)
    fake.serve("logdaemon")
    nqsdaemon = fake.pid_of("nqsdaemon")
    fake.exit(nqsdaemon, 1)
    event, error = step(supervisor, fake)
    assert event == BOOT_FAILED
    assert str(error) == ("site testsite.example.com did not start: nqsdaemon (pid %d) exited with status 1 "
                          "(netdaemon no longer running) during start; see /jobdb/nqs/log" % nqsdaemon)
    report = run_stop(supervisor, fake)
    assert report.reason.startswith("boot failed: nqsdaemon (pid %d) exited with status 1" % nqsdaemon)
    assert fake.signals_sent() == [("comagent", TERM), ("logdaemon", TERM)]  # the dead one is not signalled
    assert set(states(supervisor).values()) == {State.STOPPED}


def test_a_daemon_that_cannot_be_executed_fails_the_boot_at_once(fake, log):
    fake.cannot_spawn["comagent"] = FileNotFoundError(errno.ENOENT, "No such file or directory")
    supervisor = supervisor_on(fake, log)
    supervisor.begin_boot(fake.now)
    event, error = step(supervisor, fake)
    assert event == BOOT_FAILED
    assert str(error).startswith("site testsite.example.com did not start: cannot start comagent: ")
    run_stop(supervisor, fake)
    assert fake.signals_sent() == [("nqsdaemon", TERM), ("logdaemon", TERM)]
    assert set(states(supervisor).values()) == {State.STOPPED}


def test_sigterm_during_boot_begins_the_stop_at_once(fake, log):
    supervisor = supervisor_on(fake, log)
    supervisor.begin_boot(fake.now)
    fake.serve("logdaemon")
    assert step(supervisor, fake) == (None, None)
    asked = fake.now
    supervisor.begin_stop("stop requested (SIGTERM)", fake.now)
    assert set(states(supervisor).values()) == {State.STOPPING}
    event, report = step(supervisor, fake)  # daemons that go on SIGTERM: one step, no time passes
    assert event == STOPPED and fake.now == asked
    assert report.reason == "stop requested (SIGTERM)" and report.seconds == 0
    assert fake.signals_sent() == [("comagent", TERM), ("nqsdaemon", TERM), ("logdaemon", TERM)]
    assert set(states(supervisor).values()) == {State.STOPPED}
    fake.advance(TIMINGS.boot_timeout + 1)
    assert step(supervisor, fake) == (None, None)  # the boot does not come back to fail later
    assert supervisor.deadline is None


# -- watch -----------------------------------------------------------------------------

def test_a_daemon_killed_after_boot_is_reported_once(fake, log):
    supervisor = booted(fake, log)
    comagent = fake.pid_of("comagent")
    fake.exit(comagent, -KILL)
    assert step(supervisor, fake) == (DIED, ["comagent (pid %d) killed by signal 9" % comagent])
    assert states(supervisor)["comagent"] is State.EXITED
    assert step(supervisor, fake) == (None, None)
    report = (supervisor.begin_stop("daemon died", fake.now), run_stop(supervisor, fake))[1]
    assert fake.signals_sent() == [("nqsdaemon", TERM), ("logdaemon", TERM)]
    assert report.forced == []


def test_a_dead_grandchild_is_seen_through_its_pid_record(fake, log):
    supervisor = booted(fake, log)
    netdaemon = fake.start_process("netdaemon")
    fake.serve("nqsdaemon", "nqsdaemon.pid")
    fake.records[SITE.record_path("netdaemon.pid")] = netdaemon
    assert step(supervisor, fake) == (None, None)
    fake.exit(netdaemon, -KILL)
    assert step(supervisor, fake) == (DIED, ["netdaemon no longer running"])


# -- stop ------------------------------------------------------------------------------

def test_stop_goes_in_reverse_order_and_waits_for_each_daemon(fake, log):
    supervisor = booted(fake, log)
    comagent = fake.pid_of("comagent")
    fake.ignores[comagent] = {TERM}
    supervisor.begin_stop("test", fake.now)
    step(supervisor, fake)
    fake.advance(5.0)
    step(supervisor, fake)
    assert fake.signals_sent() == [("comagent", TERM)]  # nqsdaemon only once comagent is gone
    fake.exit(comagent, 0)
    report = run_stop(supervisor, fake)
    assert fake.signals_sent() == [("comagent", TERM), ("nqsdaemon", TERM), ("logdaemon", TERM)]
    assert report.forced == [] and report.seconds == 5.0


def test_stopping_sends_sigkill_after_deadline(fake, log):
    supervisor = booted(fake, log)
    comagent = fake.pid_of("comagent")
    fake.ignores[comagent] = {TERM}
    started = fake.now
    supervisor.begin_stop("test", started)
    fake.now = started + TIMINGS.orderly_seconds - 0.01
    step(supervisor, fake)
    assert (comagent, KILL) not in [(c[1], c[2]) for c in fake.calls if c[0] in ("kill", "killpg")]
    assert supervisor.deadline == started + TIMINGS.orderly_seconds
    fake.now = supervisor.deadline
    report = run_stop(supervisor, fake)
    assert ("killpg", comagent, KILL) in fake.calls and ("kill", comagent, KILL) in fake.calls
    assert "comagent (pid %d) did not stop within the orderly phase" % comagent in log.text()
    assert comagent in report.forced and report.leftovers == []
    assert report.seconds == TIMINGS.orderly_seconds
    # the daemons after comagent never got their orderly turn: the forced phase took them
    assert ("nqsdaemon", TERM) not in fake.signals_sent()
    assert set(states(supervisor).values()) == {State.STOPPED} and fake.alive == set()


def test_forcekill_not_below_stop_timeout_kills_from_the_start(fake, log):
    timings = SiteTimings(30, 30, 30)
    supervisor = booted(fake, log, timings)
    supervisor.begin_stop("test", fake.now)
    report = run_stop(supervisor, fake)
    assert [sig for _name, sig in fake.signals_sent()] and all(sig == KILL for _name, sig in fake.signals_sent())
    assert sorted(report.forced) == sorted(fake.pid_of(name) for name in ORDER)
    assert "orderly 0 s, forced 30 s" in log.text()


def test_leftover_job_processes_get_sigterm_then_sigkill_after_the_grace(fake, log):
    supervisor = booted(fake, log)
    job = fake.start_process("job", ignores={TERM})
    polite = fake.start_process("polite job")
    started = fake.now
    supervisor.begin_stop("test", started)
    step(supervisor, fake)
    assert fake.signals_sent()[-2:] == [("job", TERM), ("polite job", TERM)]
    assert "ending 2 leftover process(es) of the site: [%d, %d]" % (job, polite) in log.text()
    assert ("job", KILL) not in fake.signals_sent()
    report = run_stop(supervisor, fake)
    assert ("job", KILL) in fake.signals_sent()
    assert report.forced == [job] and report.seconds == sv.LEFTOVER_GRACE
    assert "forced: SIGKILL to 1 process(es) of site testsite.example.com: [%d]" % job in log.text()


def test_a_process_that_survives_sigkill_is_reported_when_stop_timeout_ends(fake, log):
    supervisor = booted(fake, log)
    stuck = fake.start_process("stuck in D state", ignores={TERM, KILL})
    started = fake.now
    supervisor.begin_stop("test", started)
    report = run_stop(supervisor, fake)
    assert report.leftovers == [stuck] and report.forced == [stuck]
    assert report.seconds == TIMINGS.total_stop_seconds
    kills = [c for c in fake.calls if c[0] == "kill" and c[1] == stuck and c[2] == KILL]
    assert len(kills) >= TIMINGS.forcekill_time / sv.KILL_ROUND - 1  # a round every KILL_ROUND seconds


def test_stop_without_an_owner_sleeps_between_steps_and_ends_orphans(fake, log):
    job = fake.start_process("job", ignores={TERM})
    netdaemon = fake.start_process("netdaemon")
    report = stop_site_processes([("netdaemon", netdaemon)], SITE, TIMINGS, log, "cjcpw -stop", fake)
    assert fake.signals_sent()[:2] == [("netdaemon", TERM), ("job", TERM)]
    assert report.forced == [job] and report.leftovers == [] and fake.alive == set()
    assert [c for c in fake.calls if c[0] == "sleep"]
