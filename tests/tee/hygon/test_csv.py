"""Hygon CSV verification on synthetic evidence (no public vectors exist): the SM2 chain
HSK -> CEK -> PEK -> report, the HMAC over PEK and CHIP_ID, the optional HRK anchor, and
the policy's refusal of whatever stayed unverified."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from isthmus.tee.hygon import parse_csv_report, verify_csv, verify_csv_report
from isthmus.tee.hygon.verifier import UNVERIFIED_HRK
from isthmus.tee.verdict import TrustAnchors, VerifyContext
from isthmus.tee.verify import check_policy
from isthmus.wire.errors import TeeMalformed, TeeRefused
from isthmus.wire.tee import (
    HygonCsvReport,
    ReportType,
    TeeReason,
    UnifiedAttestationReport,
    parse_policy,
)
from tests.tee.hygon import csv_factory as factory

AT = datetime(2025, 1, 1, tzinfo=UTC)
FIXTURES = [HealthCheck.function_scoped_fixture]


@pytest.fixture(scope="module")
def good() -> factory.CsvEvidence:
    return factory.evidence()


def _anchored(evidence: factory.CsvEvidence) -> TrustAnchors:
    return TrustAnchors(hygon_hrk_public_keys=(evidence.hrk.anchor,))


def _verify(evidence: factory.CsvEvidence, report: bytes | None = None, **kwargs: object):  # type: ignore[no-untyped-def]
    return verify_csv_report(
        evidence.report if report is None else report,
        evidence.hsk,
        evidence.cek,
        anchors=kwargs.pop("anchors", _anchored(evidence)),  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


def _reason(call: object, *args: object, **kwargs: object) -> TeeReason:
    assert callable(call)
    with pytest.raises(TeeRefused) as caught:
        call(*args, **kwargs)
    return caught.value.reason


def test_synthetic_evidence_verifies_under_its_hrk(good: factory.CsvEvidence) -> None:
    verified = _verify(good)
    attributes = verified.attributes
    assert verified.platform == "CSV" and verified.unverified == ()
    assert verified.tcb_status == "Unknown"
    assert attributes.hex_boot_measurement == "33" * 32
    assert attributes.hex_user_data == "11" * 32 and attributes.hex_nonce == "11" * 32
    assert attributes.hex_hash_or_pem_pubkey == "22" * 32
    assert attributes.hex_prod_id == "0A" * 16
    assert attributes.hex_platform_sw_version == "0B" * 16
    assert attributes.hex_secure_flags == "01000000"
    assert attributes.bool_debug_disabled == "true"
    policy = parse_policy({"main_attributes": [{"str_tee_platform": "CSV"}]})
    check_policy(verified, policy)


def test_the_mask_is_removed_before_the_fields_are_read(good: factory.CsvEvidence) -> None:
    parsed = parse_csv_report(good.report)
    assert parsed.anonce == 0xA5C3_0F11
    assert parsed.measure == b"\x33" * 32 and parsed.raw[144:176] != parsed.measure
    assert parsed.chip_id.startswith(b"CSV-TEST-CHIP-0001")


def test_without_an_hrk_the_verdict_is_unverified_and_no_policy_passes(
    good: factory.CsvEvidence,
) -> None:
    verified = _verify(good, anchors=TrustAnchors())
    assert verified.unverified == (UNVERIFIED_HRK,)
    policy = parse_policy({"main_attributes": [{"str_tee_platform": "CSV"}]})
    assert _reason(check_policy, verified, policy) == TeeReason.UNVERIFIABLE_OFFLINE


def test_another_hrk_is_untrusted(good: factory.CsvEvidence) -> None:
    other = TrustAnchors(hygon_hrk_public_keys=(factory.new_key(factory.HRK_UID).anchor,))
    assert _reason(_verify, good, anchors=other) == TeeReason.CHAIN_UNTRUSTED


def test_a_debug_policy_bit_is_reported(good: factory.CsvEvidence) -> None:
    debug = factory.evidence(factory.Fields(policy=0))
    assert _verify(debug).attributes.bool_debug_disabled == "false"


def test_a_chain_signed_by_the_wrong_keys_is_untrusted(good: factory.CsvEvidence) -> None:
    stranger = factory.new_key(b"HSK")
    cek_by_stranger = factory.csv_cert(good.keys["cek"], stranger, usage=0x1004, signer_usage=0x13)
    with pytest.raises(TeeRefused) as caught:
        verify_csv_report(good.report, good.hsk, cek_by_stranger, anchors=_anchored(good))
    assert caught.value.reason == TeeReason.CHAIN_UNTRUSTED
    # A PEK certified by another CEK, in a report sealed and signed correctly otherwise.
    other_cek = factory.new_key(b"CEK")
    pek_cert = factory.csv_cert(good.keys["pek"], other_cek, usage=0x1002, signer_usage=0x1004)
    report = factory.report(good.keys["pek"], pek_cert)
    assert _reason(_verify, good, report) == TeeReason.CHAIN_UNTRUSTED
    # A report signed by a key other than the certified PEK.
    forged = factory.report(
        factory.new_key(b"PEK"),
        factory.csv_cert(good.keys["pek"], good.keys["cek"], usage=0x1002, signer_usage=0x1004),
    )
    assert _reason(_verify, good, forged) == TeeReason.SIGNATURE_INVALID


def test_wrong_key_usages_are_untrusted(good: factory.CsvEvidence) -> None:
    hsk = factory.hsk_cert(good.keys["hsk"], good.hrk, usage=0x14)
    with pytest.raises(TeeRefused) as caught:
        verify_csv_report(good.report, hsk, good.cek, anchors=_anchored(good))
    assert caught.value.reason == TeeReason.CHAIN_UNTRUSTED
    cek_as_pek = factory.csv_cert(
        good.keys["cek"], good.keys["hsk"], usage=0x1002, signer_usage=0x13
    )
    with pytest.raises(TeeRefused):
        verify_csv_report(good.report, good.hsk, cek_as_pek, anchors=_anchored(good))


@pytest.mark.parametrize("size", [0, 180, 2548, 4095, 4097])
def test_wrong_report_sizes_are_malformed(good: factory.CsvEvidence, size: int) -> None:
    with pytest.raises(TeeMalformed):
        _verify(good, (good.report * 2)[:size])


@pytest.mark.parametrize(
    ("hsk_size", "cek_size"), [(0, 2084), (831, 2084), (833, 2084), (832, 2083), (832, 2085)]
)
def test_wrong_certificate_sizes_are_malformed(
    good: factory.CsvEvidence, hsk_size: int, cek_size: int
) -> None:
    hsk, cek = (good.hsk + b"\0")[:hsk_size], (good.cek + b"\0")[:cek_size]
    with pytest.raises(TeeMalformed):
        verify_csv_report(good.report, hsk, cek, anchors=_anchored(good))


def _flip_offsets() -> st.SearchStrategy[int]:
    # Signed bytes, anonce, signature, and PEK + CHIP_ID + reserved + HMAC; bytes 180-187
    # (signature usage and algorithm) and the page padding after 2548 are neither signed
    # nor sealed by the format (see docs/protocol.md §19.7).
    return st.one_of(st.integers(0, 179), st.integers(188, 2547))


@settings(max_examples=25, deadline=None, suppress_health_check=FIXTURES)
@given(offset=_flip_offsets(), mask=st.integers(1, 255))
def test_any_flipped_byte_is_refused(good: factory.CsvEvidence, offset: int, mask: int) -> None:
    data = bytearray(good.report)
    data[offset] ^= mask
    with pytest.raises((TeeRefused, TeeMalformed)) as caught:
        _verify(good, bytes(data))
    if isinstance(caught.value, TeeRefused):
        assert caught.value.reason == TeeReason.SIGNATURE_INVALID, (offset, caught.value.message)
    else:
        assert 192 <= offset < 336  # a nonzero unused tail of r or s


@settings(max_examples=15, deadline=None, suppress_health_check=FIXTURES)
@given(offset=st.integers(0, 1043), mask=st.integers(1, 255), which=st.sampled_from("hc"))
def test_flipped_certificate_bytes_are_refused(
    good: factory.CsvEvidence, offset: int, mask: int, which: str
) -> None:
    hsk, cek = bytearray(good.hsk), bytearray(good.cek)
    target = hsk if which == "h" else cek
    target[offset % (576 if which == "h" else 1044)] ^= mask
    with pytest.raises((TeeRefused, TeeMalformed)):
        verify_csv_report(good.report, bytes(hsk), bytes(cek), anchors=_anchored(good))


@settings(max_examples=25, deadline=None)
@given(quote=st.binary(max_size=4200), hsk=st.binary(max_size=900), cek=st.binary(max_size=2100))
def test_random_bytes_only_ever_refuse(quote: bytes, hsk: bytes, cek: bytes) -> None:
    with pytest.raises((TeeRefused, TeeMalformed)):
        verify_csv_report(quote, hsk, cek, anchors=TrustAnchors())


# --- through the UAR ---------------------------------------------------------------------


def _uar(
    evidence: factory.CsvEvidence, *, chain: bool = True, chip_id: str = ""
) -> UnifiedAttestationReport:
    certs = json.dumps(
        {
            "b64_hsk_cert": base64.b64encode(evidence.hsk).decode(),
            "b64_cek_cert": base64.b64encode(evidence.cek).decode(),
        }
    )
    body = HygonCsvReport(
        b64_quote=base64.b64encode(evidence.report).decode(),
        json_cert_chain=certs if chain else "",
        str_chip_id=chip_id,
    )
    return UnifiedAttestationReport(
        str_report_type=ReportType.PASSPORT,
        str_tee_platform="CSV",
        json_report=body.model_dump_json(),
    )


def test_the_uar_form(good: factory.CsvEvidence) -> None:
    context = VerifyContext(at=AT, anchors=_anchored(good))
    verified = verify_csv(_uar(good, chip_id=good.chip_id), context)
    assert verified.unverified == ()
    assert _reason(verify_csv, _uar(good, chain=False), context) == TeeReason.COLLATERAL_MISSING
    assert (
        _reason(verify_csv, _uar(good, chip_id="ANOTHER-CHIP"), context)
        == TeeReason.COLLATERAL_MISMATCH
    )
    tdx = _uar(good).model_copy(update={"str_tee_platform": "TDX"})
    assert _reason(verify_csv, tdx, context) == TeeReason.UNSUPPORTED_PLATFORM
