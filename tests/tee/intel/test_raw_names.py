"""The DER readers of the speed path agree with ``cryptography``'s x509 objects.

``_first_cn`` reads a subject's first commonName from DER (the PCK CA type), and
``chain._raw_names`` cuts issuer, subject and key out of a TBSCertificate so names are
matched byte for byte; both must give what the parsed certificate says, or decline.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.crypto import der
from isthmus.tee.intel import chain
from isthmus.tee.intel.collateral import _first_cn, load_collateral_json
from isthmus.tee.verdict import INTEL_SGX_ROOT_PUBLIC_KEY
from isthmus.wire.errors import TeeMalformed
from tests.support.shared import shared_path

_KEY = ec.generate_private_key(ec.SECP256R1())
# at most 32 characters of up to 2 UTF-8 bytes: X.520 caps a name at 64 bytes
_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x2FF), min_size=1, max_size=32)
_OIDS = st.sampled_from([NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME, NameOID.COUNTRY_NAME])


def _attribute(oid: x509.ObjectIdentifier, value: str) -> x509.NameAttribute:
    if oid == NameOID.COUNTRY_NAME:
        return x509.NameAttribute(oid, "US")
    return x509.NameAttribute(oid, value)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(_OIDS, _TEXT), min_size=1, max_size=5), _TEXT)
def test_names_and_first_cn_match_cryptography(
    attrs: list[tuple[object, str]], issuer_cn: str
) -> None:
    subject = x509.Name([_attribute(oid, value) for oid, value in attrs])  # type: ignore[arg-type]
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn)])
    now = datetime(2025, 1, 1, tzinfo=UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(_KEY.public_key())
        .serial_number(7)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(_KEY, hashes.SHA256())
    )
    got_issuer, got_subject, spki = chain._raw_names(
        cert.tbs_certificate_bytes, crl=False, what="test"
    )
    assert got_subject == der.decode_single(subject.public_bytes(), der.SEQUENCE)
    assert got_issuer == der.decode_single(issuer.public_bytes(), der.SEQUENCE)
    spki_der = _KEY.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert spki == der.decode_single(spki_der, der.SEQUENCE)
    cns = subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    # cryptography writes UTF8String / PrintableString: the DER reader never declines here
    assert _first_cn(got_subject) == (cns[0].value if cns else "")


def test_crl_tbs_cut_from_der_is_the_reencoded_one() -> None:
    folder = shared_path("tee-vectors", "intel", "dcap-qvl")
    for name in ("sgx_quote", "tdx_quote"):
        collateral = load_collateral_json((folder / f"{name}_collateral.json").read_text())
        for text in (collateral.str_root_ca_crl, collateral.str_pck_crl):
            crl, crl_der = chain.load_crl_der(text, "crl")
            assert crl_der is not None
            assert chain.first_element(crl_der) == crl.tbs_certlist_bytes
    assert chain.first_element(b"\x30\x03\x02\x01") is None  # not one whole element


def test_pem_blocks_read_as_der_match_the_pem_loader() -> None:
    folder = shared_path("tee-vectors", "intel", "dcap-qvl")
    collateral = load_collateral_json((folder / "tdx_quote_collateral.json").read_text())
    pem = collateral.pem_pck_crl_issuer_chain.encode()
    scope = chain.Scope(INTEL_SGX_ROOT_PUBLIC_KEY)
    ours = scope.load_chain(pem, "chain")
    assert ours == x509.load_pem_x509_certificates(pem)
    for cert in ours:
        assert scope._raw(cert, "chain")[1] == cert.tbs_certificate_bytes
    broken = pem.replace(b"\n", b"=\n", 1)  # padding inside the base64 body
    with pytest.raises(TeeMalformed):
        chain.Scope(INTEL_SGX_ROOT_PUBLIC_KEY).load_chain(broken, "chain")
