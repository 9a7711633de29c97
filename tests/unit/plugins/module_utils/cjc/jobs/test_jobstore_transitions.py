"""The job store's transition table, walked whole against a real SQLite site database in a tmp dir
(no root): every allowed move works and writes its event; every other one is refused and changes
nothing. Then the routing operations: exactly-once on the receiving side, sticky destination on
the sending side, and the schema upgrade that brings the routing key to an older database."""

import sqlite3

import pytest

from ansible_collections.cjc.cluster.plugins.module_utils.cjc.jobs import jobstore
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.jobs.jobstore import (
    TRANSITIONS, JobMoveError, JobStore, RecoveryDecision, RunEnd, _move)
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.jobs.requests import Caller, qmgr
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.jobs.store import (
    DELETED, EXITED, JOB_STATES, MIGRATED, QUEUED, ROUTING, RUNNING, SCHEMA_VERSION, create_store, db_path,
    open_store)

ME = Caller.current()
TERMINAL = (EXITED, DELETED, MIGRATED)


@pytest.fixture
def store(tmp_path):
    spool = str(tmp_path / "nqs")
    create_store(spool)
    with open_store(spool) as opened:
        yield opened


def new_job(store, state=QUEUED, queue="guibs_1"):
    """A job submitted through the store, then put into ``state`` directly (test set-up only)."""
    job_id = JobStore(store).submit(ME, ME, queue, "t", "ENABLE", b"true\n", None, {})
    with store.transaction() as db:
        db.execute("UPDATE jobs SET state = ? WHERE id = ?", (state, job_id))
    return job_id


def state_and_events(store, job_id):
    with store.snapshot() as db:
        state = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()[0]
        events = [tuple(e) for e in db.execute("SELECT state, message FROM events WHERE job_id = ? ORDER BY id",
                                               (job_id,))]
    return state, events


def test_the_table_knows_every_state_and_ends_nothing_terminal():
    assert {state for move in TRANSITIONS for state in move} == set(JOB_STATES)
    assert not [move for move in TRANSITIONS if move[0] in TERMINAL]


@pytest.mark.parametrize("move", sorted(TRANSITIONS))
def test_every_allowed_move_changes_the_state_and_writes_its_event(store, move):
    source, target = move
    job_id = new_job(store, source)
    _state, before = state_and_events(store, job_id)
    with store.transaction() as db:
        _move(db, job_id, (source,), target, "walk %s -> %s" % move, reason="r")
    state, events = state_and_events(store, job_id)
    assert state == target
    assert events == before + [(target, "walk %s -> %s" % move)]


@pytest.mark.parametrize("source,target", sorted((s, t) for s in JOB_STATES for t in JOB_STATES
                                                 if (s, t) not in TRANSITIONS))
def test_every_other_move_is_refused_and_changes_nothing(store, source, target):
    job_id = new_job(store, source)
    before = state_and_events(store, job_id)
    with pytest.raises(JobMoveError, match="no move from %s to %s" % (source, target)):
        with store.transaction() as db:
            _move(db, job_id, (source,), target, "must not happen")
    assert state_and_events(store, job_id) == before


def test_a_move_from_a_state_the_job_is_not_in_is_refused_and_rolled_back(store):
    job_id = new_job(store, RUNNING)
    before = state_and_events(store, job_id)
    with pytest.raises(JobMoveError, match="request %d is RUNNING, not QUEUED: it cannot become DELETED" % job_id):
        with store.transaction() as db:
            _move(db, job_id, (QUEUED,), DELETED, "qdel")
    assert state_and_events(store, job_id) == before
    with pytest.raises(JobMoveError, match="column\\(s\\) state cannot be set"):
        with store.transaction() as db:
            _move(db, job_id, (RUNNING,), EXITED, "x", state=QUEUED)


def test_accept_routed_is_exactly_once_on_origin_machine_and_request(store):
    jobs = JobStore(store)
    args = (ME, "guibs_1", "sent", "ENABLE", b"echo hi\n", None, {}, "machine 100 user x")
    first, new = jobs.accept_routed(100, 7, *args)
    assert new is True
    assert jobs.accept_routed(100, 7, *args) == (first, False)       # a re-send: the same job
    assert jobs.accept_routed(101, 7, *args)[0] != first              # another sender's 7 is another job
    with store.snapshot() as db:
        assert db.execute("SELECT count(*) FROM jobs WHERE origin_mid = 100 AND origin_job = 7").fetchone()[0] == 1
    with pytest.raises(sqlite3.IntegrityError):                        # the key is unique in the schema itself
        with store.transaction() as db:
            db.execute("INSERT INTO jobs (name, queue, owner, uid, state, script, submitted, origin_mid, origin_job) "
                       "VALUES ('dup', 'guibs_1', 'x', 0, 'QUEUED', x'00', 1.0, 100, 7)")


