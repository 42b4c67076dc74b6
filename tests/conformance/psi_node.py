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


def component_env(**extra: str) -> dict[str, str]:
    """The ``ecdh_psi`` component's BFIA container environment as a target file gives
    it: a template the kit expands per scenario (literal braces doubled), plus
    ``extra`` (the link: ``system.transport`` or ``link_addresses``)."""
    return {
        "system.storage": "file://{workdir}",
        "config.self_role": "{party}",
        "config.task_id": "psi-{party}",
        "config.session_id": "{session}",
        "config.token": "{token}",
        "config.trace_id": "trace_{session}",
        "config.node_id.guest.0": "{node_id_0}",
        "config.node_id.host.0": "{node_id_1}",
        "runtime.component.name": "ecdh_psi",
        "runtime.component.parameter.curve_type": "{curve}",
        "runtime.component.parameter.recv_timeout_s": "6",
        "runtime.component.input.train_data": '{{"namespace": "in", "name": "data"}}',
        "runtime.component.output.train_data": '{{"namespace": "out", "name": "rows"}}',
        **extra,
    }


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
