"""HyperEnclave and Kunpeng: there are no public test vectors for either, so these tests
build synthetic bodies in the layouts UAL reads. What can be checked offline is checked
(lengths, offsets, HyperEnclave's enclave signature); what cannot is listed in
``Verified.unverified``, and every policy refuses such a verdict (unverifiable_offline)."""

from __future__ import annotations

import base64
import contextlib
import struct
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.crypto import sm2
from isthmus.tee import hyperenclave, kunpeng
from isthmus.tee.policy import check_policy
from isthmus.tee.verdict import VerifyContext
from isthmus.tee.verify import verify_report
from isthmus.wire.errors import TeeMalformed, TeeRefused
from isthmus.wire.tee import (
    HyperEnclaveReport,
    KunpengReport,
    TeeReason,
    UnifiedAttestationAttributes,
    UnifiedAttestationPolicy,
    UnifiedAttestationReport,
    to_json,
)

CONTEXT = VerifyContext(at=datetime(2026, 1, 1, tzinfo=UTC))
REPORT_DATA = b"\x5a" * 32 + b"\xa5" * 32
SM2_KEY = sm2.generate_private_scalar()


def _report_body(*, debug: bool = False) -> bytes:
    body = bytearray(384)
    body[48] = 0x05 | (0x02 if debug else 0)  # ATTRIBUTES.flags: INIT, MODE64, DEBUG?
    body[64:96] = b"\x11" * 32  # MRENCLAVE
    body[128:160] = b"\x22" * 32  # MRSIGNER
    body[256:258] = struct.pack("<H", 7)  # ISVPRODID
    body[258:260] = struct.pack("<H", 3)  # ISVSVN
    body[320:384] = REPORT_DATA
    return bytes(body)


def hyperenclave_quote(*, debug: bool = False, cert: bytes = b"\x30" * 200) -> bytes:
    body = _report_body(debug=debug)
    r, s = sm2.decode_signature(sm2.sign(SM2_KEY, body, ident=hyperenclave.USER_ID))
    key = sm2.public_point(SM2_KEY).encode()[1:]
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big") + key
    signature += bytes(147) + bytes(64) + cert
    header = struct.pack("<HH", 3, 2) + bytes(12) + b"\x33" * 16 + bytes(16)
    return header + body + struct.pack("<I", len(signature)) + signature


def _uar(platform: str, body: HyperEnclaveReport | KunpengReport) -> UnifiedAttestationReport:
    return UnifiedAttestationReport(
        str_report_type="BackgroundCheck", str_tee_platform=platform, json_report=to_json(body)
    )


def _he(quote: bytes) -> UnifiedAttestationReport:
    return _uar("HyperEnclave", HyperEnclaveReport(b64_quote=base64.b64encode(quote).decode()))


def test_hyperenclave_parses_checks_and_lists_the_rest() -> None:
    verified = verify_report(_he(hyperenclave_quote()), CONTEXT)
    attrs = verified.attributes
    assert attrs.str_tee_platform == "HyperEnclave"
    assert attrs.hex_ta_measurement == "11" * 32 and attrs.hex_signer == "22" * 32
    assert (attrs.str_min_isvsvn, attrs.hex_prod_id) == ("3", "0700")
    assert attrs.bool_debug_disabled == "true"
    assert attrs.hex_user_data == "5A" * 32 and attrs.hex_hash_or_pem_pubkey == "A5" * 32
    assert attrs.hex_spid == "33" * 16
    assert "platform_certificate_chain" in verified.unverified


def test_hyperenclave_debug_flag() -> None:
    verified = verify_report(_he(hyperenclave_quote(debug=True)), CONTEXT)
    assert verified.attributes.bool_debug_disabled == "false"


def test_every_policy_refuses_what_is_unverified() -> None:
    verified = verify_report(_he(hyperenclave_quote()), CONTEXT)
    policy = UnifiedAttestationPolicy(
        main_attributes=[UnifiedAttestationAttributes(str_tee_platform="HyperEnclave")]
    )
    with pytest.raises(TeeRefused) as caught:
        check_policy(verified, policy)
    assert caught.value.reason is TeeReason.UNVERIFIABLE_OFFLINE


@pytest.mark.parametrize("offset", [48, 48 + 100, 48 + 383, 0 + 48 + 384 + 4 + 10])
def test_hyperenclave_signed_bytes_are_signed(offset: int) -> None:
    """Flipping the report body or the signature itself is a signature failure."""
    quote = bytearray(hyperenclave_quote())
    quote[offset] ^= 1
    with pytest.raises(TeeRefused) as caught:
        verify_report(_he(bytes(quote)), CONTEXT)
    assert caught.value.reason is TeeReason.SIGNATURE_INVALID


@pytest.mark.parametrize(
    "quote",
    [
        b"",
        hyperenclave_quote()[:400],
        hyperenclave_quote() + b"\x00",  # signature_len disagrees
        hyperenclave_quote(cert=b""),  # no platform certificate
        hyperenclave_quote(cert=b"\x30" * 3000),  # beyond UAL's 2048-byte buffer
    ],
)
def test_hyperenclave_malformed(quote: bytes) -> None:
    with pytest.raises(TeeMalformed) as caught:
        verify_report(_he(quote), CONTEXT)
    assert caught.value.details["key"] == "b64_quote"


