"""The contract plane's routes: node elements and contracts between nodes (digest §1.4).

East-west (``east_west``): health and node query (unsigned, so a node can introduce
itself), contract apply and confirm (unsigned by the spec, but a caller that signs
must prove the key it presents, and an APPROVED confirm must always prove it),
terminate and query (signed, any contract: they end or read one that is no longer
approved), and node update (signed, approved contract).

North-south (``north_south``, admin token): list and read contracts, apply to a
partner, approve, reject, terminate, and sync the pending ones now. Every decision
names its actor (the token) in the audit log.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field, TypeAdapter
from starlette.concurrency import run_in_threadpool

from isthmus.management.contracts import SelfDescription, parse_credential
from isthmus.node.api.deps import (
    Actor,
    ApprovedPeer,
    Ctx,
    KnownPeer,
    PendingKnownPeer,
    authorised,
    client_cert_of,
    evidence_of,
    remote_of,
)
from isthmus.node.auth import Caller
from isthmus.node.http import BoundedJsonRoute
from isthmus.peer.signing import canonical_string, verify_signature
from isthmus.store.contracts_read import ContractStatusRow, status_reader
from isthmus.wire import headers as h
from isthmus.wire import paths
from isthmus.wire.clock import now_ms
from isthmus.wire.envelope import ok
from isthmus.wire.errors import BadSignature, NotFound
from isthmus.wire.node import (
    INT64_MAX,
    NODE_ID_PATTERN,
    ContractApply,
    ContractConfirm,
    ContractRef,
    ContractStatus,
    NodeUpdate,
)

east_west = APIRouter(route_class=BoundedJsonRoute)
north_south = APIRouter(dependencies=[Depends(authorised)], route_class=BoundedJsonRoute)


# --- east-west ---------------------------------------------------------------------------


async def _proof_of_possession(
    request: Request, auth_type: str | None, credential: str | None
) -> bool:
    """For the unsigned endpoints: if the caller did sign, the signature must verify with
    the key it is presenting. Returns whether it was proven (shown to the operator)."""
    signature = h.read(request.headers, h.AUTH_SIGN)
    if not signature:
        return False
    if not (auth_type and credential):
        return False
    _, key = parse_credential(auth_type, credential)
    body = await request.body()
    message = canonical_string(
        method=request.method,
        path=request.url.path,
        query=request.url.query,
        timestamp=h.read(request.headers, h.TIMESTAMP) or "",
        nonce=h.read(request.headers, h.NONCE) or "",
        source_node_id=h.read(request.headers, h.SOURCE_NODE_ID) or "",
        target_node_id=h.read(request.headers, h.TARGET_NODE_ID) or "",
        body=body,
        ptp_headers=request.headers,
    )
    if not verify_signature(key, signature, message):
        raise BadSignature("x-auth-sign does not verify with the key in the request body")
    return True


@east_west.get(paths.NODE_HEALTH)
async def node_health() -> dict[str, Any]:
    return ok({"status": "ok", "timestamp": now_ms()})


@east_west.get(paths.NODE_QUERY)
async def node_query(
    ctx: Ctx, node_id: str | None = Query(default=None, max_length=128)
) -> dict[str, Any]:
    if node_id and node_id != ctx.node_id:
        raise NotFound(f"this is node {ctx.node_id}; it does not describe {node_id!r}")
    # Isthmus extension: the node's own attestation report, as it stands now.
    report = await run_in_threadpool(ctx.contracts.own_report)
    return ok(ctx.info.model_copy(update={"tee_report": report}).model_dump(exclude_none=True))


@east_west.post(paths.NODE_CONTRACT_APPLY)
async def contract_apply(body: ContractApply, request: Request, ctx: Ctx) -> dict[str, Any]:
    proven = await _proof_of_possession(request, body.auth_type, body.auth_credential)
    contract_id = await run_in_threadpool(
        lambda: ctx.contracts.receive_apply(
            body,
            target_node_id=h.read(request.headers, h.TARGET_NODE_ID),
            proven=proven,
            remote=remote_of(request),
            client_cert_der=client_cert_of(request),
        )
    )
    return ok({"contract_id": contract_id})


async def _prove_confirm(request: Request, ctx: Ctx, body: ContractConfirm) -> str | None:
    """The node an APPROVED confirm comes from, once it has proven possession of the key
    it binds (``RequestAuthenticator.prove_possession``)."""
    _, key = parse_credential(body.auth_type, body.auth_credential)
    evidence = await evidence_of(request)
    return await run_in_threadpool(
        lambda: ctx.authenticator.prove_possession(
            **evidence, key=key, tls_fingerprint=body.tls_cert_fingerprint
        )
    )


@east_west.post(paths.NODE_CONTRACT_CONFIRM)
async def contract_confirm(body: ContractConfirm, request: Request, ctx: Ctx) -> dict[str, Any]:
    """An APPROVED confirm binds the partner's key to our application, so it must
    prove possession of that key (``RequestAuthenticator.prove_possession``) before
    anything is read from the store; a REJECTED one binds nothing."""
    if body.status == ContractStatus.APPROVED:
        source = await _prove_confirm(request, ctx, body)
        proven = True
    else:
        proven = await _proof_of_possession(request, body.auth_type, body.auth_credential)
        source = h.read(request.headers, h.SOURCE_NODE_ID)
    await run_in_threadpool(
        lambda: ctx.contracts.receive_confirm(
            body,
            source_node_id=source,
            proven=proven,
            remote=remote_of(request),
            client_cert_der=client_cert_of(request),
        )
    )
    return ok()


@east_west.post(paths.NODE_CONTRACT_TERMINATE)
async def contract_terminate(
    body: ContractRef, request: Request, ctx: Ctx, caller: KnownPeer
) -> dict[str, Any]:
    await run_in_threadpool(
        lambda: ctx.contracts.receive_terminate(
            body.contract_id, source_node_id=caller.node_id, remote=remote_of(request)
        )
    )
    return ok()


def query_answer(
    row: ContractStatusRow, me: SelfDescription, tee_report: str | None
) -> dict[str, Any]:
    """``node/contract/query``'s ``data``: the status; for an APPROVED contract also our
    key, its suite, the expiry, our TLS pin and our attestation report (the Isthmus
    extension a lost confirm is recovered by). The keys of ``ContractQueryResult`` in its
    field order, ``None`` left out, as its ``model_dump(exclude_none=True)`` gave."""
    data: dict[str, Any] = {"status": ContractStatus(row.status).value}
    if row.status == ContractStatus.APPROVED:
        extra = {
            "auth_credential": me.auth_credential,
            "auth_type": me.auth_type,
            "expired_time": row.expired_time,
            "tls_cert_fingerprint": me.tls_fingerprint,
            "tee_report": tee_report,
        }
        data.update((key, value) for key, value in extra.items() if value is not None)
    return data


def json_ok(data: Any) -> Response:
    """The success envelope as FastAPI renders a handler's ``dict[str, Any]`` (pydantic's
    JSON of that type), without its per-request validation of the dict it was handed."""
    return Response(_ENVELOPE.dump_json(ok(data)), media_type="application/json")


_ENVELOPE = TypeAdapter(dict[str, Any])


# The partner's nonce and the contract's row: on the event loop when neither has to wait,
# else in one thread-pool hop (``PendingPeer.run``); the row read without the ORM
# (``store.contracts_read``). The route is every sync round's call and ``isthmus doctor``'s
# signed ping. (A comment, not a docstring: FastAPI would publish a docstring in the
# OpenAPI document, which stays as it was, ``response_model`` included.)
@east_west.get(paths.NODE_CONTRACT_QUERY, response_model=dict[str, Any])
async def contract_query(
    ctx: Ctx, peer: PendingKnownPeer, contract_id: str = Query(min_length=1, max_length=128)
) -> Response:
    reader = status_reader(ctx.store.engine)

    def answer(caller: Caller, row: ContractStatusRow | None) -> dict[str, Any]:
        if row is None or row.peer_node_id != caller.node_id:
            raise NotFound(f"no contract {contract_id} with node {caller.node_id}")
        approved = row.status == ContractStatus.APPROVED
        return query_answer(row, ctx.contracts.me, ctx.contracts.own_report() if approved else None)

    data = await peer.run(
        lambda caller: answer(caller, reader.status_of(contract_id)),
        now=lambda caller: answer(caller, reader.status_now(contract_id)),
    )
    return json_ok(data)


@east_west.post(paths.NODE_UPDATE)
async def node_update(
    body: NodeUpdate, request: Request, ctx: Ctx, caller: ApprovedPeer
) -> dict[str, Any]:
    await run_in_threadpool(
        lambda: ctx.contracts.receive_update(
            body, source_node_id=caller.node_id, remote=remote_of(request)
        )
    )
    return ok()


# --- north-south -------------------------------------------------------------------------


class ApplyRequest(BaseModel):
    address: str = Field(min_length=1, max_length=512, description="partner's interconn URL")
    node_id: str | None = Field(default=None, pattern=NODE_ID_PATTERN)


class ApproveRequest(BaseModel):
    expired_time: int | None = Field(default=None, ge=0, le=INT64_MAX, description="epoch ms")
    address: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        description="the partner's interconn URL to call (default: the one it declared)",
    )


class ReasonRequest(BaseModel):
    reason: str = Field(default="", max_length=1024)


@north_south.get(paths.ADMIN_CONTRACTS)
async def list_contracts(ctx: Ctx, status: ContractStatus | None = None) -> dict[str, Any]:
    value = status.value if status else None
    return ok(await run_in_threadpool(lambda: ctx.contracts.list(status=value)))


@north_south.get(paths.ADMIN_CONTRACT)
async def get_contract(contract_id: str, ctx: Ctx) -> dict[str, Any]:
    return ok(await run_in_threadpool(ctx.contracts.get, contract_id))


@north_south.post(paths.ADMIN_CONTRACT_APPLY)
async def apply(body: ApplyRequest, ctx: Ctx, actor: Actor) -> dict[str, Any]:
    view = await ctx.contracts.apply(body.address, actor=actor, peer_node_id=body.node_id)
    return ok(view)


@north_south.post(paths.ADMIN_CONTRACT_APPROVE)
async def approve(contract_id: str, body: ApproveRequest, ctx: Ctx, actor: Actor) -> dict[str, Any]:
    view = await run_in_threadpool(
        lambda: ctx.contracts.approve(
            contract_id, actor=actor, expired_time=body.expired_time, address=body.address
        )
    )
    return ok(view)


@north_south.post(paths.ADMIN_CONTRACT_REJECT)
async def reject(contract_id: str, body: ReasonRequest, ctx: Ctx, actor: Actor) -> dict[str, Any]:
    view = await run_in_threadpool(
        lambda: ctx.contracts.reject(contract_id, actor=actor, reason=body.reason)
    )
    return ok(view)


@north_south.post(paths.ADMIN_CONTRACT_TERMINATE)
async def terminate(
    contract_id: str, body: ReasonRequest, ctx: Ctx, actor: Actor
) -> dict[str, Any]:
    view = await run_in_threadpool(
        lambda: ctx.contracts.terminate(contract_id, actor=actor, reason=body.reason)
    )
    return ok(view)


@north_south.post(paths.ADMIN_CONTRACT_SYNC)
async def sync(ctx: Ctx) -> dict[str, Any]:
    changed = await ctx.contracts.sync_pending()
    delivered = await ctx.outbox.deliver_due()
    return ok({"contracts_changed": changed, "messages_delivered": delivered})
