"""Envelope checks (digest §1.2, §8.2): every reply of the REST planes, success or
error, is ``{code: int32, msg: string, data: object}``, success is ``code`` 0 (200 is
the documented v1.0/Kuscia divergence, reported, not failed), and unusable input is
refused in that envelope rather than with a server error or a bare HTML page.

All of these are read-only: they send unsigned probes the spec lets anyone send
(``node/health``, ``node/query``), an unknown path and malformed JSON to the unsigned
``node/contract/apply`` (which a valid body would make create an application; a body
that is not JSON cannot).
"""

from __future__ import annotations

from isthmus.conformance.checks.common import envelope, refusal, success
from isthmus.conformance.context import CheckContext
from isthmus.conformance.model import Part
from isthmus.conformance.registry import check
from isthmus.wire import paths


@check(
    "envelope.success",
    title="A success is {code: 0, msg, data}",
    part=Part.MANAGEMENT,
    section="§1.2",
    plan=(
        f"GET {paths.NODE_HEALTH} (unsigned, as the spec allows)",
        f"GET {paths.NODE_QUERY}?node_id=<target> (unsigned)",
        "each: a JSON object with integer code 0 (200 = documented divergence), string "
        "msg and a data field",
    ),
)
async def envelope_success(ctx: CheckContext) -> None:
    health = await ctx.http.unsigned("GET", paths.NODE_HEALTH, label="node/health")
    success(ctx, health, "node/health")
    query = await ctx.http.unsigned(
        "GET", paths.NODE_QUERY, params={"node_id": ctx.target.node_id}, label="node/query"
    )
    data = success(ctx, query, "node/query")
    ctx.expect(isinstance(data, dict), f"node/query: data is {type(data).__name__}, not an object")
    ctx.note("node/health and node/query answer {code: 0, msg, data}")


@check(
    "envelope.error",
    title="An error is an envelope with a non-zero code",
    part=Part.MANAGEMENT,
    section="§1.2, §8.2",
    plan=(
        "GET /v1/interconn/<kit id>/no-such-path (unsigned)",
        "expect: HTTP 4xx and {code != 0, msg, data}, not an HTML page or a 5xx",
    ),
)
async def envelope_error(ctx: CheckContext) -> None:
    path = f"/v1/interconn/{ctx.ids.new('nopath')}/no-such-path"
    reply = await ctx.http.unsigned("GET", path, label="unknown path")
    code = refusal(ctx, reply, "an unknown path")
    ctx.expect(400 <= reply.status < 500, f"an unknown path: HTTP {reply.status}, not 4xx")
    ctx.note(f"an unknown path is refused in the envelope: HTTP {reply.status}, code {code}")


@check(
    "envelope.bad-json",
    title="A body that is not JSON is refused in the envelope",
    part=Part.MANAGEMENT,
    section="§1.2",
    plan=(
        f"POST {paths.NODE_CONTRACT_APPLY} (unsigned, as the spec allows) with the body "
        "'{\"node_id\": ' and content-type application/json",
        "expect: HTTP 4xx and {code != 0, msg}; nothing can be created from it",
    ),
)
async def envelope_bad_json(ctx: CheckContext) -> None:
    reply = await ctx.http.unsigned(
        "POST",
        paths.NODE_CONTRACT_APPLY,
        content=b'{"node_id": ',
        headers={"content-type": "application/json", "x-csrf-protection": "1"},
        label="malformed JSON",
    )
    code = refusal(ctx, reply, "malformed JSON")
    ctx.expect(400 <= reply.status < 500, f"malformed JSON: HTTP {reply.status}, not 4xx")
    body = envelope(ctx, reply, "malformed JSON")
    ctx.note(f"malformed JSON: HTTP {reply.status}, code {code}, msg {str(body['msg'])[:80]!r}")
