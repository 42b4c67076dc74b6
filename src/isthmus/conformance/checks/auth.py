"""Authentication checks (digest §1.2, §2.8, §8.1): the target accepts a correctly
signed request and refuses every request whose signature, freshness, uniqueness,
addressing or sender is wrong, in the envelope, having changed nothing.

The probe is the read-only ``GET dataset/pub/list``: it needs an approved contract, so
a target that skips a verification answers it with data, which is exactly what the
checks catch, and no refusal check can change state even on a target that accepts
everything. BFIA defines neither the canonical string of ``x-auth-sign`` nor an error
catalogue (§8.1, §8.2): against a target that signs another way the forging checks are
not applicable, and a refusal is judged by its envelope, its exact code only recorded.

``x-csrf-protection`` is required *of callers* on POST (§1.2) but the spec gives it no
content and no refusal, and FATE-Flow never sends it (§2.8): a target that accepts a
POST without it is reported as a divergence, one that refuses it passes.
"""

from __future__ import annotations

from urllib.parse import urlencode

from isthmus.conformance.checks.common import (
    STRANGER_KIND,
    contract_id,
    json_bytes,
    refusal,
    require_scheme,
    sign,
    success,
)
from isthmus.conformance.context import CheckContext
from isthmus.conformance.model import Part
from isthmus.conformance.recording import Reply
from isthmus.conformance.registry import check
from isthmus.crypto import generate_private_key
from isthmus.peer.signing import NodeIdentity
from isthmus.wire import headers as h
from isthmus.wire import paths
from isthmus.wire.clock import now_ms

PROBE = paths.DATASET_PUB_LIST
PROBE_PLAN = f"GET {PROBE}?contract_id=…&page_num=1&page_size=1"


def _params(ctx: CheckContext) -> dict[str, str]:
    return {"contract_id": contract_id(ctx), "page_num": "1", "page_size": "1"}


async def _probe(ctx: CheckContext, headers: dict[str, str], label: str) -> Reply:
    return await ctx.http.raw("GET", PROBE, params=_params(ctx), headers=headers, label=label)


def _signed_probe(ctx: CheckContext, **options: object) -> dict[str, str]:
    return sign(ctx, "GET", PROBE, query=urlencode(_params(ctx)), **options)  # type: ignore[arg-type]


@check(
    "auth.signed.accepted",
    title="A correctly signed request is accepted",
    part=Part.MANAGEMENT,
    section="§1.2",
    plan=(PROBE_PLAN + ", signed by the kit", "expect: code 0 with data"),
)
async def signed_accepted(ctx: CheckContext) -> None:
    require_scheme(ctx)
    reply = await _probe(ctx, _signed_probe(ctx), "signed probe")
    success(ctx, reply, "a signed request")
    ctx.note("a request signed with the contract's key is accepted")


@check(
    "auth.unsigned.refused",
    title="A request without x-auth-sign is refused",
    part=Part.MANAGEMENT,
    section="§1.2",
    plan=(
        PROBE_PLAN + " with x-source-node-id/x-target-node-id and no signature",
        "expect: refused in the envelope",
    ),
)
async def unsigned_refused(ctx: CheckContext) -> None:
    reply = await ctx.http.unsigned("GET", PROBE, params=_params(ctx), label="unsigned probe")
    code = refusal(ctx, reply, "an unsigned request")
    ctx.note(f"unsigned: refused, HTTP {reply.status}, code {code}")


@check(
    "auth.signature.invalid",
    title="A signature over other bytes is refused",
    part=Part.MANAGEMENT,
    section="§1.2, §8.1",
    plan=(
        PROBE_PLAN + " carrying a signature made for page_size=2",
        "expect: refused in the envelope",
    ),
)
async def signature_invalid(ctx: CheckContext) -> None:
    require_scheme(ctx)
    other = {**_params(ctx), "page_size": "2"}
    headers = sign(ctx, "GET", PROBE, query=urlencode(other))
    reply = await _probe(ctx, headers, "probe signed over another query")
    code = refusal(ctx, reply, "a signature over another query")
    ctx.note(f"a signature over other bytes: refused, HTTP {reply.status}, code {code}")


