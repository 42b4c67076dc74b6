"""What the target's operator does during a run, and how the kit waits for it.

Some paths of the spec run only once a person on the target's side decides: a contract
is APPROVED, an audit is APPROVED and its ``resource_permit`` sent back (§1.3, §1.4).
The kit asks, then waits up to ``target.approval_timeout_s`` for the target's confirm on
its listener, falling back to one query (the spec's "兜底" when a confirm is lost). When
nobody approved in time the check is NOT_APPLICABLE with that reason: the target did
nothing wrong, its operator was not there. An APPROVED status with no confirm ever sent
is the target's fault (FAIL). The kit waits so once per run: after one request went
unanswered, the later ones are read back at once (an operator who answered none in
``approval_timeout_s`` is taken to be away), so a run without an operator costs one
timeout, not one per request.

Everything the kit asks the operator to approve carries ``APPROVE_KIND`` in its id
(``cfk<run>-approve-<n>``): the operator (or a test fixture playing them) approves
exactly those and nothing else of the run, since other checks read their requests back
as APPLIED. Ids never hold a secret.
"""

from __future__ import annotations

import asyncio
from typing import Any, NoReturn
from urllib.parse import urlencode

from isthmus.conformance.checks.common import json_bytes, sign, success, throw_away_apply
from isthmus.conformance.context import CheckContext
from isthmus.conformance.listener import ListenerTimeout, Received
from isthmus.conformance.recording import Reply
from isthmus.crypto import generate_private_key
from isthmus.peer.signing import NodeIdentity
from isthmus.wire import paths

#: The id kind of what the operator is asked to approve (a test fixture approves
#: exactly the ids holding ``-approve-``).
APPROVE_KIND = "approve"
#: ``ctx.state`` key, set once an approval request went unanswered in this run.
OPERATOR_SILENT = "operator_silent"
ASK = (
    "the target's operator approves it within approval_timeout_s (its id holds "
    f"'-{APPROVE_KIND}-'); else not applicable"
)


def approval_id(ctx: CheckContext) -> str:
    return ctx.ids.new(APPROVE_KIND)


async def as_identity(
    ctx: CheckContext,
    who: NodeIdentity,
    method: str,
    path: str,
    *,
    body: dict[str, Any] | None = None,
    params: dict[str, str] | None = None,
    label: str,
) -> Reply:
    """A request signed by ``who`` (a throw-away identity of the kit), not the kit."""
    content = json_bytes(body) if body is not None else b""
    headers = sign(ctx, method, path, query=urlencode(params or {}), body=content, identity=who)
    if body is not None:
        headers["content-type"] = "application/json"
    return await ctx.http.raw(
        method, path, content=content, headers=headers, params=params, label=label
    )


async def approved_second_contract(ctx: CheckContext) -> tuple[NodeIdentity, str]:
    """A throw-away identity of the kit with a contract the target's operator approved
    (never the run's own contract); terminated after the check."""
    kit = ctx.kit.identity
    who = NodeIdentity(approval_id(ctx), kit.inst_id, generate_private_key(kit.auth_type))
    apply = throw_away_apply(ctx, who, "isthmus conformance kit (throw-away identity)")
    reply = await as_identity(
        ctx, who, "POST", paths.NODE_CONTRACT_APPLY, body=apply, label="apply (second identity)"
    )
    data = success(ctx, reply, "node/contract/apply")
    contract = data.get("contract_id") if isinstance(data, dict) else None
    ctx.expect(isinstance(contract, str) and contract, "node/contract/apply: no contract_id")
    assert isinstance(contract, str)

    async def withdraw() -> None:
        await as_identity(
            ctx,
            who,
            "POST",
            paths.NODE_CONTRACT_TERMINATE,
            body={"contract_id": contract},
            label="cleanup: terminate",
        )

    ctx.cleanup(withdraw)
    confirm = await _confirmed(ctx, paths.NODE_CONTRACT_CONFIRM, "contract_id", contract)
    if confirm is None:
        query = await as_identity(
            ctx,
            who,
            "GET",
            paths.NODE_CONTRACT_QUERY,
            params={"contract_id": contract},
            label="query (no confirm arrived)",
        )
        status = _status(query)
        if status != "APPROVED":
            _not_approved(ctx, f"contract {contract}", status)
        ctx.fail(f"contract {contract} is APPROVED but the target never sent its confirm")
    status = str((confirm.json or {}).get("status", ""))
    if status != "APPROVED":
        _not_approved(ctx, f"contract {contract}", status)
    return who, contract


async def audit_confirm(ctx: CheckContext, resource: str, audit_id: str) -> dict[str, Any]:
    """The target's ``<resource>/audit/confirm`` of ``audit_id`` as APPROVED (its body)."""
    path = paths.resource_approval(resource, "confirm")
    confirm = await _confirmed(ctx, path, "audit_id", audit_id)
    if confirm is None:
        query = await ctx.http.signed(
            "GET",
            paths.resource_approval(resource, "query"),
            params={"audit_id": audit_id},
            label="audit query (no confirm arrived)",
        )
        status = _status(query)
        if status != "APPROVED":
            _not_approved(ctx, f"{resource} audit {audit_id}", status)
        ctx.fail(f"{resource} audit {audit_id} is APPROVED but no {path} reached the kit")
    ctx.expect(
        confirm.signature_valid is not False,
        f"{path}: the target's signature does not verify against its key",
    )
    body = confirm.json
    assert isinstance(body, dict)
    status = str(body.get("status", ""))
    if status != "APPROVED":
        _not_approved(ctx, f"{resource} audit {audit_id}", status)
    return body


async def _confirmed(ctx: CheckContext, path: str, key: str, value: str) -> Received | None:
    """The confirm of ``value`` on the kit's listener, or None after the timeout (at
    once if an earlier request of the run went unanswered)."""
    if ctx.state.get(OPERATOR_SILENT):
        return None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ctx.target.approval_timeout_s
    while True:
        try:
            got = await ctx.listener.expect(path, max(0.05, deadline - loop.time()))
        except ListenerTimeout:
            ctx.state[OPERATOR_SILENT] = True
            return None
        if isinstance(got.json, dict) and got.json.get(key) == value:
            return got


def _status(reply: Reply) -> str | None:
    data = reply.data
    status = data.get("status") if isinstance(data, dict) else None
    return status if isinstance(status, str) else None


def _not_approved(ctx: CheckContext, what: str, status: str | None) -> NoReturn:
    if status == "REJECTED":
        ctx.not_applicable(f"the target's operator rejected {what}")
    ctx.not_applicable(
        f"{what} was not approved (status {status}): no operator answered within "
        f"approval_timeout_s = {ctx.target.approval_timeout_s:g} s in this run (the kit "
        "waits once per run); this path needs the target's operator to approve during "
        "the run"
    )
