"""``Uas`` reports: a unified attestation service's signed verdict about someone else's
evidence (digest §6). ``json_report`` is ``UasReport{str_uas_result, b64_signature}``,
``str_uas_result`` the compact JSON of a ``UasAttestationResult`` and the signature the
UAS key's over its exact UTF-8 bytes.

**The guarantee:** ``verify_uas`` passes only a result signed by a key in
``VerifyContext.uas_keys`` (none configured: ``chain_untrusted``) whose result code is
"0" (else ``uas_refused``); the verdict's platform and attributes are the ones the UAS
signed, so a policy judges the original evidence's attributes, not the UAS itself.
"""

from __future__ import annotations

from isthmus.crypto.suites import PrivateKey
from isthmus.tee.verdict import Verified, VerifyContext, check_signed_text, sign_text
from isthmus.wire.errors import TeeMalformed, TeeRefused
from isthmus.wire.tee import (
    ReportType,
    TeePlatform,
    TeeReason,
    UasAttestationResult,
    UasReport,
    UnifiedAttestationAttributes,
    UnifiedAttestationReport,
    b64_bytes,
    parse_body,
    parse_json_field,
    to_json,
)


def sign_uas_result(result: UasAttestationResult, key: PrivateKey) -> UnifiedAttestationReport:
    text = to_json(result)
    body = UasReport(str_uas_result=text, b64_signature=sign_text(text, key))
    return UnifiedAttestationReport(
        str_report_type=ReportType.UAS,
        str_tee_platform=TeePlatform.UAS,
        json_report=to_json(body),
    )


def verify_uas(report: UnifiedAttestationReport, context: VerifyContext) -> Verified:
    body = parse_body(report)
    if not isinstance(body, UasReport):
        raise TeeMalformed("json_report: not a Uas report body", details={"key": "json_report"})
    if not context.uas_keys:
        raise TeeRefused(
            "a Uas report needs a trusted UAS key, and none is configured",
            reason=TeeReason.CHAIN_UNTRUSTED,
        )
    check_signed_text(
        body.str_uas_result,
        body.b64_signature,
        context.uas_keys,
        refusal="the Uas result is not signed by a trusted UAS key",
    )
    result = parse_json_field(UasAttestationResult, "str_uas_result", body.str_uas_result)
    if result.int64_result_code != "0":
        raise TeeRefused(
            f"the UAS refused the evidence (result code {result.int64_result_code})",
            reason=TeeReason.UAS_REFUSED,
            details={"result_code": result.int64_result_code},
        )
    attributes = (
        parse_json_field(UnifiedAttestationAttributes, "json_attributes", result.json_attributes)
        if result.json_attributes
        else UnifiedAttestationAttributes()
    )
    attributes = attributes.model_copy(update={"str_tee_platform": result.str_tee_platform})
    evidence = b64_bytes("b64_quote", result.b64_quote)
    return Verified(
        platform=result.str_tee_platform,
        attributes=attributes,
        tcb_status="UpToDate",  # the UAS judged the TCB before it answered "0"
        evidence=evidence,
    )
