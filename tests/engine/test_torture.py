"""Crash torture, small size (issue 9): every kill mode once, restarts alternating between nodes.

``make torture N=200`` is the full run (tests/reliability/torture.py).
"""

import os

import pytest

from reliability.torture import MODES, Torture, failed, shared_path

pytestmark = pytest.mark.netns

TRIALS = int(os.environ.get("TORTURE_N", str(len(MODES))))


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
