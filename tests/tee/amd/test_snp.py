"""SEV-SNP verification against AMD's real vectors (../shared/tee-vectors/amd) and
synthetic chains: every outcome the README states, each refusal with its reason."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from isthmus.crypto.der import pem_encode
from isthmus.tee.amd import parse_snp_report, verify_snp, verify_snp_report
from isthmus.tee.verdict import AMD_ARKS, TrustAnchors, Verified, VerifyContext
from isthmus.wire.errors import TeeMalformed, TeeRefused
from isthmus.wire.tee import (
    ReportType,
    SnpReport,
    TeeReason,
    UnifiedAttestationReport,
)
from tests.support.shared import shared_path
from tests.tee.amd import snp_factory as factory

AT = datetime(2025, 1, 1, tzinfo=UTC)  # inside both VCEK windows
ANCHORS = TrustAnchors()
FIXTURES = [HealthCheck.function_scoped_fixture]


def _vector(*parts: str) -> Path:
    return shared_path("tee-vectors", "amd", *parts)


@pytest.fixture(scope="module")
def go_report() -> bytes:
    return _vector("go-sev-guest", "attestation.bin").read_bytes()


@pytest.fixture(scope="module")
def go_vcek() -> bytes:
    return _vector("go-sev-guest", "vcek.testcer").read_bytes()


@pytest.fixture(scope="module")
def virtee_report() -> bytes:
    return binascii.unhexlify(_vector("virtee-sev", "report_milan.hex").read_text().strip())


@pytest.fixture(scope="module")
def virtee_vcek() -> bytes:
    return _vector("virtee-sev", "vcek_milan.der").read_bytes()


@pytest.fixture(scope="module")
def genoa_pem() -> str:
    return _vector("go-sev-guest", "ask_ark_genoa.pem").read_text()


def der_to_pem(data: bytes) -> str:
    return pem_encode("CERTIFICATE", data)


def _refused(reason: TeeReason, call: object, *args: object, **kwargs: object) -> TeeRefused:
    assert callable(call)
    with pytest.raises(TeeRefused) as caught:
        call(*args, **kwargs)
    assert caught.value.reason == reason, caught.value.message
    assert caught.value.details["reason"] == reason
    return caught.value


# --- the real vectors ------------------------------------------------------------------


def test_go_sev_guest_report_verifies_and_says_debug_is_allowed(
    go_report: bytes, go_vcek: bytes
) -> None:
    verified = verify_snp_report(go_report, go_vcek, at=AT, anchors=ANCHORS)
    attributes = verified.attributes
    assert verified.platform == "SEV_SNP"
    assert verified.tcb_status == "UpToDate"
    assert verified.valid_until == datetime(2029, 9, 24, 0, 55, 28, tzinfo=UTC)
    assert verified.evidence == go_report and verified.unverified == ()
    assert attributes.str_tee_platform == "SEV_SNP"
    assert attributes.hex_secure_flags == "00000000000B0000"
    assert attributes.bool_debug_disabled == "false"  # POLICY bit 19
    assert attributes.hex_ta_measurement.startswith("B07AF962")
    assert attributes.hex_platform_sw_version == "4405000000000002"  # ucode 0x44 .. bl 2
    assert attributes.hex_user_data == "0102030405" + "00" * 27
    assert attributes.hex_nonce == attributes.hex_user_data
    assert attributes.hex_platform_hw_version.startswith("3AC3FE21")


def test_virtee_report_verifies_with_debug_disabled(
    virtee_report: bytes, virtee_vcek: bytes
) -> None:
    verified = verify_snp_report(virtee_report, virtee_vcek, at=AT, anchors=ANCHORS)
    assert verified.attributes.bool_debug_disabled == "true"
    assert verified.attributes.hex_secure_flags == "0000000000030000"
    assert verified.attributes.hex_platform_sw_version == "7308000000000003"
    assert verified.attributes.hex_ta_measurement.startswith("7A1E5C26")
    assert verified.valid_until == datetime(2030, 4, 3, 19, 23, 43, tzinfo=UTC)


def test_a_no_debug_policy_refuses_the_debug_report(go_report: bytes, go_vcek: bytes) -> None:
    from isthmus.tee.verify import check_policy
    from isthmus.wire.tee import parse_policy

    verified = verify_snp_report(go_report, go_vcek, at=AT, anchors=ANCHORS)
    policy = parse_policy(
        {"main_attributes": [{"str_tee_platform": "SEV_SNP", "bool_debug_disabled": "true"}]}
    )
    _refused(TeeReason.DEBUG_ENCLAVE, check_policy, verified, policy)


def test_the_genoa_root_does_not_anchor_a_milan_chain(
    go_report: bytes, go_vcek: bytes, genoa_pem: str
) -> None:
    genoa_only = TrustAnchors(amd_ark_public_keys={"Genoa": AMD_ARKS["Genoa"]})
    error = _refused(
        TeeReason.CHAIN_UNTRUSTED,
        verify_snp_report,
        go_report,
        go_vcek,
        at=AT,
        anchors=genoa_only,
        ask_chain_pem=genoa_pem,
    )
    assert "ARK-Milan" in error.message


def test_the_vcek_of_the_other_report_does_not_fit(
    go_report: bytes, go_vcek: bytes, virtee_report: bytes, virtee_vcek: bytes
) -> None:
    _refused(
        TeeReason.TCB_MISMATCH, verify_snp_report, go_report, virtee_vcek, at=AT, anchors=ANCHORS
    )
    _refused(
        TeeReason.TCB_MISMATCH, verify_snp_report, virtee_report, go_vcek, at=AT, anchors=ANCHORS
    )


@pytest.mark.parametrize(
    ("at", "reason"),
    [
        (datetime(2022, 9, 24, 0, 55, 27, tzinfo=UTC), TeeReason.CERT_NOT_YET_VALID),
        (datetime(2029, 9, 24, 0, 55, 29, tzinfo=UTC), TeeReason.CERT_EXPIRED),
    ],
)
def test_time_outside_the_vcek_window(
    go_report: bytes, go_vcek: bytes, at: datetime, reason: TeeReason
) -> None:
    error = _refused(reason, verify_snp_report, go_report, go_vcek, at=at, anchors=ANCHORS)
    assert error.details["certificate"] == "VCEK"


# --- shape -------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 0x2A0, 0x49F, 0x4A1, 2 * 0x4A0])
def test_wrong_sizes_are_malformed(go_report: bytes, go_vcek: bytes, size: int) -> None:
    data = (go_report * 2)[:size]
    with pytest.raises(TeeMalformed):
        verify_snp_report(data, go_vcek, at=AT, anchors=ANCHORS)


@pytest.mark.parametrize(("offset", "value"), [(0, 1), (0, 4), (0, 99), (0x34, 2)])
def test_unknown_versions_and_algorithms(
    go_report: bytes, go_vcek: bytes, offset: int, value: int
) -> None:
    data = bytearray(go_report)
    data[offset : offset + 4] = value.to_bytes(4, "little")
    _refused(
        TeeReason.UNSUPPORTED_VERSION,
        verify_snp_report,
        bytes(data),
        go_vcek,
        at=AT,
        anchors=ANCHORS,
    )


def _flip_reason(data: bytes, offset: int) -> type[TeeMalformed] | TeeReason:
    if offset < 4 and int.from_bytes(data[:4], "little") in (2, 3, 5):
        return TeeReason.SIGNATURE_INVALID  # another known version: the signature breaks
    if offset < 4 or 0x34 <= offset < 0x38:
        return TeeReason.UNSUPPORTED_VERSION
    if offset - 0x180 in (0, 1, 6, 7) or 0x1A0 <= offset < 0x1E0:
        return TeeReason.TCB_MISMATCH  # the VCEK certifies this TCB and chip
    if offset >= 0x330:
        return TeeMalformed  # reserved, must be zero
    return TeeReason.SIGNATURE_INVALID


@settings(max_examples=60, deadline=None, suppress_health_check=FIXTURES)
@given(offset=st.integers(0, 0x49F), mask=st.integers(1, 255))
def test_any_flipped_byte_is_refused(
    go_report: bytes, go_vcek: bytes, offset: int, mask: int
) -> None:
    data = bytearray(go_report)
    data[offset] ^= mask
    expected = _flip_reason(data, offset)
    if expected is TeeMalformed:
        with pytest.raises(TeeMalformed):
            verify_snp_report(bytes(data), go_vcek, at=AT, anchors=ANCHORS)
        return
    with pytest.raises(TeeRefused) as caught:
        verify_snp_report(bytes(data), go_vcek, at=AT, anchors=ANCHORS)
    assert caught.value.reason == expected, (hex(offset), caught.value.message)


@settings(max_examples=40, deadline=None, suppress_health_check=FIXTURES)
@given(data=st.binary(max_size=1300), vcek=st.binary(max_size=600))
def test_random_bytes_only_ever_refuse(data: bytes, vcek: bytes, go_vcek: bytes) -> None:
    for endorsement in (vcek, go_vcek):
        with pytest.raises((TeeMalformed, TeeRefused)):
            verify_snp_report(data, endorsement, at=AT, anchors=ANCHORS)


@settings(max_examples=30, deadline=None, suppress_health_check=FIXTURES)
@given(offset=st.integers(0, 2000), mask=st.integers(1, 255))
def test_a_flipped_vcek_byte_never_passes_silently(
    go_report: bytes, go_vcek: bytes, offset: int, mask: int
) -> None:
    data = bytearray(go_vcek)
    data[offset % len(data)] ^= mask
    with pytest.raises((TeeMalformed, TeeRefused)):
        verify_snp_report(go_report, bytes(data), at=AT, anchors=ANCHORS)


# --- synthetic chains --------------------------------------------------------------------


@pytest.fixture(scope="module")
def forged() -> factory.SyntheticChain:
    return factory.synthetic_chain()


@pytest.fixture(scope="module")
def vlek() -> factory.SyntheticChain:
    return factory.synthetic_chain(vlek=True)


def test_a_forged_ark_with_amds_name_is_untrusted(forged: factory.SyntheticChain) -> None:
    report = factory.build_report(forged.leaf_key)
    chain = factory.pem(forged.intermediate, forged.ark)
    _refused(
        TeeReason.CHAIN_UNTRUSTED,
        verify_snp_report,
        report,
        factory.der(forged.leaf),
        at=AT,
        anchors=ANCHORS,
        ask_chain_pem=chain,
    )
    # The same chain verifies once its root key is the pinned one: the pin decided.
    pinned = TrustAnchors(amd_ark_public_keys=forged.anchor)
    verified = verify_snp_report(
        report, factory.der(forged.leaf), at=AT, anchors=pinned, ask_chain_pem=chain
    )
    assert verified.attributes.hex_platform_sw_version == "7308000000000003"


def test_a_vlek_chain_under_a_test_anchor(vlek: factory.SyntheticChain) -> None:
    anchors = TrustAnchors(amd_ark_public_keys=vlek.anchor)
    chain = factory.pem(vlek.intermediate, vlek.ark)
    report = factory.build_report(vlek.leaf_key, signing_key=1, chip_id=b"\0" * 64)
    verified = verify_snp_report(
        report, factory.der(vlek.leaf), at=AT, anchors=anchors, ask_chain_pem=chain
    )
    assert verified.platform == "SEV_SNP"
    # A report that claims a VCEK signed it is not endorsed by a VLEK.
    as_vcek = factory.build_report(vlek.leaf_key, signing_key=0)
    _refused(
        TeeReason.SIGNATURE_INVALID,
        verify_snp_report,
        as_vcek,
        factory.der(vlek.leaf),
        at=AT,
        anchors=anchors,
        ask_chain_pem=chain,
    )
    # Without the ASVK the VLEK has no path to the root.
    _refused(
        TeeReason.CHAIN_UNTRUSTED,
        verify_snp_report,
        report,
        factory.der(vlek.leaf),
        at=AT,
        anchors=anchors,
        ask_chain_pem=factory.pem(vlek.ark),
    )


def test_a_vcek_whose_tcb_differs_from_the_report(forged: factory.SyntheticChain) -> None:
    anchors = TrustAnchors(amd_ark_public_keys=forged.anchor)
    chain = factory.pem(forged.intermediate, forged.ark)
    older = factory.build_report(forged.leaf_key, tcb=bytes([3, 0, 0, 0, 0, 0, 7, 0x73]))
    error = _refused(
        TeeReason.TCB_MISMATCH,
        verify_snp_report,
        older,
        factory.der(forged.leaf),
        at=AT,
        anchors=anchors,
        ask_chain_pem=chain,
    )
    assert error.details["extension"] == "1.3.6.1.4.1.3704.1.3.3"
    other_chip = factory.build_report(forged.leaf_key, chip_id=b"\x01" * 64)
    _refused(
        TeeReason.TCB_MISMATCH,
        verify_snp_report,
        other_chip,
        factory.der(forged.leaf),
        at=AT,
        anchors=anchors,
        ask_chain_pem=chain,
    )


# --- through the UAR ---------------------------------------------------------------------


def _uar(
    report: bytes, chain: str = "", kind: ReportType = ReportType.PASSPORT
) -> UnifiedAttestationReport:
    body = SnpReport(b64_quote=base64.b64encode(report).decode(), pem_cert_chain=chain)
    return UnifiedAttestationReport(
        str_report_type=kind, str_tee_platform="SEV_SNP", json_report=body.model_dump_json()
    )


class _Store:
    def __init__(self, vcek: bytes) -> None:
        self.vcek = vcek
        self.asked: list[tuple[bytes, int]] = []

    def intel(self, **_: object) -> None:
        return None

    def amd_endorsement(self, *, chip_id: bytes, reported_tcb: int) -> bytes | None:
        self.asked.append((chip_id, reported_tcb))
        return self.vcek


def test_a_passport_with_only_its_vcek_uses_the_bundled_ask(
    virtee_report: bytes, virtee_vcek: bytes
) -> None:
    vcek_pem = der_to_pem(virtee_vcek)  # serial 0: cryptography would warn loading it
    verified = verify_snp(_uar(virtee_report, vcek_pem), VerifyContext(at=AT))
    assert isinstance(verified, Verified)
    assert verified.attributes.bool_debug_disabled == "true"


def test_background_check_looks_the_vcek_up(virtee_report: bytes, virtee_vcek: bytes) -> None:
    uar = _uar(virtee_report, kind=ReportType.BACKGROUND_CHECK)
    _refused(TeeReason.COLLATERAL_MISSING, verify_snp, uar, VerifyContext(at=AT))
    store = _Store(virtee_vcek)
    verify_snp(uar, VerifyContext(at=AT, collateral=store))  # type: ignore[arg-type]
    parsed = parse_snp_report(virtee_report)
    assert store.asked == [(parsed.chip_id, parsed.reported_tcb)]


def test_a_uar_for_another_platform_is_refused(virtee_report: bytes) -> None:
    uar = _uar(virtee_report).model_copy(update={"str_tee_platform": "TDX"})
    _refused(TeeReason.UNSUPPORTED_PLATFORM, verify_snp, uar, VerifyContext(at=AT))


def test_a_leaf_window_is_checked_on_synthetic_chains() -> None:
    chain = factory.synthetic_chain()
    anchors = TrustAnchors(amd_ark_public_keys=chain.anchor)
    report = factory.build_report(chain.leaf_key)
    late = factory.NOT_AFTER + timedelta(seconds=1)
    _refused(
        TeeReason.CERT_EXPIRED,
        verify_snp_report,
        report,
        factory.der(chain.leaf),
        at=late,
        anchors=anchors,
        ask_chain_pem=factory.pem(chain.intermediate, chain.ark),
    )
