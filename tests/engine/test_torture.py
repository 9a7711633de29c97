"""Crash torture, small size: every kill mode once, restarts alternating between nodes.

``make torture N=200`` is the full run (tests/reliability/torture.py).
"""

import os

import pytest

from reliability.torture import MODES, RouteTorture, Torture, failed, route_failed, shared_path


TRIALS = int(os.environ.get("TORTURE_N", str(len(MODES))))


@pytest.mark.netns
def test_nothing_is_lost_corrupted_run_twice_or_left_behind_whatever_dies_when(cjc_lab_factory):
    lines = []
    lab = cjc_lab_factory(shared_path=shared_path())
    torture = Torture(lab, seed=int(os.environ.get("TORTURE_SEED", "9")), out=lines.append)
    torture.run(TRIALS)
    summary = torture.report()
    print("\n".join(lines))
    assert summary["trials"] == TRIALS
    assert not failed(summary), "\n".join(lines)
    assert summary["jobs"] > 0 and sum(torture.modes.values()) == TRIALS


def test_routing_to_another_site_is_exactly_once_when_the_sender_dies_between_answer_and_commit():
    lines = []
    torture = RouteTorture(seed=int(os.environ.get("TORTURE_SEED", "9")), out=lines.append)
    summary = torture.run(int(os.environ.get("ROUTE_TORTURE_N", "4")))
    torture.report()
    print("\n".join(lines))
    assert summary["trials"] >= 2 and summary["jobs"] > 0
    assert not route_failed(summary), "\n".join(lines)
