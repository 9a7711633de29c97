"""Failover drills of a cjc site on the lab's real two-node Pacemaker cluster.

``from failover import SiteCluster`` (tests/ on sys.path, as tests/conftest.py does).
Used by tests/engine/test_pacemaker.py, bench/failover_time.py and ``make demo``.
"""

from .drill import EXPECTED, SiteCluster, format_table  # noqa: F401