def test_hyperenclave_key_off_the_curve() -> None:
    quote = bytearray(hyperenclave_quote())
    key_at = 48 + 384 + 4 + 64
    quote[key_at : key_at + 64] = b"\x01" * 64
    with pytest.raises(TeeMalformed):
        verify_report(_he(bytes(quote)), CONTEXT)


def kunpeng_report(
    *, params: list[tuple[int, int, int]] | None = None, blobs: bytes = b""
) -> bytes:
    """Header, params, then the blobs they point into."""
    img, mem, sig, cert = b"\x01" * 32, b"\x02" * 32, b"\x03" * 64, b"\x04" * 40
    header_size = kunpeng.HEADER.size
    if params is None:
        start = header_size + 5 * kunpeng.PARAM.size
        blobs = img + mem + sig + cert
        params = [
            (kunpeng.RA_INTEGER | 0, 1, 0),
            (kunpeng.TAG_TA_IMG_HASH, 32, start),
            (kunpeng.TAG_TA_MEM_HASH, 32, start + 32),
            (kunpeng.TAG_SIGN_AK, 64, start + 64),
            (kunpeng.TAG_CERT_AK, 40, start + 128),
        ]
    nonce = b"\x5a" * 32 + b"\xa5" * 32
    head = kunpeng.HEADER.pack(2, 1_700_000_000, nonce, b"\x77" * 16, 0, len(params))
    return head + b"".join(kunpeng.PARAM.pack(*p) for p in params) + blobs


def _kp(data: bytes) -> UnifiedAttestationReport:
    return _uar("Kunpeng", KunpengReport(b64_quote=base64.b64encode(data).decode()))


def test_kunpeng_parses_and_lists_the_signature_as_unverified() -> None:
    verified = verify_report(_kp(kunpeng_report()), CONTEXT)
    attrs = verified.attributes
    assert attrs.hex_ta_measurement == "01" * 32 and attrs.hex_ta_dyn_measurement == "02" * 32
    assert attrs.hex_nonce == attrs.hex_user_data == "5A" * 32
    assert attrs.hex_hash_or_pem_pubkey == ""  # the key binding is undefined for Kunpeng
    assert attrs.hex_platform_sw_version == "02000000"
    assert verified.unverified == ("report_signature", "ak_certificate_chain")


@pytest.mark.parametrize(
    ("params", "why"),
    [
        ([(kunpeng.TAG_TA_IMG_HASH, 32, 10_000)], "outside"),
        ([(kunpeng.TAG_TA_IMG_HASH, 1, 0), (kunpeng.TAG_TA_IMG_HASH, 1, 0)], "twice"),
        ([(3 << 28, 0, 0)], "unknown type"),
        ([(kunpeng.TAG_TA_IMG_HASH, 1, 0)], "SIGN_AK"),
    ],
)
def test_kunpeng_malformed(params: list[tuple[int, int, int]], why: str) -> None:
    with pytest.raises(TeeMalformed, match=why):
        verify_report(_kp(kunpeng_report(params=params)), CONTEXT)


def test_kunpeng_param_count_beyond_the_report() -> None:
    data = bytearray(kunpeng_report())
    struct.pack_into("<I", data, kunpeng.HEADER.size - 4, 1000)
    with pytest.raises(TeeMalformed, match="param_count"):
        verify_report(_kp(bytes(data)), CONTEXT)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=700), st.sampled_from(["HyperEnclave", "Kunpeng"]))
def test_any_bytes_are_refused_never_raised(data: bytes, platform: str) -> None:
    body = base64.b64encode(data).decode()
    if platform == "HyperEnclave":
        report, verifier = _he(data), hyperenclave.verify_hyperenclave
    else:
        report, verifier = _kp(data), kunpeng.verify_kunpeng
    assert body in report.json_report
    with contextlib.suppress(TeeMalformed, TeeRefused):
        verifier(report, CONTEXT)  # the platform verifier itself, not verify_report's net


SIGNED = range(48, 48 + 384)  # the report body
SIGNATURE_AND_KEY = range(48 + 384 + 4, 48 + 384 + 4 + 128)


@settings(max_examples=80, deadline=None)
@given(st.integers(min_value=0, max_value=2000), st.integers(min_value=0, max_value=7))
def test_flipping_any_bit_of_a_synthetic_quote(index: int, bit: int) -> None:
    """A flip in the body, the signature or the key is refused; elsewhere (header,
    the unverified platform part) it may pass, but nothing but a refusal escapes."""
    quote = bytearray(hyperenclave_quote())
    index %= len(quote)
    quote[index] ^= 1 << bit
    try:
        hyperenclave.verify_hyperenclave(_he(bytes(quote)), CONTEXT)
    except (TeeMalformed, TeeRefused):
        return
    assert index not in SIGNED and index not in SIGNATURE_AND_KEY
