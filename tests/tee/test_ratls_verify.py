"""RA-TLS certificates verified end to end: the quote through the Intel verifier, then
the binding of the certificate's own key. Positive paths use the synthetic DCAP PKI
(tests/support/dcap_forge.py, anchors pinning its forged root); the real vendor-signed
SGX quote shows a genuine quote that binds another key is refused with key_binding."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from isthmus.tee import ratls
from isthmus.tee.intel.collateral import load_collateral_json
from isthmus.tee.ratls import (
    RaTlsForm,
    make_ratls_certificate,
    ratls_report_data,
    verify_ratls_certificate,
)
from isthmus.tee.ratls_cert import public_spki
from isthmus.tee.verdict import VerifyContext
from isthmus.tee.verify import verify_report
from isthmus.wire.errors import TeeRefused
from isthmus.wire.tee import TeePlatform, TeeReason
from tests.support.dcap_forge import FORGE_AT, forge_quote
from tests.support.shared import shared_path

VECTOR_AT = datetime(2025, 6, 19, 11, 56, 11, tzinfo=UTC)


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize(
    ("form", "tee"),
    [
        (RaTlsForm.TCG_DICE, "SGX"),
        (RaTlsForm.TCG_DICE, "TDX"),
        (RaTlsForm.SGX_QUOTE_EXTENSION, "SGX"),
    ],
)
def test_forged_quote_binding_the_certificate_key_verifies(
    key: ec.EllipticCurvePrivateKey, form: RaTlsForm, tee: str
) -> None:
    quote, collateral, anchors = forge_quote(
        ratls_report_data(public_spki(key), form=form), tee=tee
    )
    cert = make_ratls_certificate(key, quote, form=form)
    context = VerifyContext(at=FORGE_AT, anchors=anchors)
    verified = verify_ratls_certificate(_pem(cert), context, collateral=collateral)
    assert verified.platform == (TeePlatform.TDX if tee == "TDX" else TeePlatform.SGX_DCAP)
    assert verified.tcb_status == "UpToDate"


@pytest.mark.parametrize("form", list(RaTlsForm))
def test_forged_quote_for_another_key_is_refused(
    key: ec.EllipticCurvePrivateKey, form: RaTlsForm
) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    quote, collateral, anchors = forge_quote(ratls_report_data(public_spki(other), form=form))
    cert = make_ratls_certificate(key, quote, form=form)
    context = VerifyContext(at=FORGE_AT, anchors=anchors)
    with pytest.raises(TeeRefused) as caught:
        verify_ratls_certificate(_pem(cert), context, collateral=collateral)
    assert caught.value.reason is TeeReason.KEY_BINDING


def test_the_quote_is_verified_before_the_binding(key: ec.EllipticCurvePrivateKey) -> None:
    """A tampered quote is refused for its signature, never passed on to the binding."""
    quote, collateral, anchors = forge_quote(ratls_report_data(public_spki(key)))
    tampered = quote[:100] + bytes([quote[100] ^ 1]) + quote[101:]
    cert = make_ratls_certificate(key, tampered)
    with pytest.raises(TeeRefused) as caught:
        verify_ratls_certificate(
            _pem(cert), VerifyContext(at=FORGE_AT, anchors=anchors), collateral=collateral
        )
    assert caught.value.reason is TeeReason.SIGNATURE_INVALID


def test_forged_anchor_is_not_the_intel_root(key: ec.EllipticCurvePrivateKey) -> None:
    quote, collateral, _ = forge_quote(ratls_report_data(public_spki(key)))
    cert = make_ratls_certificate(key, quote)
    with pytest.raises(TeeRefused) as caught:
        verify_ratls_certificate(_pem(cert), VerifyContext(at=FORGE_AT), collateral=collateral)
    assert caught.value.reason is TeeReason.CHAIN_UNTRUSTED


@pytest.mark.parametrize("form", list(RaTlsForm))
def test_real_sgx_quote_verifies_but_binds_another_key(
    key: ec.EllipticCurvePrivateKey, form: RaTlsForm
) -> None:
    """The dcap-qvl sample quote is genuine, but its report data is "Hello, world!"."""
    quote = shared_path("tee-vectors", "intel", "dcap-qvl", "sgx_quote").read_bytes()
    collateral = load_collateral_json(
        shared_path("tee-vectors", "intel", "dcap-qvl", "sgx_quote_collateral.json").read_text()
    )
    cert = make_ratls_certificate(key, quote, form=form)
    context = VerifyContext(at=VECTOR_AT)
    evidence = ratls.evidence_from_certificate(_pem(cert))
    verified = verify_report(ratls.evidence_report(evidence, collateral=collateral), context)
    assert verified.tcb_status == "ConfigurationAndSWHardeningNeeded"
    assert bytes.fromhex(verified.attributes.hex_user_data).startswith(b"Hello, world!")
    with pytest.raises(TeeRefused) as caught:
        verify_ratls_certificate(_pem(cert), context, collateral=collateral)
    assert caught.value.reason is TeeReason.KEY_BINDING
