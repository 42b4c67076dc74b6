"""The Simulated platform end to end: generated, verified only against a configured
vendor key, judged like real collateral, refused by any policy that does not name it."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.crypto.suites import generate_private_key
from isthmus.tee.binding import report_data
from isthmus.tee.simulated import SimulatedDevice
from isthmus.tee.verdict import VerifyContext
from isthmus.tee.verify import attest, verify_report
from isthmus.wire.errors import TeeMalformed, TeeRefused
from isthmus.wire.tee import (
    ReportType,
    SimulatedReport,
    TeeReason,
    UnifiedAttestationAttributes,
    UnifiedAttestationPolicy,
    UnifiedAttestationReport,
    parse_json_field,
    to_json,
)

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
VENDOR = generate_private_key("ED25519")
NODE_KEY = generate_private_key("ED25519")
SIMULATED_ONLY = UnifiedAttestationPolicy(
    main_attributes=[UnifiedAttestationAttributes(str_tee_platform="Simulated")]
)


def make_report(
    device: SimulatedDevice | None = None, *, nonce: bytes = b""
) -> UnifiedAttestationReport:
    device = device or SimulatedDevice(VENDOR, clock=lambda: T0, valid_for=timedelta(days=1))
    data = report_data(public_key_pem=NODE_KEY.public_key().to_pem(), nonce=nonce)
    evidence, _ = device.evidence(data)
    return UnifiedAttestationReport(
        str_report_type=ReportType.PASSPORT,
        str_tee_platform="Simulated",
        json_report=evidence.decode(),
    )


def context(at: datetime = T0 + timedelta(hours=1), **kwargs: object) -> VerifyContext:
    return VerifyContext(at=at, simulated_vendor_keys=(VENDOR.public_key(),), **kwargs)  # type: ignore[arg-type]


def test_a_simulated_report_verifies_and_passes_a_policy_that_names_it() -> None:
    report = make_report(nonce=b"n" * 8)
    verified = attest(
        report,
        SIMULATED_ONLY,
        context(),
        public_key_pem=NODE_KEY.public_key().to_pem(),
        nonce_hex=(b"n" * 8).hex(),
    )
    assert verified.platform == "Simulated"
    assert verified.attributes.bool_debug_disabled == "true"
    assert verified.valid_until == T0 + timedelta(days=1)


def test_refused_without_a_configured_vendor_key() -> None:
    with pytest.raises(TeeRefused) as info:
        verify_report(make_report(), VerifyContext(at=T0))
    assert info.value.reason == TeeReason.SIMULATED_NOT_ALLOWED


def test_refused_by_a_policy_that_does_not_name_it() -> None:
    for policy in (
        UnifiedAttestationPolicy(),
        UnifiedAttestationPolicy(
            main_attributes=[UnifiedAttestationAttributes(str_tee_platform="TDX")]
        ),
    ):
        with pytest.raises(TeeRefused) as info:
            attest(make_report(), policy, context())
        assert info.value.reason == TeeReason.SIMULATED_NOT_ALLOWED


def test_an_unknown_vendor_key_is_refused() -> None:
    other = VerifyContext(at=T0, simulated_vendor_keys=(generate_private_key().public_key(),))
    with pytest.raises(TeeRefused) as info:
        verify_report(make_report(), other)
    assert info.value.reason == TeeReason.SIGNATURE_INVALID


def test_expired_claims_are_collateral_expired() -> None:
    with pytest.raises(TeeRefused) as info:
        verify_report(make_report(), context(at=T0 + timedelta(days=1, seconds=1)))
    assert info.value.reason == TeeReason.COLLATERAL_EXPIRED
    with pytest.raises(TeeRefused) as info:
        verify_report(make_report(), context(at=T0 - timedelta(seconds=1)))
    assert info.value.reason == TeeReason.COLLATERAL_NOT_YET_VALID


@pytest.mark.parametrize(
    ("status", "reason"),
    [("OutOfDate", TeeReason.TCB_OUT_OF_DATE), ("Revoked", TeeReason.TCB_REVOKED)],
)
def test_a_tcb_status_outside_the_accepted_set_is_refused(status: str, reason: TeeReason) -> None:
    device = SimulatedDevice(VENDOR, tcb_status=status, clock=lambda: T0)
    with pytest.raises(TeeRefused) as info:
        verify_report(make_report(device), context())
    assert info.value.reason == reason


def test_a_debug_device_fails_a_policy_that_forbids_debug() -> None:
    device = SimulatedDevice(VENDOR, debug=True, clock=lambda: T0)
    policy = UnifiedAttestationPolicy(
        main_attributes=[
            UnifiedAttestationAttributes(str_tee_platform="Simulated", bool_debug_disabled="true")
        ]
    )
    with pytest.raises(TeeRefused) as info:
        attest(make_report(device), policy, context())
    assert info.value.reason == TeeReason.DEBUG_ENCLAVE
    assert info.value.details["attribute"] == "bool_debug_disabled"
    assert (info.value.details["expected"], info.value.details["actual"]) == ("true", "false")


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_flipping_any_byte_of_claims_or_signature_is_refused(data: st.DataObject) -> None:
    report = make_report()
    body = parse_json_field(SimulatedReport, "json_report", report.json_report)
    claims = bytearray(body.json_claims.encode())
    signature = bytearray(base64.b64decode(body.b64_signature))
    target = data.draw(st.sampled_from(["claims", "signature"]))
    buffer = claims if target == "claims" else signature
    index = data.draw(st.integers(0, len(buffer) - 1))
    buffer[index] ^= data.draw(st.integers(1, 255))
    try:
        flipped = SimulatedReport(
            json_claims=claims.decode("utf-8", "replace"),
            b64_signature=base64.b64encode(bytes(signature)).decode(),
        )
    except TeeMalformed:
        return
    tampered = report.model_copy(update={"json_report": to_json(flipped)})
    with pytest.raises((TeeRefused, TeeMalformed)):
        attest(tampered, SIMULATED_ONLY, context())


def test_claims_are_the_documented_json() -> None:
    body = parse_json_field(SimulatedReport, "json_report", make_report().json_report)
    claims = json.loads(body.json_claims)
    assert set(claims) == {"attributes", "tcb_status", "valid_until", "issued_at"}
