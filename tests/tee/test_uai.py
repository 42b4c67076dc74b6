"""The UAI generation API: reports generated on a device bind the nonce and key;
wrapped evidence of every platform parses back; without a TEE the refusal is clear."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from isthmus.crypto.suites import generate_private_key
from isthmus.tee.binding import public_key_hash
from isthmus.tee.simulated import SimulatedDevice
from isthmus.tee.uai import (
    ReportParams,
    detect_device,
    unified_attestation_generate_report,
    wrap_evidence,
)
from isthmus.tee.verdict import VerifyContext
from isthmus.tee.verify import verify_report
from isthmus.wire.errors import TeeMalformed, TeeRefused
from isthmus.wire.tee import (
    DcapCollateral,
    DcapReport,
    ReportType,
    SnpReport,
    TeeReason,
    parse_body,
    parse_json_field,
    parse_uar,
    uar_json,
)
from tests.support.shared import shared_path

AT = datetime(2026, 1, 1, tzinfo=UTC)
VENDOR = generate_private_key("ED25519")
DEVICE = SimulatedDevice(VENDOR, clock=lambda: AT)
CONTEXT = VerifyContext(at=AT, simulated_vendor_keys=(VENDOR.public_key(),))


def test_generate_binds_nonce_and_key() -> None:
    key = generate_private_key("SM2_SM3").public_key().to_pem()
    report = unified_attestation_generate_report(
        "0", "BackgroundCheck", "0A0B", public_key_pem=key, device=DEVICE
    )
    assert report.str_report_type == ReportType.BACKGROUND_CHECK
    attributes = verify_report(parse_uar(uar_json(report)), CONTEXT).attributes
    assert attributes.hex_nonce == "0A0B" + "00" * 30
    assert attributes.hex_hash_or_pem_pubkey == public_key_hash(key).hex().upper()


def test_generate_uses_user_data_without_a_nonce() -> None:
    params = ReportParams(hex_user_data="ff")
    report = unified_attestation_generate_report("", "Passport", params=params, device=DEVICE)
    assert verify_report(report, CONTEXT).attributes.hex_user_data == "FF" + "00" * 31


@pytest.mark.parametrize(
    ("args", "key"),
    [
        (("", "Other"), "str_report_type"),
        (("", "Uas"), "str_report_type"),
        (("", "Passport", "zz"), "hex_nonce"),
        (("", "Passport", "00" * 33), "hex_nonce"),
    ],
)
def test_bad_inputs_are_refused_before_the_device(args: tuple[str, ...], key: str) -> None:
    with pytest.raises(TeeMalformed) as info:
        unified_attestation_generate_report(*args, device=DEVICE)  # type: ignore[arg-type]
    assert info.value.details["key"] == key


def test_nested_report_parameter_is_checked_and_carried() -> None:
    nested = '{"json_nested_results":"{}","b64_nested_signature":""}'
    report = unified_attestation_generate_report(
        "", "Passport", params=ReportParams(json_nested_report=nested), device=DEVICE
    )
    assert report.json_nested_reports == nested
    with pytest.raises(TeeMalformed):
        unified_attestation_generate_report(
            "", "Passport", params=ReportParams(json_nested_report="{}"), device=DEVICE
        )


def test_detect_device_without_a_tee_is_a_clear_refusal() -> None:
    try:
        device = detect_device()
    except TeeRefused as exc:
        assert exc.reason == TeeReason.UNSUPPORTED_PLATFORM
    else:  # pragma: no cover - only on TEE hardware
        assert device.platform


def test_wrap_dcap_quote_with_and_without_collateral() -> None:
    quote = shared_path("tee-vectors", "intel", "dcap-qvl", "tdx_quote").read_bytes()
    bare = wrap_evidence("TDX", quote)
    assert bare.str_report_type == ReportType.BACKGROUND_CHECK
    body = parse_body(bare)
    assert isinstance(body, DcapReport)
    assert base64.b64decode(body.b64_quote) == quote
    collateral = DcapCollateral(
        pem_pck_crl_issuer_chain="",
        str_root_ca_crl="00",
        str_pck_crl="00",
        pem_tcb_info_issuer_chain="",
        str_tcb_info="{}",
        pem_qe_identity_issuer_chain="",
        str_qe_identity="{}",
    )
    passport = wrap_evidence("TDX", quote, collateral=collateral)
    assert passport.str_report_type == ReportType.PASSPORT
    inner = parse_body(passport)
    assert isinstance(inner, DcapReport)
    assert parse_json_field(DcapCollateral, "json_collateral", inner.json_collateral) == collateral


def test_wrap_snp_report_accepts_hex_text() -> None:
    text = shared_path("tee-vectors", "amd", "virtee-sev", "report_milan.hex").read_bytes()
    report = wrap_evidence("SEV_SNP", text)
    body = parse_body(report)
    assert isinstance(body, SnpReport)
    assert base64.b64decode(body.b64_quote) == bytes.fromhex(text.decode())


@pytest.mark.parametrize("platform", ["CSV", "HyperEnclave", "Kunpeng", "SGX_EPID"])
def test_wrap_other_quotes(platform: str) -> None:
    report = wrap_evidence(platform, b"\x01\x02")
    assert parse_uar(uar_json(report)) == report
    assert report.str_report_type == ReportType.BACKGROUND_CHECK


def test_wrap_unknown_platform_is_refused() -> None:
    with pytest.raises(TeeRefused) as info:
        wrap_evidence("Uas", b"x")
    assert info.value.reason == TeeReason.UNSUPPORTED_PLATFORM
