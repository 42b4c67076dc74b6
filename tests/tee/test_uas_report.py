"""``Uas`` reports: a UAS's signed verdict verifies only under a trusted UAS key, with
result code 0, and carries the original evidence's platform and attributes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from isthmus.crypto.suites import generate_private_key
from isthmus.tee.uas_report import sign_uas_result
from isthmus.tee.verdict import VerifyContext
from isthmus.tee.verify import attest, verify_report
from isthmus.wire.errors import TeeMalformed, TeeRefused
from isthmus.wire.tee import (
    TeeReason,
    UasAttestationResult,
    UasReport,
    UnifiedAttestationAttributes,
    UnifiedAttestationPolicy,
    parse_json_field,
    parse_uar,
    to_json,
    uar_json,
)

UAS_KEY = generate_private_key("ED25519")
AT = datetime(2026, 1, 1, tzinfo=UTC)
TRUSTED = VerifyContext(at=AT, uas_keys=(UAS_KEY.public_key(),))
ATTRS = UnifiedAttestationAttributes(str_tee_platform="TDX", hex_ta_measurement="AB" * 48)


def result(code: str = "0") -> UasAttestationResult:
    return UasAttestationResult(
        int64_result_code=code,
        str_tee_platform="TDX",
        hex_nonce="0102",
        b64_quote=base64.b64encode(b"quote").decode(),
        json_attributes=to_json(ATTRS),
    )


def test_a_signed_result_verifies_with_the_original_attributes() -> None:
    report = parse_uar(uar_json(sign_uas_result(result(), UAS_KEY)))
    assert (report.str_tee_platform, report.str_report_type) == ("Uas", "Uas")
    verified = attest(
        report,
        UnifiedAttestationPolicy(main_attributes=[ATTRS.model_copy(update={"hex_signer": ""})]),
        TRUSTED,
    )
    assert verified.platform == "TDX"
    assert verified.attributes.hex_ta_measurement == "AB" * 48
    assert verified.evidence == b"quote"


def test_untrusted_or_unconfigured_signers_are_refused() -> None:
    report = sign_uas_result(result(), generate_private_key("ED25519"))
    with pytest.raises(TeeRefused) as info:
        verify_report(report, TRUSTED)
    assert info.value.reason == TeeReason.SIGNATURE_INVALID
    with pytest.raises(TeeRefused) as info:
        verify_report(sign_uas_result(result(), UAS_KEY), VerifyContext(at=AT))
    assert info.value.reason == TeeReason.CHAIN_UNTRUSTED


def test_a_failed_verdict_is_refused() -> None:
    with pytest.raises(TeeRefused) as info:
        verify_report(sign_uas_result(result("20013"), UAS_KEY), TRUSTED)
    assert info.value.reason == TeeReason.UAS_REFUSED


def test_a_changed_result_is_refused() -> None:
    report = sign_uas_result(result(), UAS_KEY)
    body = parse_json_field(UasReport, "json_report", report.json_report)
    forged = body.model_copy(update={"str_uas_result": body.str_uas_result.replace("TDX", "SGX")})
    with pytest.raises(TeeRefused):
        verify_report(report.model_copy(update={"json_report": to_json(forged)}), TRUSTED)
    broken = body.model_copy(update={"b64_signature": "!!"})
    with pytest.raises(TeeMalformed):
        verify_report(report.model_copy(update={"json_report": to_json(broken)}), TRUSTED)
