"""netdaemon fuzzing, small size (issue 9); ``make fuzz N=10000`` is the full run (tests/reliability/fuzz.py)."""

import os

import pytest

from reliability.fuzz import fuzz, passed

pytestmark = pytest.mark.netns

FRAMES = int(os.environ.get("FUZZ_N", "600"))


def test_netdaemon_survives_random_and_mutated_frames_and_keeps_serving_valid_clients():
    summary = fuzz(FRAMES, seed=int(os.environ.get("FUZZ_SEED", "7")), out=lambda text: None)
    assert summary["frames"] == FRAMES
    assert summary["crashes"] == 0, summary
    assert summary["valid"] > 0 and summary["valid_failed"] == 0, summary["failures"]
    assert summary["hangs"] == 0, summary["failures"]
    assert summary["rss_flat"], (summary["rss_before_kb"], summary["rss_after_kb"])
    assert passed(summary)
