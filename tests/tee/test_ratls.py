"""RA-TLS certificates: both forms round-trip, malformed extensions are named, and the
binding rule of each form refuses a quote made for another key (``key_binding``)."""

from __future__ import annotations

import base64
import hashlib
import json
import struct

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from isthmus.tee import ratls
from isthmus.tee.ratls import (
    RaTlsForm,
    check_key_binding,
    evidence_from_certificate,
    make_ratls_certificate,
    ratls_report_data,
)
from isthmus.tee.ratls_cert import (
    OID_EPID_IAS,
    OID_OPEN_ENCLAVE,
    OID_SGX_QUOTE_GRAMINE,
    OID_TCG_DICE_TAGGED_EVIDENCE,
    build_certificate,
    public_spki,
)
from isthmus.tee.verdict import Verified
from isthmus.wire.errors import TeeMalformed, TeeRefused
from isthmus.wire.tee import TeePlatform, TeeReason, UnifiedAttestationAttributes


def sgx_quote(report_data: bytes, *, version: int = 3, tee_type: int = 0) -> bytes:
    """A quote-shaped blob (header + body, no signature): enough for parsing, never for
    verification."""
    header = struct.pack("<HHI", version, 2, tee_type) + bytes(40)
    body = bytes(520 if tee_type == 0x81 else 320) + report_data
    return header + body + struct.pack("<I", 0)


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def other_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


def _verified(evidence: ratls.RaTlsEvidence, user_data: bytes) -> Verified:
    attributes = UnifiedAttestationAttributes(
        str_tee_platform=evidence.platform, hex_user_data=user_data.hex().upper()
    )
    return Verified(platform=evidence.platform, attributes=attributes, tcb_status="UpToDate")


@pytest.mark.parametrize("form", list(RaTlsForm))
@pytest.mark.parametrize("encoding", ["pem", "der"])
def test_both_forms_round_trip(
    key: ec.EllipticCurvePrivateKey, form: RaTlsForm, encoding: str
) -> None:
    spki = public_spki(key)
    data = ratls_report_data(spki, form=form)
    quote = sgx_quote(data)
    cert = make_ratls_certificate(key, quote, form=form)
    blob = cert.public_bytes(
        serialization.Encoding.PEM if encoding == "pem" else serialization.Encoding.DER
    )
    evidence = evidence_from_certificate(blob)
    assert (evidence.form, evidence.platform, evidence.quote) == (form, "SGX_DCAP", quote)
    assert evidence.spki_der == spki
    assert evidence.key_matches()
    assert evidence.bound_user_data == data[:32]
    check_key_binding(evidence, _verified(evidence, data[:32]))


@pytest.mark.parametrize("algorithm", ["sha256", "sha384", "sha512"])
def test_tcg_claims_carry_algorithm_and_nonce(
    key: ec.EllipticCurvePrivateKey, algorithm: str
) -> None:
    spki = public_spki(key)
    data = ratls_report_data(spki, nonce=b"n" * 16, hash_algorithm=algorithm)
    cert = make_ratls_certificate(
        key, sgx_quote(data), nonce=b"n" * 16, hash_algorithm=algorithm, tag=0x1A7501
    )
    evidence = evidence_from_certificate(cert.public_bytes(serialization.Encoding.DER))
    assert evidence.hash_algorithm == algorithm
    assert evidence.key_hash == hashlib.new(algorithm, spki).digest()
    assert (evidence.nonce, evidence.tag) == (b"n" * 16, 0x1A7501)
    check_key_binding(evidence, _verified(evidence, data[:32]))


def test_tdx_quote_platform_and_report_data(key: ec.EllipticCurvePrivateKey) -> None:
    data = ratls_report_data(public_spki(key), form=RaTlsForm.SGX_QUOTE_EXTENSION)
    quote = sgx_quote(data, version=4, tee_type=0x81)
    cert = make_ratls_certificate(key, quote, form=RaTlsForm.SGX_QUOTE_EXTENSION)
    evidence = evidence_from_certificate(cert.public_bytes(serialization.Encoding.PEM))
    assert evidence.platform == TeePlatform.TDX
    assert evidence.key_hash == data[:32]


