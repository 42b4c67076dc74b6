"""``node/update`` (digest §1.4, optional in the spec): a partner changes its own
description under its approved contract, signed with its contract key.

The kit never touches the run's own contract: a throw-away identity of the kit applies,
the target's operator approves it (``operator.approved_second_contract``; not applicable
when nobody does within ``approval_timeout_s``), the kit updates that identity's own
fields (name, description, system_version; never its key or address) and terminates
the contract afterwards. A target that does not serve the optional route (HTTP 404 or
405 before any state is created) is not applicable, not failed.
"""

from __future__ import annotations

from isthmus.conformance.checks.common import success
from isthmus.conformance.checks.operator import ASK, approved_second_contract, as_identity
from isthmus.conformance.context import CheckContext
from isthmus.conformance.model import Part
from isthmus.conformance.recording import Reply
from isthmus.conformance.registry import check
from isthmus.wire import paths

ABSENT = (404, 405)


def _unserved(ctx: CheckContext, reply: Reply) -> None:
    if reply.status in ABSENT:
        ctx.not_applicable(
            f"the target does not serve the optional {paths.NODE_UPDATE} (HTTP {reply.status})"
        )


@check(
    "mgmt.node.update",
    title="node/update of the kit's own description is accepted (optional route)",
    part=Part.MANAGEMENT,
    section="§1.4",
    mutates=True,
    plan=(
        f"POST {paths.NODE_UPDATE} unsigned, empty: HTTP 404/405 = the route is not served "
        "(not applicable; nothing created)",
        f"POST {paths.NODE_CONTRACT_APPLY} as a throw-away identity of the kit; {ASK}",
        f"POST {paths.NODE_UPDATE} signed by that identity {{contract_id, node_id, name, "
        "description, system_version}}: expect code 0",
        f"POST {paths.NODE_CONTRACT_TERMINATE} of that contract (cleanup)",
    ),
)
async def node_update(ctx: CheckContext) -> None:
    probe = await ctx.http.unsigned(
        "POST",
        paths.NODE_UPDATE,
        json={},
        headers={"x-csrf-protection": "1"},
        label="is node/update served?",
    )
    _unserved(ctx, probe)
    who, contract = await approved_second_contract(ctx)
    body = {
        "contract_id": contract,
        "node_id": who.node_id,
        "name": "isthmus conformance kit (updated)",
        "description": "node/update conformance check",
        "system_version": "2",
    }
    reply = await as_identity(ctx, who, "POST", paths.NODE_UPDATE, body=body, label="update")
    _unserved(ctx, reply)
    success(ctx, reply, "node/update")
    ctx.note("a signed node/update of the partner's own name, description and version: code 0")