def test_routing_keeps_its_first_destination_and_ends_migrated(store):
    jobs = JobStore(store)
    qmgr(store, Caller(0, "root"), "add mid 200 node_b 127.0.0.2")
    qmgr(store, Caller(0, "root"), "create pipe_queue to_b destination=guibs_1@node_b")
    job_id = new_job(store, QUEUED, "to_b")
    assert jobs.route_local() == {"to_b": "guibs_1@node_b"}
    assert [job.id for job in jobs.routing_jobs("to_b")] == [job_id]
    assert jobs.route_out(job_id, "guibs_1@node_b").routed_to == "guibs_1@node_b"
    jobs.release_route(job_id, "node_b cannot be reached")
    assert state_and_events(store, job_id)[0] == QUEUED
    # the operator points the pipe elsewhere: a job sent once still goes where it went first
    assert jobs.route_out(job_id, "guibs_1@node_c").routed_to == "guibs_1@node_b"
    with pytest.raises(jobstore.NqsError, match="is being routed to guibs_1@node_b"):
        jobs.request_delete(ME, job_id, 15)
    jobs.confirm_routed(job_id, "routed to guibs_1@node_b as request 9", "routed from pipe queue to_b")
    state, events = state_and_events(store, job_id)
    assert state == MIGRATED
    assert [e[0] for e in events] == [QUEUED, ROUTING, QUEUED, ROUTING, MIGRATED]
    with pytest.raises(JobMoveError):
        jobs.confirm_routed(job_id, "again", "again")


def test_dispatch_claims_within_the_run_limit_and_ends_with_output(store):
    jobs = JobStore(store)
    ids = [new_job(store) for _ in range(3)]
    claimed = jobs.claim_for_dispatch("here", 256)
    assert [(job.id, job.state, job.runs, job.host) for job in claimed] == [(ids[0], RUNNING, 1, "here")]
    jobs.record_started([(ids[0], 4242)])
    assert jobs.claim_for_dispatch("here", 256) == []                  # guibs_1 has run_limit 1
    done = jobs.record_ended([RunEnd(ids[0], 0, "exit status 0")], lambda job_id: (b"out", b"err"))
    assert done == [ids[0]]
    with store.snapshot() as db:
        row = db.execute("SELECT state, exit_status, pid FROM jobs WHERE id = ?", (ids[0],)).fetchone()
        assert tuple(row) == (EXITED, 0, None)
        assert tuple(db.execute("SELECT stdout, stderr FROM outputs WHERE job_id = ?", (ids[0],)).fetchone()) == (
            b"out", b"err")


def test_recovery_routes_in_one_transaction_and_settles_in_a_second(store):
    jobs = JobStore(store)
    job_id = new_job(store, RUNNING)

    def decide(job, _queues):
        return RecoveryDecision(job.id, "migrate", ROUTING, None, "to b", job.queue, False, "guibs_1@node_b")
    decisions, routing = jobs.apply_recovery(decide, lambda job: (b"", b""))
    assert [d.job_id for d in decisions] == [job_id] and [j.routed_to for j in routing] == ["guibs_1@node_b"]
    # a crash here leaves it ROUTING: the next recovery finds it again without deciding anew
    assert jobs.apply_recovery(decide, lambda job: (b"", b""))[1] == routing
    jobs.settle_recovery([RecoveryDecision(job_id, "delete", DELETED, "unreachable", "gone", "guibs_1", True)])
    assert state_and_events(store, job_id)[0] == DELETED
    assert jobs.queues()["guibs_1"].started is False


def test_an_older_database_gets_the_routing_key_and_keeps_its_jobs(tmp_path):
    spool = str(tmp_path / "nqs")
    create_store(spool, target=2)
    raw = sqlite3.connect(db_path(spool))
    raw.execute("INSERT INTO jobs (name, queue, owner, uid, state, script, submitted) "
                "VALUES ('old', 'guibs_1', 'root', 0, 'QUEUED', x'74727565', 1.0)")
    raw.commit()
    raw.close()
    with open_store(spool) as store:
        assert store.version() == SCHEMA_VERSION
        assert [j.name for j in JobStore(store).claim_for_dispatch("here", 1)] == ["old"]
        assert JobStore(store).accept_routed(5, 1, ME, "guibs_1", "n", "ENABLE", b"x", None, {}, "o")[1] is True


def test_a_group_move_with_one_job_in_another_state_is_refused_whole(store):
    ids = [new_job(store, RUNNING) for _ in range(3)]
    with store.transaction() as db:
        db.execute("UPDATE jobs SET state = ? WHERE id = ?", (EXITED, ids[1]))
    before = [state_and_events(store, job_id) for job_id in ids]
    with pytest.raises(JobMoveError, match="request %d is EXITED, not RUNNING: it cannot become QUEUED" % ids[1]):
        with store.transaction() as db:
            jobstore._move_many(db, (RUNNING,), QUEUED, ("pid",), [(job_id, "requeue", (None,)) for job_id in ids])
    assert [state_and_events(store, job_id) for job_id in ids] == before
