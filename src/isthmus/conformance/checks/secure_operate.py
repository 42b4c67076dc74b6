"""Secure-operator service checks (digest §3): ``/secure_operate/v1/expressions`` lists
what the service computes as ``{code: 0, expressions[]}`` with the fields the text
names, and ``kill``/``query`` of a task the service does not know, like an ``execute``
with an unknown expression, are refused in the service's own shape ``{code, msg}`` with
a code of the logic/parameter group (400-999). Nothing is computed, so nothing needs to
be cleaned up.

The service is north-south (a platform calls its own node), so the kit needs its
address and the platform's credential (``target.secure_operate_address`` and
``secure_operate_token``); without them the checks are not applicable.
"""

from __future__ import annotations

from typing import Any

from isthmus.conformance.context import CheckContext
from isthmus.conformance.model import Part
from isthmus.conformance.recording import Reply
from isthmus.conformance.registry import check
from isthmus.wire import paths, ptp

EXPRESSION_FIELDS = ("protocolCode", "expression")


def _url(ctx: CheckContext, path: str) -> str:
    base = ctx.target.secure_operate_address
    if not base:
        ctx.not_applicable(
            "the secure operator service is north-south (§3): the kit needs its address and "
            "a platform credential (target.secure_operate_address/secure_operate_token)"
        )
    base = base if "://" in base else f"http://{base}"
    return base.rstrip("/") + path


async def _call(ctx: CheckContext, path: str, body: dict[str, Any], label: str) -> Reply:
    url = _url(ctx, path)
    token = ctx.http.secret(ctx.target.secure_operate_token or "")
    headers = {
        "content-type": "application/json",
        ptp.TECH_PROVIDER_CODE: "isthmus-conformance",
        ptp.TRACE_ID: ctx.ids.new("trace"),
        ptp.TARGET_NODE_ID: ctx.target.node_id,
    }
    if token:
        headers[ptp.TOKEN] = token
    import json

    return await ctx.http.raw(
        "POST", url, content=json.dumps(body).encode(), headers=headers, label=label
    )


def _shape(ctx: CheckContext, reply: Reply, what: str) -> dict[str, Any]:
    ctx.expect(reply.status < 500, f"{what}: HTTP {reply.status}")
    body = reply.json
    ctx.expect(
        isinstance(body, dict) and isinstance(body.get("code"), int),
        f"{what}: not the service's {{code, msg, …}} (§3): {reply.body[:80]!r}",
    )
    assert isinstance(body, dict)
    return body


def _refused(ctx: CheckContext, reply: Reply, what: str) -> int:
    code = int(_shape(ctx, reply, what)["code"])
    ctx.expect(
        400 <= code <= 999, f"{what}: code {code}, not a logic/parameter refusal (400-999, §3)"
    )
    return code


@check(
    "secop.expressions",
    title="expressions lists what the service computes",
    part=Part.SECURE_OPERATORS,
    section="§3",
    plan=(
        f"POST {paths.SECOP_EXPRESSIONS} {{}}",
        "expect {code: 0, expressions: [{protocolCode, providerCode, version, expression, "
        "params}]}",
    ),
)
async def expressions(ctx: CheckContext) -> None:
    body = _shape(ctx, await _call(ctx, paths.SECOP_EXPRESSIONS, {}, "expressions"), "expressions")
    ctx.expect(body["code"] == 0, f"expressions: code {body['code']} {body.get('msg')}")
    listed = body.get("expressions")
    ctx.expect(isinstance(listed, list) and listed, "expressions: no expressions[] (§3)")
    assert isinstance(listed, list)
    for i, entry in enumerate(listed):
        missing = [f for f in EXPRESSION_FIELDS if not isinstance(entry, dict) or f not in entry]
        ctx.expect(not missing, f"expressions[{i}]: no {', '.join(missing)}")
    names = sorted({str(e.get("expression")) for e in listed})
    ctx.note(f"{len(listed)} expression(s): {', '.join(names)[:200]}")


@check(
    "secop.unknown-task",
    title="kill and query of an unknown task are refused in the service's shape",
    part=Part.SECURE_OPERATORS,
    section="§3",
    plan=(
        f"POST {paths.SECOP_QUERY} and {paths.SECOP_KILL} {{taskId: <the kit's, unknown>, "
        "localPartyId: <target>}}",
        "expect {code in 400-999, msg}",
    ),
)
async def unknown_task(ctx: CheckContext) -> None:
    ref = {"taskId": ctx.ids.new("secop"), "localPartyId": ctx.target.node_id}
    queried = _refused(ctx, await _call(ctx, paths.SECOP_QUERY, ref, "query"), "query")
    killed = _refused(ctx, await _call(ctx, paths.SECOP_KILL, ref, "kill"), "kill")
    ctx.note(f"unknown task: query refused ({queried}), kill refused ({killed})")


@check(
    "secop.unknown-expression",
    title="execute with an unknown expression is refused before anything runs",
    part=Part.SECURE_OPERATORS,
    section="§3",
    plan=(
        f"POST {paths.SECOP_EXECUTE} with expression 'cfk_no_such_expression', the target "
        "as the only party",
        "expect {code in 400-999, msg}",
    ),
)
async def unknown_expression(ctx: CheckContext) -> None:
    node = ctx.target.node_id
    body = {
        "taskId": ctx.ids.new("secop"),
        "token": "",
        "asyncMode": False,
        "timeout": 5,
        "mpcProtocol": {"protocolCode": "semi2k", "providerCode": "", "version": "", "param": {}},
        "expression": "cfk_no_such_expression",
        "parties": [node],
        "localPartyId": node,
        "resultParties": [node],
        "inputs": [],
        "outputMethod": [],
    }
    code = _refused(ctx, await _call(ctx, paths.SECOP_EXECUTE, body, "execute"), "execute")
    ctx.note(f"an unknown expression is refused ({code})")