@pytest.mark.parametrize("form", list(RaTlsForm))
def test_a_quote_for_another_key_is_refused(
    key: ec.EllipticCurvePrivateKey, other_key: ec.EllipticCurvePrivateKey, form: RaTlsForm
) -> None:
    """The quote binds ``other_key`` but sits in a certificate for ``key``."""
    data = ratls_report_data(public_spki(other_key), form=form)
    cert = make_ratls_certificate(key, sgx_quote(data), form=form)
    evidence = evidence_from_certificate(cert.public_bytes(serialization.Encoding.DER))
    with pytest.raises(TeeRefused) as caught:
        check_key_binding(evidence, _verified(evidence, data[:32]))
    assert caught.value.reason is TeeReason.KEY_BINDING


def test_claims_naming_another_key_are_refused(
    key: ec.EllipticCurvePrivateKey, other_key: ec.EllipticCurvePrivateKey
) -> None:
    """A forged TCG extension: claims (and a quote over them) for ``other_key``, copied
    into a certificate for ``key``: the claim does not hash this certificate's key."""
    donor = make_ratls_certificate(other_key, sgx_quote(bytes(64)))
    value = donor.extensions.get_extension_for_oid(
        x509.ObjectIdentifier(OID_TCG_DICE_TAGGED_EVIDENCE)
    ).value
    assert isinstance(value, x509.UnrecognizedExtension)
    cert = build_certificate(key, [(OID_TCG_DICE_TAGGED_EVIDENCE, value.value)])
    evidence = evidence_from_certificate(cert.public_bytes(serialization.Encoding.DER))
    assert not evidence.key_matches()
    with pytest.raises(TeeRefused) as caught:
        check_key_binding(evidence, _verified(evidence, evidence.bound_user_data))
    assert caught.value.reason is TeeReason.KEY_BINDING


def test_binding_mutation_flips_the_verdict(key: ec.EllipticCurvePrivateKey) -> None:
    data = ratls_report_data(public_spki(key))
    evidence = evidence_from_certificate(
        make_ratls_certificate(key, sgx_quote(data)).public_bytes(serialization.Encoding.DER)
    )
    wrong = bytes([data[0] ^ 1]) + data[1:32]
    with pytest.raises(TeeRefused) as caught:
        check_key_binding(evidence, _verified(evidence, wrong))
    assert caught.value.details["expected"] == data[:32].hex().upper()


def test_gramine_misencoded_oid_is_read(key: ec.EllipticCurvePrivateKey) -> None:
    data = ratls_report_data(public_spki(key), form=RaTlsForm.SGX_QUOTE_EXTENSION)
    cert = build_certificate(key, [(OID_SGX_QUOTE_GRAMINE, sgx_quote(data))])
    evidence = evidence_from_certificate(cert.public_bytes(serialization.Encoding.DER))
    assert evidence.form is RaTlsForm.SGX_QUOTE_EXTENSION and evidence.key_matches()


def test_ed25519_and_ca_signed_certificates(key: ec.EllipticCurvePrivateKey) -> None:
    leaf = ed25519.Ed25519PrivateKey.generate()
    ca = build_certificate(key, [], subject="test CA")
    data = ratls_report_data(public_spki(leaf))
    cert = make_ratls_certificate(leaf, sgx_quote(data), issuer=(ca, key))
    assert cert.issuer == ca.subject
    evidence = evidence_from_certificate(cert.public_bytes(serialization.Encoding.PEM))
    check_key_binding(evidence, _verified(evidence, data[:32]))


@pytest.mark.parametrize(
    ("blob", "key_name"),
    [
        (b"not a certificate", "certificate"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "certificate"),
        (b"\x30\x03\x02\x01\x01", "certificate"),
    ],
)
def test_not_a_certificate_is_malformed(blob: bytes, key_name: str) -> None:
    with pytest.raises(TeeMalformed) as caught:
        evidence_from_certificate(blob)
    assert caught.value.details["key"] == key_name


