"""The secure operator service's routes (digest §3): ``/secure_operate/v1/execute``,
``expressions``, ``kill`` and ``query``, north-south, on the admin listener.

A platform calls **its own** node here, so the admin listener's gate applies: a bearer
token (``Authorization: Bearer ...``; a BFIA platform that only sends ``x-ptp-token``
may put the same API token there) whose roles the route allows (``rbac``: ``operator``
computes, kills and queries; any role lists the expressions). The digest's other headers
(``x-ptp-tech-provider-code``, ``x-ptp-trace-id``, ``x-ptp-session-id``,
``x-ptp-target-node-id``, ``x-ptp-target-inst-id``) are read: a target node that is not
this node is refused (NOT_A_PARTY), the trace id goes to the log.

Bodies are read within the service's own size bound (Direct values ride in them) and
parsed here, so that every refusal, a malformed field included, is answered in the
service's shape ``{code, msg, ...}`` with its code group (wire.errors.SecopCode).
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from isthmus.node import rbac
from isthmus.node.api.deps import Ctx, node_context
from isthmus.wire import paths, ptp
from isthmus.wire.errors import IsthmusError, SecopCode, SecopError
from isthmus.wire.jsonbody import MAX_DEPTH, loads_bounded
from isthmus.wire.secure_operate import ExecuteRequest, TaskRef

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)


async def secop_caller(request: Request) -> None:
    """The admin gate, with ``x-ptp-token`` accepted in place of the bearer header."""
    ctx = node_context(request)
    header = request.headers.get("authorization")
    if not header and request.headers.get(ptp.TOKEN):
        header = f"Bearer {request.headers[ptp.TOKEN]}"
    principal = await run_in_threadpool(ctx.principals.resolve, header)
    route = request.scope.get("route")
    rbac.check(principal, request.method, getattr(route, "path", request.url.path))
    request.state.principal = principal


north_south = APIRouter(dependencies=[Depends(secop_caller)])

#: Where a malformed field is, and the code its refusal gets.
_FIELD_CODES = {
    "dtype": SecopCode.UNKNOWN_DTYPE,
    "expression": SecopCode.UNKNOWN_EXPRESSION,
    "protocolCode": SecopCode.UNKNOWN_PROTOCOL,
    "phases": SecopCode.BAD_PHASE,
    "inputs": SecopCode.BAD_INPUT,
}


def reply(code: int, msg: str, status: int = 200, **extra: Any) -> JSONResponse:
    return JSONResponse({"code": int(code), "msg": msg, **extra}, status_code=status)


def refused(exc: IsthmusError) -> JSONResponse:
    if isinstance(exc, SecopError):
        return reply(exc.secop_code, exc.message, exc.http_status)
    return reply(SecopCode.BAD_PARAMETER, exc.message, exc.http_status)


async def _body(request: Request, ctx: Ctx, model: type[M]) -> M | JSONResponse:
    raw = await request.body()
    try:
        document = loads_bounded(
            raw or b"{}",
            max_depth=MAX_DEPTH,
            max_bytes=ctx.config.secure_operate.max_body_bytes,
            what="request body",
        )
        return model.model_validate(document)
    except IsthmusError as exc:
        return refused(exc)
    except ValidationError as exc:
        problems = exc.errors()
        code = SecopCode.BAD_PARAMETER
        for problem in problems:
            for part in problem.get("loc", ()):
                code = _FIELD_CODES.get(str(part), code)
        shown = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in problems
        )
        return reply(code, shown[:1000], 422)


def _check_target(request: Request, ctx: Ctx) -> JSONResponse | None:
    target = request.headers.get(ptp.TARGET_NODE_ID)
    if target and target != ctx.node_id:
        return reply(SecopCode.NOT_A_PARTY, f"x-ptp-target-node-id {target[:60]!r} is not us", 421)
    return None


@north_south.post(paths.SECOP_EXECUTE)
async def execute(request: Request, ctx: Ctx) -> JSONResponse:
    wrong = _check_target(request, ctx)
    if wrong is not None:
        return wrong
    body = await _body(request, ctx, ExecuteRequest)
    if isinstance(body, JSONResponse):
        return body
    log.info(
        "secure operator execute %s (%s) trace %s",
        body.task_id,
        body.expression[:20],
        request.headers.get(ptp.TRACE_ID, "")[:64],
    )
    try:
        answer = await ctx.secure_operate.execute(body)
    except IsthmusError as exc:
        return refused(exc)
    return JSONResponse(answer.wire())


@north_south.post(paths.SECOP_EXPRESSIONS)
async def expressions(ctx: Ctx) -> JSONResponse:
    return JSONResponse(ctx.secure_operate.expressions().wire())


async def _on_task(request: Request, ctx: Ctx, kill: bool) -> JSONResponse:
    wrong = _check_target(request, ctx)
    if wrong is not None:
        return wrong
    body = await _body(request, ctx, TaskRef)
    if isinstance(body, JSONResponse):
        return body
    if body.local_party_id is not None and body.local_party_id != ctx.node_id:
        return reply(SecopCode.NOT_A_PARTY, f"localPartyId {body.local_party_id} is not us", 422)
    service = ctx.secure_operate
    try:
        answer = await (service.kill(body) if kill else service.query(body))
    except IsthmusError as exc:
        return refused(exc)
    return JSONResponse(answer.wire())


@north_south.post(paths.SECOP_KILL)
async def kill(request: Request, ctx: Ctx) -> JSONResponse:
    return await _on_task(request, ctx, kill=True)


@north_south.post(paths.SECOP_QUERY)
async def query(request: Request, ctx: Ctx) -> JSONResponse:
    return await _on_task(request, ctx, kill=False)
