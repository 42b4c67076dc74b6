"""The TEE plane's routes: the unified attestation service (UAS) and its access keys.

East-west (``east_west``): ``POST /v1/interconn/tee/uas/verify`` (digest §6). It is **not
a BFIA-signed node-to-node call** and depends on no ``ApprovedPeer``: a UAS caller is a
relying party (an application, another platform's attestation client) that has no node
contract and no node key, exactly as the UAS of the spec, which registers callers by an
AccessKey from its console. Such a caller authenticates with ``access_key`` and
``access_secret`` from ``isthmus tee access-key create``, checked here against the
secret's digest in constant time (``store.tee_keys``); the refusal ledger of
``node.auth`` still turns away an address refused too often, and counts and audits each
wrong key like any other refused request. It is the one interconn route with its own
authentication, and it answers in the UAS's own shape (not the BFIA envelope):

* 200 ``result_code "0"``: the report verified; ``attestation_result`` is a ``Uas`` UAR
  signed with this node's key (``tee.uas_report.sign_uas_result``) carrying the
  request's nonce, the evidence and the verified attribute set;
* 400 (``result_code`` = ``TEE_MALFORMED``): the body, the UAR or its evidence is
  malformed; ``result_msg`` names the key;
* 401 (``TEE_ACCESS_DENIED``): a missing, unknown, wrong or revoked access key. The
  digest lists only 200/400/405, but 400 means "your report is invalid" there; a client
  must not go and fix a report when its credentials are the problem, and 401 is what
  HTTP says for them. Unknown key and wrong secret get the same answer; "revoked" is
  said only to a caller who presented the right secret;
* 405 (``TEE_REFUSED``'s family: the refusal's stable code): the evidence did not verify;
  ``result_msg`` names the reason (``TeeReason``). A non-POST method also gets 405
  (FastAPI's, in the BFIA envelope).
* 429 (``TOO_MANY_REFUSALS``, in the UAS shape): the caller's address was refused more
  than ``refusal_limit`` times in the window; even the right key waits for the window to
  end, so guessing secrets costs the guesser its address.

The credentials are read and checked *before* the report is validated, so an
unauthenticated caller learns nothing from the parser and costs only a JSON decode
(bounded: ``[tee] uas_max_body_bytes``, enforced by the app's body limit). Verification
runs in a worker thread, never on the event loop. Every verification is audited
(``tee.uas.verify``: the access key id, platform, verdict and reason; never the secret).

North-south (admin, ``node.rbac``): create, list and revoke access keys.
"""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from isthmus.node.api.deps import Actor, Ctx, authorised, remote_of
from isthmus.node.context import NodeContext
from isthmus.node.http import BoundedJsonRoute
from isthmus.store.tee_keys import AccessKeyView, KeyCheck
from isthmus.tee.uas_report import sign_uas_result
from isthmus.tee.verdict import Verified
from isthmus.tee.verify import verify_report
from isthmus.wire import paths
from isthmus.wire.envelope import ok
from isthmus.wire.errors import (
    AuthError,
    IsthmusError,
    NotFound,
    TeeAccessDenied,
    TeeMalformed,
    TeeRefused,
)
from isthmus.wire.ids import check_id
from isthmus.wire.jsonbody import loads_bounded
from isthmus.wire.tee import (
    UasAttestationResult,
    UasVerifyReply,
    UasVerifyRequest,
    UnifiedAttestationReport,
    parse_model,
    to_json,
)

log = logging.getLogger("isthmus.tee")

east_west = APIRouter()
north_south = APIRouter(dependencies=[Depends(authorised)], route_class=BoundedJsonRoute)

#: The access key and secret are plain strings of bounded size; longer is never a key.
_MAX_CREDENTIAL = 256


def _reply(
    status: int, code: int, message: str, result: UnifiedAttestationReport | None = None
) -> JSONResponse:
    reply = UasVerifyReply(
        result_code=str(int(code)),
        result_msg=message[:1000],
        attestation_result=result,
    )
    return JSONResponse(reply.model_dump(mode="json"), status_code=status)


def _credentials(raw: bytes) -> tuple[dict[str, Any], str, str]:
    """The decoded body and its access key and secret; ``TeeMalformed`` naming the key
    when the body is not a JSON object or a credential is missing or not a string."""
    try:
        body = loads_bounded(raw, what="body")
    except IsthmusError as exc:
        raise TeeMalformed(f"body: {exc.message}", details={"key": "body"}) from None
    if not isinstance(body, dict):
        raise TeeMalformed("body: must be a JSON object", details={"key": "body"})
    values = []
    for key in ("access_key", "access_secret"):
        value = body.get(key)
        if not isinstance(value, str) or not value or len(value) > _MAX_CREDENTIAL:
            raise TeeMalformed(f"{key}: a non-empty string is required", details={"key": key})
        values.append(value)
    return body, values[0], values[1]


def _check_key(ctx: NodeContext, access_key: str, secret: str) -> None:
    with ctx.store.session() as s:
        verdict = ctx.store.tee_keys.check(s, access_key, secret)
    if verdict is KeyCheck.REVOKED:
        raise TeeAccessDenied(f"access key {access_key} was revoked")
    if verdict is not KeyCheck.OK:
        raise TeeAccessDenied("wrong access key or secret")


