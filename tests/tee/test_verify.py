"""The entry points: dispatch by platform and version, the UAI verify call's codes, and
the guarantee that nothing but ``TeeMalformed``/``TeeRefused`` escapes for any input."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.crypto.suites import generate_private_key
from isthmus.tee.platforms import PLATFORMS
from isthmus.tee.simulated import SimulatedDevice
from isthmus.tee.uai import unified_attestation_generate_report
from isthmus.tee.verdict import VerifyContext, check_window
from isthmus.tee.verify import unified_attestation_verify_report, verify_report
from isthmus.wire.errors import ErrorCode, TeeMalformed, TeeRefused
from isthmus.wire.tee import (
    ReportType,
    TeeReason,
    UnifiedAttestationReport,
    parse_uar,
    uar_json,
)

AT = datetime(2026, 1, 1, tzinfo=UTC)
VENDOR = generate_private_key("ED25519")
CONTEXT = VerifyContext(at=AT, simulated_vendor_keys=(VENDOR.public_key(),))
SIM_POLICY = '{"main_attributes":[{"str_tee_platform":"Simulated"}]}'


def simulated() -> UnifiedAttestationReport:
    return unified_attestation_generate_report(
        "", "Passport", device=SimulatedDevice(VENDOR, clock=lambda: AT)
    )


def test_the_registry_has_simulated_uas_and_epid() -> None:
    assert {"Simulated", "Uas", "SGX_EPID"} <= set(PLATFORMS)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"str_report_version": "2.0"}, TeeReason.UNSUPPORTED_VERSION),
        ({"str_tee_platform": "Quantum"}, TeeReason.UNSUPPORTED_PLATFORM),
        ({"str_tee_platform": "SGX_EPID"}, TeeReason.UNVERIFIABLE_OFFLINE),
    ],
)
def test_dispatch_refusals(changes: dict[str, str], reason: TeeReason) -> None:
    with pytest.raises(TeeRefused) as info:
        verify_report(simulated().model_copy(update=changes), CONTEXT)
    assert info.value.reason == reason
    assert info.value.details["reason"] == reason


def test_the_uai_verify_call_answers_codes() -> None:
    text = uar_json(simulated())
    assert unified_attestation_verify_report(text, SIM_POLICY, context=CONTEXT) == 0
    assert unified_attestation_verify_report(text, "{}", context=CONTEXT) == ErrorCode.TEE_REFUSED
    assert unified_attestation_verify_report("{", SIM_POLICY, context=CONTEXT) == (
        ErrorCode.TEE_MALFORMED
    )
    assert unified_attestation_verify_report(text, '{"x": 1}', context=CONTEXT) == (
        ErrorCode.TEE_MALFORMED
    )


def test_nested_reports_are_carried_to_the_verdict() -> None:
    nested = '{"json_nested_results":"{}","b64_nested_signature":""}'
    verified = verify_report(
        simulated().model_copy(update={"json_nested_reports": nested}), CONTEXT
    )
    assert verified.nested is not None
    with pytest.raises(TeeMalformed) as info:
        verify_report(simulated().model_copy(update={"json_nested_reports": "{}"}), CONTEXT)
    assert info.value.details["key"] == "json_nested_results"


def test_a_verifier_crash_becomes_a_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(report: UnifiedAttestationReport, context: VerifyContext) -> Any:
        raise IndexError("bug")

    import isthmus.tee.verify as verify_module

    monkeypatch.setattr(verify_module, "PLATFORMS", {"Simulated": broken})
    with pytest.raises(TeeMalformed):
        verify_report(simulated(), CONTEXT)


def test_context_time_must_carry_a_zone() -> None:
    with pytest.raises(ValueError):
        VerifyContext(at=datetime(2026, 1, 1))


def test_check_window_names_both_bounds() -> None:
    late = datetime(2025, 1, 1, tzinfo=UTC)
    with pytest.raises(TeeRefused) as info:
        check_window(
            "TCB info",
            AT,
            None,
            late,
            early=TeeReason.COLLATERAL_NOT_YET_VALID,
            late=TeeReason.COLLATERAL_EXPIRED,
        )
    assert info.value.reason == TeeReason.COLLATERAL_EXPIRED
    assert info.value.details["not_after"] == late.isoformat()
    check_window("x", AT, AT, AT, early=TeeReason.CERT_NOT_YET_VALID, late=TeeReason.CERT_EXPIRED)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=10,
)
platform_names = st.sampled_from([*PLATFORMS, "SGX_DCAP", "TDX", "SEV_SNP", "CSV", "x"])


@settings(max_examples=120, deadline=None)
@given(
    platform=platform_names,
    body=json_values,
    nested=st.one_of(st.just(""), json_values.map(json.dumps)),
    kind=st.sampled_from(list(ReportType)),
)
def test_random_reports_never_escape_or_pass(
    platform: str, body: Any, nested: str, kind: ReportType
) -> None:
    document = {
        "str_report_type": kind.value,
        "str_tee_platform": platform,
        "json_report": json.dumps(body),
        "json_nested_reports": nested,
    }
    try:
        report = parse_uar(document)
        verify_report(report, CONTEXT)
    except (TeeMalformed, TeeRefused):
        return
    pytest.fail("random evidence verified")


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_random_simulated_bodies_never_escape(data: st.DataObject) -> None:
    claims = data.draw(json_values.map(json.dumps))
    body = json.dumps({"json_claims": claims, "b64_signature": "AAAA"})
    report = simulated().model_copy(update={"json_report": body})
    with pytest.raises((TeeMalformed, TeeRefused)):
        verify_report(report, CONTEXT)