@check(
    "auth.signature.wrong-key",
    title="A signature by another key of the same suite is refused",
    part=Part.MANAGEMENT,
    section="§1.2",
    plan=(
        PROBE_PLAN + " signed in the kit's name with a freshly generated key",
        "expect: refused in the envelope",
    ),
)
async def signature_wrong_key(ctx: CheckContext) -> None:
    require_scheme(ctx)
    kit = ctx.kit.identity
    impostor = NodeIdentity(kit.node_id, kit.inst_id, generate_private_key(kit.auth_type))
    reply = await _probe(ctx, _signed_probe(ctx, identity=impostor), "probe signed by another key")
    code = refusal(ctx, reply, "a signature by another key")
    ctx.note(f"another key: refused, HTTP {reply.status}, code {code}")


@check(
    "auth.timestamp.stale",
    title="A request with a two-hour-old x-timestamp is refused",
    part=Part.MANAGEMENT,
    section="§1.2",
    plan=(
        PROBE_PLAN + ", correctly signed, x-timestamp = now - 2 h (epoch ms)",
        "expect: refused in the envelope",
    ),
)
async def timestamp_stale(ctx: CheckContext) -> None:
    require_scheme(ctx)
    headers = _signed_probe(ctx, timestamp_ms=now_ms() - 2 * 3600 * 1000)
    reply = await _probe(ctx, headers, "probe with a stale timestamp")
    code = refusal(ctx, reply, "a stale x-timestamp")
    ctx.note(f"stale timestamp: refused, HTTP {reply.status}, code {code}")


@check(
    "auth.nonce.replayed",
    title="A replayed x-nonce is refused",
    part=Part.MANAGEMENT,
    section="§1.2",
    plan=(
        PROBE_PLAN + ", correctly signed (accepted)",
        "the same request again, byte for byte: expect refused in the envelope",
    ),
)
async def nonce_replayed(ctx: CheckContext) -> None:
    require_scheme(ctx)
    headers = _signed_probe(ctx)
    first = await _probe(ctx, headers, "first sending")
    success(ctx, first, "the first sending")
    again = await _probe(ctx, headers, "replay")
    code = refusal(ctx, again, "the replay of a request")
    ctx.note(f"the first sending is accepted, its replay refused (HTTP {again.status}, {code})")


@check(
    "auth.target.wrong",
    title="A request addressed to another node is refused",
    part=Part.MANAGEMENT,
    section="§1.2",
    plan=(
        PROBE_PLAN + ", signed with x-target-node-id = a node id that is not the target",
        "expect: refused in the envelope",
    ),
)
async def target_wrong(ctx: CheckContext) -> None:
    require_scheme(ctx)
    other = ctx.ids.new("other")
    reply = await _probe(ctx, _signed_probe(ctx, target_node_id=other), "probe for another node")
    code = refusal(ctx, reply, "a request addressed to another node")
    ctx.note(f"wrong x-target-node-id: refused, HTTP {reply.status}, code {code}")


@check(
    "auth.source.unknown",
    title="A correctly signed request from an unknown node is refused",
    part=Part.MANAGEMENT,
    section="§1.2, §1.4",
    plan=(
        PROBE_PLAN + " signed by a fresh node id and key with no contract",
        "expect: refused in the envelope",
    ),
)
async def source_unknown(ctx: CheckContext) -> None:
    require_scheme(ctx)
    kit = ctx.kit.identity
    stranger = NodeIdentity(
        ctx.ids.new(STRANGER_KIND), kit.inst_id, generate_private_key(kit.auth_type)
    )
    reply = await _probe(ctx, _signed_probe(ctx, identity=stranger), "probe from a stranger")
    code = refusal(ctx, reply, "a request from a node without a contract")
    ctx.note(f"unknown source node: refused, HTTP {reply.status}, code {code}")


