"""The restart rules after a failover (guide §2.5.4) as a table: every queue restart
attribute x job restart flag x destination reachable, from the table in
docs/job-engine.md, "Failover continuation".
"""

import itertools

import pytest

from ansible_collections.cjc.cluster.plugins.module_utils.cjc.jobs.restart import decide

REQUEUE, DELETE, MIGRATE = "requeue", "delete", "migrate"
ATTRIBUTES = ("RESTART", "PURGE", "STOP", "MIGRATION_PURGE", "MIGRATION_STOP")
FLAGS = ("ENABLE", "DISABLE")

# (attribute, flag, destination reachable) -> (what happens to the job, queue left STOPPED)
TABLE = {
    ("RESTART", "ENABLE", True): (REQUEUE, False),
    ("RESTART", "ENABLE", False): (REQUEUE, False),
    ("RESTART", "DISABLE", True): (DELETE, False),
    ("RESTART", "DISABLE", False): (DELETE, False),
    ("PURGE", "ENABLE", True): (DELETE, False),
    ("PURGE", "ENABLE", False): (DELETE, False),
    ("PURGE", "DISABLE", True): (DELETE, False),
    ("PURGE", "DISABLE", False): (DELETE, False),
    ("STOP", "ENABLE", True): (REQUEUE, True),
    ("STOP", "ENABLE", False): (REQUEUE, True),
    ("STOP", "DISABLE", True): (DELETE, True),
    ("STOP", "DISABLE", False): (DELETE, True),
    ("MIGRATION_PURGE", "ENABLE", True): (MIGRATE, False),
    ("MIGRATION_PURGE", "ENABLE", False): (DELETE, False),
    ("MIGRATION_PURGE", "DISABLE", True): (DELETE, False),
    ("MIGRATION_PURGE", "DISABLE", False): (DELETE, False),
    ("MIGRATION_STOP", "ENABLE", True): (MIGRATE, False),
    ("MIGRATION_STOP", "ENABLE", False): (REQUEUE, True),
    ("MIGRATION_STOP", "DISABLE", True): (DELETE, False),
    ("MIGRATION_STOP", "DISABLE", False): (DELETE, False),
}


def test_the_table_covers_every_combination():
    assert set(TABLE) == set(itertools.product(ATTRIBUTES, FLAGS, (True, False)))


@pytest.mark.parametrize("attribute, flag, reachable", sorted(TABLE))
def test_restart_rule(attribute, flag, reachable):
    assert decide(attribute, flag, reachable) == TABLE[attribute, flag, reachable]


@pytest.mark.parametrize("attribute", ATTRIBUTES + ("BOGUS", ""))
@pytest.mark.parametrize("flag", ("", "enable", None, "YES"))
def test_a_job_with_an_unknown_restart_flag_never_runs_again(attribute, flag):
    action, _stop = decide(attribute, flag, True)
    assert action == DELETE


@pytest.mark.parametrize("flag", FLAGS)
@pytest.mark.parametrize("reachable", (True, False, None))
def test_an_unknown_queue_attribute_deletes_rather_than_guess(flag, reachable):
    assert decide("BOGUS", flag, reachable) == (DELETE, False)
