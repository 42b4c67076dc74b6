"""A complete synthetic Intel-like DCAP PKI, built with ``cryptography`` for negative tests.

Test root CA -> PCK CA ("Intel SGX PCK Processor CA") -> PCK leaf with the SGX extension;
root -> TCB signing certificate; root CRL and PCK CRL; a signed TCB info and QE identity;
and an SGX v3 or TDX v4 quote whose QE report binds the attestation key. Every knob a
negative test needs (a revoked PCK, a CRL or TCB info signed by the wrong key, an expired
leaf, a debug enclave) is a keyword of :func:`forge`. Nothing here is Intel's: the
anchors returned pin the forged root key. ``forge_quote`` is the small public face the
RA-TLS tests use to bind a certificate's key into a quote.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from isthmus.crypto import der
from isthmus.tee.verdict import TrustAnchors
from isthmus.wire.tee import DcapCollateral

FORGE_AT = datetime(2026, 1, 1, tzinfo=UTC)
FMSPC = bytes.fromhex("00A067110000")
PCE_ID = b"\x00\x00"
SGX_OID = "1.2.840.113741.1.13.1"
QE_MRSIGNER = bytes(range(32))
MRENCLAVE = b"\x11" * 32
MRSIGNER = b"\x22" * 32


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Intel Corporation"),
        ]
    )


def _point(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def _raw_sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _cert(
    subject: str,
    key: ec.EllipticCurvePublicKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    serial: int,
    not_before: datetime,
    not_after: datetime,
    extension: bytes | None = None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if extension is not None:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier(SGX_OID), extension), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(*certs: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


def _entry(oid: str, value: bytes) -> bytes:
    return der.encode_sequence(der.encode_oid(oid), value)


def sgx_extension(svns: tuple[int, ...], pce_svn: int, fmspc: bytes = FMSPC) -> bytes:
    tcb = [_entry(f"{SGX_OID}.2.{i + 1}", der.encode_integer(v)) for i, v in enumerate(svns)]
    tcb.append(_entry(f"{SGX_OID}.2.17", der.encode_integer(pce_svn)))
    tcb.append(_entry(f"{SGX_OID}.2.18", der.encode_octet_string(bytes(16))))
    return der.encode_sequence(
        _entry(f"{SGX_OID}.1", der.encode_octet_string(b"\x01" * 16)),
        _entry(f"{SGX_OID}.2", der.encode_sequence(*tcb)),
        _entry(f"{SGX_OID}.3", der.encode_octet_string(PCE_ID)),
        _entry(f"{SGX_OID}.4", der.encode_octet_string(fmspc)),
        _entry(f"{SGX_OID}.5", der.encode_tlv(0x0A, b"\x00")),
    )


def _crl(issuer: str, key: ec.EllipticCurvePrivateKey, revoked: list[int], at: datetime) -> bytes:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(_name(issuer))
        .last_update(at - timedelta(days=1))
        .next_update(at + timedelta(days=30))
    )
    for serial in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(at - timedelta(days=2))
            .build()
        )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _comps(svns: list[int]) -> list[dict[str, int]]:
    return [{"svn": v} for v in svns]


def _tcb_info(tee: str, at: datetime) -> str:
    level = {
        "tcb": {"sgxtcbcomponents": _comps([2] * 16), "pcesvn": 10},
        "tcbDate": "2025-01-01T00:00:00Z",
        "tcbStatus": "UpToDate",
    }
    old = {
        "tcb": {"sgxtcbcomponents": _comps([1] * 16), "pcesvn": 5},
        "tcbDate": "2024-01-01T00:00:00Z",
        "tcbStatus": "OutOfDate",
        "advisoryIDs": ["INTEL-SA-99999"],
    }
    doc: dict[str, object] = {
        "id": tee,
        "version": 3,
        "issueDate": _iso(at - timedelta(days=1)),
        "nextUpdate": _iso(at + timedelta(days=30)),
        "fmspc": FMSPC.hex().upper(),
        "pceId": "0000",
        "tcbType": 0,
        "tcbEvaluationDataNumber": 17,
    }
    if tee == "TDX":
        doc["tdxModule"] = {
            "mrsigner": "00" * 48,
            "attributes": "00" * 8,
            "attributesMask": "FF" * 8,
        }
        level["tcb"]["tdxtcbcomponents"] = _comps([1] + [0] * 15)  # type: ignore[index]
        old["tcb"]["tdxtcbcomponents"] = _comps([0] * 16)  # type: ignore[index]
    doc["tcbLevels"] = [level, old]
    return json.dumps(doc, separators=(",", ":"))


def _qe_identity(tee: str, at: datetime) -> str:
    return json.dumps(
        {
            "id": "TD_QE" if tee == "TDX" else "QE",
            "version": 2,
            "issueDate": _iso(at - timedelta(days=1)),
            "nextUpdate": _iso(at + timedelta(days=30)),
            "tcbEvaluationDataNumber": 17,
            "miscselect": "00000000",
            "miscselectMask": "FFFFFFFF",
            "attributes": "11000000000000000000000000000000",
            "attributesMask": "FBFFFFFFFFFFFFFF0000000000000000",
            "mrsigner": QE_MRSIGNER.hex().upper(),
            "isvprodid": 1 if tee == "SGX" else 2,
            "tcbLevels": [
                {"tcb": {"isvsvn": 8}, "tcbDate": "2025-01-01T00:00:00Z", "tcbStatus": "UpToDate"}
            ],
        },
        separators=(",", ":"),
    )


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _response(key: str, body: str, signer: ec.EllipticCurvePrivateKey) -> str:
    sig = _raw_sign(signer, body.encode())
    return f'{{"{key}":{body},"signature":"{sig.hex()}"}}'


def _sgx_body(
    report_data: bytes,
    *,
    debug: bool,
    mrenclave: bytes = MRENCLAVE,
    mrsigner: bytes = MRSIGNER,
    prod_id: int = 0,
    isv_svn: int = 1,
    attributes: bytes | None = None,
) -> bytes:
    body = bytearray(384)
    attrs = bytearray(attributes or (b"\x05" + bytes(7) + b"\xe7" + bytes(7)))
    if debug:
        attrs[0] |= 0x02
    body[48:64] = attrs
    body[64:96] = mrenclave
    body[128:160] = mrsigner
    body[256:258] = prod_id.to_bytes(2, "little")
    body[258:260] = isv_svn.to_bytes(2, "little")
    body[320:384] = report_data.ljust(64, b"\x00")
    return bytes(body)


def _td_body(report_data: bytes, *, debug: bool) -> bytes:
    body = bytearray(584)
    body[0:16] = bytes([1] + [0] * 15)  # TEE_TCB_SVN: module SVN 1, version 0
    body[120] = 0x01 if debug else 0x00
    body[123] = 0x10  # SEPT_VE_DISABLE, as on real TDs
    body[136:184] = b"\x33" * 48  # MRTD
    body[520:584] = report_data.ljust(64, b"\x00")
    return bytes(body)


@dataclass(frozen=True)
class Forged:
    quote: bytes
    collateral: DcapCollateral
    anchors: TrustAnchors
    at: datetime
    pck_serial: int


def forge(
    report_data: bytes = b"",
    *,
    tee: str = "SGX",
    debug: bool = False,
    at: datetime = FORGE_AT,
    revoke_pck: bool = False,
    impostor_root: bool = False,
    crl_signed_by_wrong_key: bool = False,
    tcb_signed_by_wrong_key: bool = False,
    pck_expired: bool = False,
    pck_svns: tuple[int, ...] = (2,) * 16,
    pce_svn: int = 10,
    bad_binding: bool = False,
) -> Forged:
    """A quote and collateral that verify at ``at`` unless a knob breaks one thing."""
    if len(report_data) > 64:
        raise ValueError("report_data is at most 64 bytes")
    root_k, ca_k, leaf_k, tcb_k, att_k = _key(), _key(), _key(), _key(), _key()
    start, end = at - timedelta(days=365), at + timedelta(days=3650)
    root_name, ca_name = "Intel SGX Root CA", "Intel SGX PCK Processor CA"
    root = _cert(
        root_name,
        root_k.public_key(),
        root_name,
        root_k,
        ca=True,
        serial=1,
        not_before=start,
        not_after=end,
    )
    pck_ca = _cert(
        ca_name,
        ca_k.public_key(),
        root_name,
        root_k,
        ca=True,
        serial=2,
        not_before=start,
        not_after=end,
    )
    tcb_cert = _cert(
        "Intel SGX TCB Signing",
        tcb_k.public_key(),
        root_name,
        root_k,
        ca=False,
        serial=3,
        not_before=start,
        not_after=end,
    )
    pck_serial = 0x1234567
    leaf_end = at - timedelta(days=1) if pck_expired else end
    leaf = _cert(
        "Intel SGX PCK Certificate",
        leaf_k.public_key(),
        ca_name,
        ca_k,
        ca=False,
        serial=pck_serial,
        not_before=start,
        not_after=leaf_end,
        extension=sgx_extension(pck_svns, pce_svn),
    )
    anchor_root = _key() if impostor_root else root_k
    wrong = _key()
    collateral = DcapCollateral(
        pem_pck_crl_issuer_chain=_pem(pck_ca, root),
        str_root_ca_crl=_crl(root_name, root_k, [], at).hex(),
        str_pck_crl=_crl(
            ca_name,
            wrong if crl_signed_by_wrong_key else ca_k,
            [5, pck_serial] if revoke_pck else [5],
            at,
        ).hex(),
        pem_tcb_info_issuer_chain=_pem(tcb_cert, root),
        str_tcb_info=_response(
            "tcbInfo", _tcb_info(tee, at), wrong if tcb_signed_by_wrong_key else tcb_k
        ),
        pem_qe_identity_issuer_chain=_pem(tcb_cert, root),
        str_qe_identity=_response("enclaveIdentity", _qe_identity(tee, at), tcb_k),
    )
    quote = _quote(
        report_data,
        tee=tee,
        debug=debug,
        att_k=att_k,
        leaf_k=leaf_k,
        chain=_pem(leaf, pck_ca, root),
        bad_binding=bad_binding,
    )
    return Forged(
        quote,
        collateral,
        TrustAnchors(intel_root_public_key=_point(anchor_root.public_key())),
        at,
        pck_serial,
    )


def _quote(
    report_data: bytes,
    *,
    tee: str,
    debug: bool,
    att_k: ec.EllipticCurvePrivateKey,
    leaf_k: ec.EllipticCurvePrivateKey,
    chain: str,
    bad_binding: bool = False,
) -> bytes:
    tdx = tee == "TDX"
    header = struct.pack("<HHIHH", 4 if tdx else 3, 2, 0x81 if tdx else 0, 0, 0)
    header += bytes(16) + bytes(20)
    body = _td_body(report_data, debug=debug) if tdx else _sgx_body(report_data, debug=debug)
    att_point = _point(att_k.public_key())[1:]
    auth = bytes(range(32))
    qe_data = hashlib.sha256(att_point + auth).digest() + bytes(31) + bytes([bad_binding])
    qe_report = _sgx_body(
        qe_data,
        debug=False,
        mrenclave=b"\x44" * 32,
        mrsigner=QE_MRSIGNER,
        prod_id=2 if tdx else 1,
        isv_svn=8,
        attributes=b"\x11" + bytes(15),
    )
    chain_bytes = chain.encode() + b"\x00"
    inner = (
        qe_report
        + _raw_sign(leaf_k, qe_report)
        + struct.pack("<H", len(auth))
        + auth
        + struct.pack("<HI", 5, len(chain_bytes))
        + chain_bytes
    )
    if tdx:
        inner = struct.pack("<HI", 6, len(inner)) + inner
    signature = _raw_sign(att_k, header + body)
    sig_data = signature + att_point + inner
    return header + body + struct.pack("<I", len(sig_data)) + sig_data


def forge_quote(
    report_data: bytes, *, tee: str = "SGX", debug: bool = False, at: datetime = FORGE_AT
) -> tuple[bytes, DcapCollateral, TrustAnchors]:
    """A quote over ``report_data`` with collateral and the anchors that pin its root;
    it verifies at :data:`FORGE_AT` (or ``at``) with status UpToDate."""
    forged = forge(report_data, tee=tee, debug=debug, at=at)
    return forged.quote, forged.collateral, forged.anchors
