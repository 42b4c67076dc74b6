"""Launching the ``ecdh_psi`` component on a real Isthmus node's transport, for the kit's
``link = "node"`` scenarios: the component process gets the node's transport as
``system.transport`` and the kit as its peer; before it starts, the transport session
is opened on the node through its admin API, as the node's scheduler does for a job.

The node under test is set by the test module (``NODE``), since a launcher is named by
an import path in the target file.
"""

from __future__ import annotations

import asyncio
import sys

from isthmus.conformance.psi.launch import CommandLauncher, RunSpec, TargetRun
from isthmus.conformance.psi.target import PsiTarget
from isthmus.testing import ProcessNode

NODE: list[ProcessNode] = []


class NodeSessionLauncher(CommandLauncher):
    async def launch(self, spec: RunSpec) -> TargetRun:
        node = NODE[0]
        kit = spec.node_ids[spec.kit_rank]
        body = {"session_id": spec.session, "token": spec.token, "parties": [kit]}
        await asyncio.to_thread(node.admin.post, "/transport/sessions", body)
        return await super().launch(spec)


def launcher(psi: PsiTarget) -> NodeSessionLauncher:
    """The component's container entry point, with ``psi.env`` as its environment."""
    command = (sys.executable, "-m", "isthmus.components")
    return NodeSessionLauncher(psi.model_copy(update={"command": command, "launcher": None}))