@check(
    "auth.headers.underscore",
    title="FATE's underscore header spellings are understood",
    part=Part.MANAGEMENT,
    section="§1.2, §2.8",
    plan=(
        PROBE_PLAN + ", signed, every header spelt as FATE-Flow sends it: x_node_id, "
        "x_target_node_id, x_nonce, x_timestamp, x_trace_id, x_auth_sign",
        "expect: accepted like the spec spelling",
    ),
)
async def headers_underscore(ctx: CheckContext) -> None:
    require_scheme(ctx)
    signed = _signed_probe(ctx)
    spelt = {
        "x_node_id": signed[h.SOURCE_NODE_ID],
        "x_target_node_id": signed[h.TARGET_NODE_ID],
        "x_nonce": signed[h.NONCE],
        "x_timestamp": signed[h.TIMESTAMP],
        "x_trace_id": signed[h.TRACE_ID],
        "x_auth_sign": signed[h.AUTH_SIGN],
        "x_auth_type": signed[h.AUTH_TYPE],
    }
    reply = await _probe(ctx, spelt, "probe with underscore headers")
    success(ctx, reply, "a request with FATE's underscore headers")
    ctx.note("x_node_id, x_nonce, x_timestamp, x_auth_sign… are read like x-source-node-id…")


@check(
    "auth.headers.node-id",
    title="x-node-id names the caller as x-source-node-id does",
    part=Part.MANAGEMENT,
    section="§2.8",
    plan=(
        PROBE_PLAN + ", signed, the caller named by x-node-id (FATE, Kuscia) instead of "
        "x-source-node-id",
        "expect: accepted",
    ),
)
async def headers_node_id(ctx: CheckContext) -> None:
    require_scheme(ctx)
    signed = _signed_probe(ctx)
    signed["x-node-id"] = signed.pop(h.SOURCE_NODE_ID)
    reply = await _probe(ctx, signed, "probe with x-node-id")
    success(ctx, reply, "a request naming its caller in x-node-id")
    ctx.note("x-node-id is read as the caller")


@check(
    "auth.csrf.missing",
    title="A POST without x-csrf-protection: refused, or the leniency reported",
    part=Part.MANAGEMENT,
    section="§1.2, §8.1",
    plan=(
        "POST project/audit/terminate {audit_id: <unknown, the kit's>}, signed, with "
        "x-csrf-protection: 1 (the control)",
        "the same, freshly signed, without x-csrf-protection",
        "pass: refused differently from the control; divergence: answered the same",
    ),
)
async def csrf_missing(ctx: CheckContext) -> None:
    require_scheme(ctx)
    path = paths.resource_approval("project", "terminate")
    body = json_bytes({"audit_id": ctx.ids.new("audit")})
    base = {"content-type": "application/json"}
    control = await ctx.http.raw(
        "POST",
        path,
        content=body,
        headers={**sign(ctx, "POST", path, body=body), **base},
        label="with x-csrf-protection",
    )
    bare = sign(ctx, "POST", path, body=body)
    del bare[h.CSRF_PROTECTION]
    reply = await ctx.http.raw(
        "POST", path, content=body, headers={**bare, **base}, label="without x-csrf-protection"
    )
    ctx.expect(reply.status < 500, f"without x-csrf-protection: HTTP {reply.status}")
    if reply.code == control.code and reply.status == control.status:
        ctx.divergence(
            "accepts a POST without x-csrf-protection: the spec asks callers to send it but "
            "defines neither its content nor a refusal (§8.1), and FATE-Flow never sends it "
            "(§2.8)"
        )
        ctx.note(f"answered like the control (HTTP {reply.status}, code {reply.code})")
        return
    code = refusal(ctx, reply, "a POST without x-csrf-protection")
    ctx.note(f"refused without x-csrf-protection (code {code}; with it: {control.code})")
