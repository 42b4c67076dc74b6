"""What the node-level checks share: judging a BFIA envelope, signing by hand, the
run's contract, and the sessions a target's operator opened for the kit.

Every judgement is the digest's, and deliberately tolerant where the digest documents
a divergence: a success answered with ``code`` 200 (BFIA v1.0, Kuscia; §1.2 Δ) passes
with the divergence recorded, never fails. A *refusal* is judged only by what the spec
fixes: an envelope whose ``code`` is neither 0 nor 200, served with a non-5xx status.
The spec has no error catalogue (§8.2), so a refusal's exact code is evidence, not a
verdict.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from isthmus.conformance.context import CheckContext
from isthmus.conformance.recording import Reply
from isthmus.peer.signing import NodeIdentity, sign_request
from isthmus.wire import headers as h

SUCCESS_CODES = (0, 200)
SCHEME = "isthmus-sig-1"
#: A node id no target knows (a valid id, so only "unknown" can be refused).
STRANGER_KIND = "node"


def envelope(ctx: CheckContext, reply: Reply, what: str) -> dict[str, Any]:
    """The reply as a BFIA envelope ``{code, msg, data}``, or the check fails."""
    body = reply.json
    ctx.expect(
        isinstance(body, dict),
        f"{what}: HTTP {reply.status}, the body is not a JSON object "
        f"({reply.body[:80]!r}); BFIA answers {{code, msg, data}} (§1.2)",
    )
    assert isinstance(body, dict)
    code = body.get("code")
    ctx.expect(
        isinstance(code, int) and not isinstance(code, bool),
        f"{what}: no integer 'code' in the envelope (keys {sorted(body)}); §1.2 fixes "
        "{code: int32, msg, data}",
    )
    ctx.expect(
        isinstance(body.get("msg", ""), str),
        f"{what}: 'msg' is {type(body.get('msg')).__name__}, not a string (§1.2)",
    )
    return body


def success(ctx: CheckContext, reply: Reply, what: str) -> Any:
    """The ``data`` of a success envelope: code 0 (200 is a documented divergence)."""
    body = envelope(ctx, reply, what)
    code = body["code"]
    ctx.expect(
        code in SUCCESS_CODES,
        f"{what}: refused with code {code}: {str(body.get('msg'))[:200]}",
    )
    ctx.expect(reply.status < 400, f"{what}: success envelope served with HTTP {reply.status}")
    ctx.expect("data" in body, f"{what}: success envelope without 'data' (§1.2)")
    if code == 200:
        ctx.divergence("answers success with code 200, BFIA v1.0's and Kuscia's (§1.2 Δ)")
    return body["data"]


def refusal(ctx: CheckContext, reply: Reply, what: str) -> int:
    """The code of a refusal: an envelope with code not 0/200, HTTP below 500."""
    ctx.expect(
        reply.status < 500, f"{what}: HTTP {reply.status}, a server error rather than a refusal"
    )
    body = envelope(ctx, reply, what)
    code = int(body["code"])
    ctx.expect(
        code not in SUCCESS_CODES,
        f"{what}: accepted (code {code}, HTTP {reply.status}); it must be refused",
    )
    return code


def require_scheme(ctx: CheckContext) -> None:
    """Checks that forge or alter a signature need to know the canonical string."""
    if ctx.target.signature_scheme != SCHEME:
        ctx.not_applicable(
            "BFIA defines no canonical string for x-auth-sign (§8.1) and the target uses "
            f"{ctx.target.signature_scheme!r}: the kit can sign only {SCHEME!r}"
        )


def contract_id(ctx: CheckContext) -> str:
    """The run's approved contract between kit and target."""
    value = ctx.state.get("contract_id") or ctx.target.contract_id
    if not value:
        ctx.not_applicable("no approved contract between the kit and the target")
    return str(value)


def sign(
    ctx: CheckContext,
    method: str,
    path: str,
    *,
    query: str = "",
    body: bytes = b"",
    identity: NodeIdentity | None = None,
    target_node_id: str | None = None,
    ptp_headers: Mapping[str, str] | None = None,
    **options: Any,
) -> dict[str, str]:
    """Signed headers built by hand (for replays, forgeries, other spellings); the
    signature is registered as a secret so that no evidence shows it."""
    signed = sign_request(
        identity or ctx.kit.identity,
        method=method,
        path=path,
        query=query,
        target_node_id=target_node_id or ctx.target.node_id,
        body=body,
        ptp_headers=ptp_headers,
        **options,
    )
    ctx.http.secret(signed[h.AUTH_SIGN])
    return signed


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def throw_away_apply(ctx: CheckContext, who: NodeIdentity, name: str) -> dict[str, Any]:
    """``node/contract/apply`` (digest §1.4) for ``who``, a throw-away identity of the
    kit (never the run's own: ``setup.apply_body``), at the kit's listener."""
    key = who.private_key
    return {
        "node_id": who.node_id,
        "name": name,
        "inst_id": who.inst_id,
        "institution": "conformance",
        "address": ctx.kit.listener_address or "http://127.0.0.1:9",
        "system": "isthmus-conformance",
        "system_version": "1",
        "auth_type": key.auth_type,
        "auth_credential": key.public_key().to_pem(),
    }