def _der(key: ec.EllipticCurvePrivateKey, extensions: list[tuple[str, bytes]]) -> bytes:
    return build_certificate(key, extensions).public_bytes(serialization.Encoding.DER)


def test_no_evidence_extension_is_malformed(key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(TeeMalformed) as caught:
        evidence_from_certificate(_der(key, []))
    assert caught.value.details["key"] == "extensions"


@pytest.mark.parametrize(
    ("value", "key_name"),
    [
        (b"\xff\xff", "evidence"),
        (cbor2.dumps(cbor2.CBORTag(60000, [b"q", b"\xa0"])), "pubkey-hash"),
        (cbor2.dumps(cbor2.CBORTag(60000, [b"q", b"\x01"])), "claims"),
    ],
)
def test_malformed_tcg_extension_is_named(
    key: ec.EllipticCurvePrivateKey, value: bytes, key_name: str
) -> None:
    with pytest.raises(TeeMalformed) as caught:
        evidence_from_certificate(_der(key, [(OID_TCG_DICE_TAGGED_EVIDENCE, value)]))
    assert caught.value.details["key"] == key_name


@pytest.mark.parametrize(
    ("tag", "reason"),
    [
        (60001, TeeReason.UNSUPPORTED_PLATFORM),  # a local report, not a quote
        (12345, TeeReason.UNSUPPORTED_PLATFORM),
    ],
)
def test_unverifiable_tags_are_refused(
    key: ec.EllipticCurvePrivateKey, tag: int, reason: TeeReason
) -> None:
    cert = make_ratls_certificate(key, sgx_quote(bytes(64)), tag=tag)
    with pytest.raises(TeeRefused) as caught:
        evidence_from_certificate(cert.public_bytes(serialization.Encoding.DER))
    assert caught.value.reason is reason


def test_unknown_quote_version_is_refused(key: ec.EllipticCurvePrivateKey) -> None:
    cert = make_ratls_certificate(key, sgx_quote(bytes(64), version=9))
    with pytest.raises(TeeRefused) as caught:
        evidence_from_certificate(cert.public_bytes(serialization.Encoding.DER))
    assert caught.value.reason is TeeReason.UNSUPPORTED_VERSION


@pytest.mark.parametrize(
    ("oid", "reason"),
    [
        (OID_EPID_IAS[0], TeeReason.UNVERIFIABLE_OFFLINE),
        (OID_OPEN_ENCLAVE[1], TeeReason.UNSUPPORTED_PLATFORM),
    ],
)
def test_other_forms_are_refused_by_name(
    key: ec.EllipticCurvePrivateKey, oid: str, reason: TeeReason
) -> None:
    with pytest.raises(TeeRefused) as caught:
        evidence_from_certificate(_der(key, [(oid, b"x")]))
    assert caught.value.reason is reason


def test_epid_quote_in_tcg_form_is_not_verifiable(key: ec.EllipticCurvePrivateKey) -> None:
    epid = struct.pack("<HHI", 2, 0, 0) + bytes(500)
    evidence = evidence_from_certificate(
        make_ratls_certificate(key, epid).public_bytes(serialization.Encoding.DER)
    )
    assert evidence.platform == TeePlatform.SGX_EPID
    with pytest.raises(TeeRefused) as caught:
        ratls.evidence_report(evidence)
    assert caught.value.reason is TeeReason.UNVERIFIABLE_OFFLINE


def test_report_wraps_the_quote(key: ec.EllipticCurvePrivateKey) -> None:
    quote = sgx_quote(bytes(64))
    evidence = evidence_from_certificate(
        make_ratls_certificate(key, quote).public_bytes(serialization.Encoding.DER)
    )
    report = ratls.evidence_report(evidence)
    assert (report.str_report_type, report.str_tee_platform) == ("BackgroundCheck", "SGX_DCAP")
    assert base64.b64decode(json.loads(report.json_report)["b64_quote"]) == quote
