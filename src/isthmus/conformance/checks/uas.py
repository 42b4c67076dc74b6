"""UAS endpoint checks (digest §6): ``POST /v1/interconn/tee/uas/verify`` answers in the
UAS's own shape ``{result_code, result_msg, attestation_result}``, refuses a body that
is not a request (the spec's 400) and a caller whose access key it does not know
(HTTP 4xx, non-zero ``result_code``), and does not verify anything for them. The kit has
no access key of the target's UAS, so a successful verification is out of its reach;
these checks are read-only.
"""

from __future__ import annotations

import json

from isthmus.conformance.context import CheckContext
from isthmus.conformance.model import Part
from isthmus.conformance.recording import Reply
from isthmus.conformance.registry import check
from isthmus.wire import paths

#: A UAR of the digest's shape; its content is never reached without a valid key.
UAR = {
    "str_report_version": "1.0",
    "str_report_type": "Passport",
    "str_tee_platform": "SGX_DCAP",
    "json_report": "{}",
}


def _refused(ctx: CheckContext, reply: Reply, what: str) -> str:
    ctx.expect(
        reply.status != 404 or (isinstance(reply.json, dict) and "result_code" in reply.json),
        f"{what}: HTTP 404, the target serves no UAS endpoint",
    )
    ctx.expect(400 <= reply.status < 500, f"{what}: HTTP {reply.status}, not a refusal (4xx)")
    body = reply.json
    ctx.expect(
        isinstance(body, dict) and "result_code" in body and "result_msg" in body,
        f"{what}: not the UAS shape {{result_code, result_msg}} (§6)",
    )
    assert isinstance(body, dict)
    code = str(body["result_code"])
    ctx.expect(code not in ("0", ""), f"{what}: result_code {code}: accepted")
    ctx.expect(not body.get("attestation_result"), f"{what}: an attestation_result came back")
    return code


@check(
    "uas.unknown-key",
    title="An unknown access key is refused in the UAS shape",
    part=Part.UAS,
    section="§6",
    plan=(
        f"POST {paths.TEE_UAS_VERIFY} {{access_key: <unknown>, access_secret, nonce, "
        "report: a UAR}}",
        "expect HTTP 4xx, {result_code != 0, result_msg}, no result",
    ),
)
async def unknown_key(ctx: CheckContext) -> None:
    secret = ctx.http.secret(ctx.ids.new("secret"))
    body = {
        "biz_id": ctx.ids.new("biz"),
        "access_key": ctx.ids.new("key"),
        "access_secret": secret,
        "nonce": "00" * 16,
        "report": UAR,
    }
    reply = await ctx.http.raw(
        "POST",
        paths.TEE_UAS_VERIFY,
        content=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        label="verify",
    )
    code = _refused(ctx, reply, "an unknown access key")
    if reply.status not in (400, 405):
        ctx.note(f"(HTTP {reply.status}: the digest lists 200, 400 and 405 only)")
    ctx.note(f"unknown key: HTTP {reply.status}, result_code {code}")


@check(
    "uas.malformed",
    title="A body that is not a request is refused with 400",
    part=Part.UAS,
    section="§6",
    plan=(
        f"POST {paths.TEE_UAS_VERIFY} with the JSON body [1, 2]",
        "expect HTTP 400, {result_code != 0, result_msg}",
    ),
)
async def malformed(ctx: CheckContext) -> None:
    reply = await ctx.http.raw(
        "POST",
        paths.TEE_UAS_VERIFY,
        content=b"[1, 2]",
        headers={"content-type": "application/json"},
        label="verify",
    )
    code = _refused(ctx, reply, "a body that is not an object")
    ctx.expect(
        reply.status == 400,
        f"a malformed request: HTTP {reply.status}, the spec's is 400 (invalid)",
    )
    ctx.note(f"malformed: HTTP 400, result_code {code}")