def _nonce(value: str) -> str:
    """The request's nonce as the result's ``hex_nonce``: hex, at most 64 bytes."""
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise TeeMalformed("nonce: must be hex", details={"key": "nonce"}) from None
    if len(raw) > 64:
        raise TeeMalformed("nonce: at most 64 bytes", details={"key": "nonce"})
    return raw.hex().upper()


def _verify(
    ctx: NodeContext, request: UasVerifyRequest
) -> tuple[Verified, UnifiedAttestationReport]:
    """Verify the report at this instant and sign the UAS result (worker thread)."""
    verified = verify_report(request.report, ctx.tee.context_at(datetime.now(UTC)))
    result = UasAttestationResult(
        int64_result_code="0",
        str_tee_platform=verified.platform,
        hex_nonce=_nonce(request.nonce),
        b64_quote=base64.b64encode(verified.evidence).decode("ascii"),
        json_attributes=to_json(verified.attributes),
    )
    return verified, sign_uas_result(result, ctx.identity.private_key)


def _audit(ctx: NodeContext, access_key: str, platform: str, verdict: str, reason: str) -> None:
    ctx.store.audit.record(
        actor=f"tee-access-key:{access_key}",
        action="tee.uas.verify",
        subject=platform[:64],
        outcome=verdict,
        details={"access_key": access_key, "platform": platform[:64], "reason": reason},
    )


async def _authenticated(request: Request, ctx: NodeContext) -> tuple[dict[str, Any], str]:
    """The decoded body and its access key, once the key is proven (else raises)."""
    remote = remote_of(request)
    ledger = ctx.authenticator.refusals
    await run_in_threadpool(ledger.admit, remote)
    body, key, secret = _credentials(await request.body())
    try:
        await run_in_threadpool(_check_key, ctx, key, secret)
    except AuthError as exc:
        refusal = exc
        await run_in_threadpool(
            lambda: ledger.refused(
                refusal, source=None, remote=remote, method="POST", path=paths.TEE_UAS_VERIFY
            )
        )
        raise
    return body, key


@east_west.post(paths.TEE_UAS_VERIFY, response_model=None)
async def uas_verify(request: Request, ctx: Ctx) -> JSONResponse:
    """Verify a UAR for an access-key holder (see the module docstring for the replies)."""
    if not ctx.tee.uas_enabled:
        raise NotFound("this node does not offer the UAS ([tee] uas_enabled = false)")
    try:
        body, key = await _authenticated(request, ctx)
    except TeeMalformed as exc:
        return _reply(400, exc.code, exc.message)
    except AuthError as exc:
        return _reply(exc.http_status, exc.code, exc.message)
    platform = "?"
    try:
        parsed = parse_model(UasVerifyRequest, "body", body)
        platform = parsed.report.str_tee_platform
        _nonce(parsed.nonce)
        verified, signed = await run_in_threadpool(_verify, ctx, parsed)
    except TeeMalformed as exc:
        await run_in_threadpool(_audit, ctx, key, platform, "malformed", exc.message)
        return _reply(400, exc.code, exc.message)
    except TeeRefused as exc:
        await run_in_threadpool(_audit, ctx, key, platform, "refused", str(exc.reason))
        return _reply(405, exc.code, f"{exc.reason}: {exc.message}")
    await run_in_threadpool(_audit, ctx, key, verified.platform, "ok", "")
    return _reply(200, 0, "success", signed)


# --- access keys (admin) ------------------------------------------------------------------


class AccessKeyRequest(BaseModel):
    label: str = Field(default="", max_length=256)


def _key_view(view: AccessKeyView) -> dict[str, Any]:
    return {
        "access_key": view.access_key,
        "label": view.label,
        "created_at": view.created_at,
        "revoked_at": view.revoked_at,
    }


def _create_key(ctx: NodeContext, label: str, actor: str) -> dict[str, Any]:
    with ctx.store.session() as s:
        view, secret = ctx.store.tee_keys.create(s, label=label)
        ctx.store.audit.append(
            s,
            actor=actor,
            action="tee.access_key.created",
            subject=view.access_key,
            details={"label": label},
        )
    return {**_key_view(view), "access_secret": secret}  # shown once, never again


def _revoke_key(ctx: NodeContext, access_key: str, actor: str) -> dict[str, Any]:
    with ctx.store.session() as s:
        view = ctx.store.tee_keys.revoke(s, access_key)
        if view is None:
            raise NotFound(f"no access key {access_key}")
        ctx.store.audit.append(
            s, actor=actor, action="tee.access_key.revoked", subject=view.access_key
        )
    return _key_view(view)


def _list_keys(ctx: NodeContext) -> list[dict[str, Any]]:
    with ctx.store.session() as s:
        return [_key_view(v) for v in ctx.store.tee_keys.list(s)]


@north_south.get(paths.ADMIN_TEE_ACCESS_KEYS)
async def access_keys(ctx: Ctx) -> dict[str, Any]:
    return ok(await run_in_threadpool(_list_keys, ctx))


@north_south.post(paths.ADMIN_TEE_ACCESS_KEYS)
async def create_access_key(body: AccessKeyRequest, ctx: Ctx, actor: Actor) -> dict[str, Any]:
    return ok(await run_in_threadpool(_create_key, ctx, body.label, actor))


@north_south.post(paths.ADMIN_TEE_ACCESS_KEY_REVOKE)
async def revoke_access_key(access_key: str, ctx: Ctx, actor: Actor) -> dict[str, Any]:
    check_id(access_key, "access_key")  # hostile until validated, like every id
    return ok(await run_in_threadpool(_revoke_key, ctx, access_key, actor))
