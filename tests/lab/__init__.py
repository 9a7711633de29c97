"""cjc.cluster's test lab: two (or more) nodes as namespaces on one machine.

    from lab import Lab, LabConfig
    lab = Lab(LabConfig(name="mytest")).up()
    lab.nsx("node1", "hostname").stdout        # 'node1\\n'
    lab.move_vip("node2"); lab.kill_node("node2"); lab.revive_node("node2")
    lab.down()

The CLI is tests/lab/cjclab; pytest fixtures are in lab.fixtures; docs/lab.md.
"""

from .core import Lab, LabConfig, LabError, pid_alive
from .sandbox import Sandbox

__all__ = ["Lab", "LabConfig", "LabError", "Sandbox", "pid_alive"]
