"""Public test harness: run several Isthmus nodes and wire their contracts.

* ``ProcessCluster`` starts real node processes on free loopback ports, each with its own
  temporary home (what multi-node tests and other implementations' conformance runs use);
* ``InProcessCluster`` runs the same apps in one event loop over an in-memory transport,
  for fast unit tests of anything above the HTTP layer.
"""

from isthmus.testing.cluster import ProcessCluster, ProcessNode, free_port
from isthmus.testing.inprocess import InProcessCluster, InProcessNode

__all__ = ["InProcessCluster", "InProcessNode", "ProcessCluster", "ProcessNode", "free_port"]
