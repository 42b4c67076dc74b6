"""The test harness's public surface (``isthmus.testing``) is exactly this list.

Other implementations' conformance runs import these names; adding or removing one is a
change of the harness, so it fails here until this list says so too.
"""

from __future__ import annotations

from tests.support.public_api import check_exports

#: The exported names, by the module that defines them.
EXPORTED = {
    "cluster": ["ProcessCluster", "ProcessNode", "free_port"],
    "inprocess": ["InProcessCluster", "InProcessNode"],
}


def test_testing_exports_exactly_its_documented_public_names() -> None:
    check_exports("isthmus.testing", EXPORTED)
