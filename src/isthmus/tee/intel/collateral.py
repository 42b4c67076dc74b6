"""DCAP collateral: loading it in the layouts it travels in, and verifying it once.

Layouts accepted by :func:`load_collateral_json`: the UAR ``DcapCollateral`` (TCB info and
QE identity as the raw PCS response bodies), and dcap-qvl's nine-field JSON (the inner
documents and their signatures apart), which is converted by *wrapping* the signed text,
never re-serialising it. :func:`collateral_from_files` builds one from the separate files
Intel's PCS serves (go-tdx-guest layout).

:func:`verify_collateral` checks everything in the collateral that does not depend on a
quote: the three issuer chains end at the pinned root key, both CRLs are signed by their
issuer, the intermediates are not on the root CRL, and the TCB info and QE identity
signatures cover the exact bytes of the inner values. The result keeps the validity
windows rather than judging them, so a :class:`CollateralCache` entry (keyed by the
SHA-256 of the collateral and the root key) is re-judged for time at every use.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from threading import Lock
from typing import Any, Literal

from cryptography import x509

from isthmus.crypto import der
from isthmus.tee.intel import chain as ch
from isthmus.tee.intel.tcb import QeIdentity, TcbInfo, parse_qe_identity, parse_tcb_info
from isthmus.tee.verdict import INTEL_SGX_ROOT_PUBLIC_KEY
from isthmus.wire.errors import InvalidKey, TeeMalformed, TeeRefused
from isthmus.wire.tee import DcapCollateral, TeeReason, parse_json_field

_QVL_FIELDS = (
    "pck_crl_issuer_chain",
    "root_ca_crl",
    "pck_crl",
    "tcb_info_issuer_chain",
    "tcb_info",
    "tcb_info_signature",
    "qe_identity_issuer_chain",
    "qe_identity",
    "qe_identity_signature",
)
PROCESSOR_CA = "Intel SGX PCK Processor CA"
PLATFORM_CA = "Intel SGX PCK Platform CA"


def _bad(field: str, message: str) -> TeeMalformed:
    return TeeMalformed(
        message, details={"reason": TeeReason.MALFORMED, "field": field, "key": field}
    )


def _wrap(inner_key: str, inner: str, signature_hex: str) -> str:
    # The inner text goes in verbatim: its signature covers exactly these bytes.
    return f'{{"{inner_key}":{inner},"signature":{json.dumps(signature_hex)}}}'


def load_collateral_json(text: str | bytes) -> DcapCollateral:
    """A DcapCollateral from dcap-qvl's JSON layout or the UAR DcapCollateral layout."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise _bad("json_collateral", "collateral is not UTF-8") from None
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        raise _bad("json_collateral", "collateral is not JSON") from None
    if not isinstance(obj, dict):
        raise _bad("json_collateral", "collateral is not a JSON object")
    if "tcb_info" not in obj:
        return parse_json_field(DcapCollateral, "json_collateral", text)
    for name in _QVL_FIELDS:
        if not isinstance(obj.get(name), str):
            raise _bad(name, f"dcap-qvl collateral field {name!r} is missing or not a string")
    return DcapCollateral(
        pem_pck_crl_issuer_chain=obj["pck_crl_issuer_chain"],
        str_root_ca_crl=obj["root_ca_crl"],
        str_pck_crl=obj["pck_crl"],
        pem_tcb_info_issuer_chain=obj["tcb_info_issuer_chain"],
        str_tcb_info=_wrap("tcbInfo", obj["tcb_info"], obj["tcb_info_signature"]),
        pem_qe_identity_issuer_chain=obj["qe_identity_issuer_chain"],
        str_qe_identity=_wrap("enclaveIdentity", obj["qe_identity"], obj["qe_identity_signature"]),
    )


def collateral_from_files(
    *,
    tcb_info_response: str,
    qe_identity_response: str,
    pck_crl_der: bytes,
    root_ca_crl_der: bytes,
    tcb_issuer_chain_pem: str,
    pck_crl_issuer_chain_pem: str,
    qe_identity_issuer_chain_pem: str | None = None,
) -> DcapCollateral:
    """A DcapCollateral from Intel PCS files as go-tdx-guest keeps them."""
    return DcapCollateral(
        pem_pck_crl_issuer_chain=pck_crl_issuer_chain_pem,
        str_root_ca_crl=root_ca_crl_der.hex(),
        str_pck_crl=pck_crl_der.hex(),
        pem_tcb_info_issuer_chain=tcb_issuer_chain_pem,
        str_tcb_info=tcb_info_response,
        pem_qe_identity_issuer_chain=qe_identity_issuer_chain_pem or tcb_issuer_chain_pem,
        str_qe_identity=qe_identity_response,
    )


def signed_value(text: str, key: str, field: str) -> tuple[bytes, bytes]:
    """From ``{"<key>": {...}, "signature": "<hex>"}``: the exact UTF-8 bytes of the
    value of ``key`` as they appear in ``text``, and the decoded signature."""
    body, signature, _ = signed_object(text, key, field)
    return body, signature


def signed_object(text: str, key: str, field: str) -> tuple[bytes, bytes, dict[str, Any]]:
    """:func:`signed_value` and the decoded value of ``key``: the parse of exactly the
    returned bytes, so the document is read once and never re-serialised."""
    decoder = json.JSONDecoder()
    spans: dict[str, tuple[int, int]] = {}
    values: dict[str, Any] = {}
    ws = " \t\r\n"
    try:
        i = len(text) - len(text.lstrip(ws))
        if text[i : i + 1] != "{":
            raise ValueError("not an object")
        i += 1
        while True:
            while text[i] in ws:
                i += 1
            if text[i] == "}" and not spans:
                i += 1
                break
            if text[i] != '"':
                raise ValueError("expected a key")
            name, i = decoder.raw_decode(text, i)
            if not isinstance(name, str):
                raise ValueError("expected a key")
            while text[i] in ws:
                i += 1
            if text[i] != ":":
                raise ValueError("expected ':'")
            i += 1
            while text[i] in ws:
                i += 1
            value, end = decoder.raw_decode(text, i)
            if name in spans:
                raise ValueError(f"duplicate key {name!r}")
            spans[name] = (i, end)
            values[name] = value
            i = end
            while text[i] in ws:
                i += 1
            if text[i] == ",":
                i += 1
                continue
            if text[i] != "}":
                raise ValueError("expected ',' or '}'")
            i += 1
            break
        if text[i:].strip(ws):
            raise ValueError("trailing text")
    except (ValueError, IndexError, RecursionError) as exc:
        raise _bad(field, f"{field} is not a signed PCS response: {exc}") from None
    if key not in spans or not isinstance(values.get("signature"), str):
        raise _bad(field, f"{field} needs {key!r} and 'signature'")
    if not isinstance(values[key], dict):
        raise _bad(field, f"{field}: {key!r} is not an object")
    try:
        signature = bytes.fromhex(values["signature"])
    except ValueError:
        raise _bad(field, f"{field}: signature is not hex") from None
    start, end = spans[key]
    return text[start:end].encode("utf-8"), signature, values[key]


@dataclass(frozen=True)
class Window:
    name: str
    not_before: datetime
    not_after: datetime
    early: TeeReason
    late: TeeReason
    cert: x509.Certificate | None = None  # its subject ends the name in a refusal (lazily)

    def label(self) -> str:
        if self.cert is None:
            return self.name
        return f"{self.name} {self.cert.subject.rfc4514_string()}"


@dataclass(frozen=True)
class VerifiedCollateral:
    """What a collateral proves once its signatures verified; time is judged per use."""

    tcb_info: TcbInfo
    qe_identity: QeIdentity
    pck_ca_subject: bytes  # Name DER, matched byte for byte with the quote's PCK CA
    ca: Literal["processor", "platform"]
    pck_revoked: ch.Revocations
    root_revoked: ch.Revocations
    windows: tuple[Window, ...]


def ca_type(name: x509.Name) -> Literal["processor", "platform"]:
    cns = name.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
    return _ca_of_cn(cns[0].value if cns else "")


_CN_OID = b"\x55\x04\x03"  # 2.5.4.3 commonName, DER content
_TEXT_TAGS = (0x0C, 0x13)  # UTF8String, PrintableString


def _first_cn(subject: bytes) -> str | None:
    """The first commonName of a Name's DER content; None (the caller then asks the
    ``x509.Name``) for anything but single-valued RDNs with UTF8/Printable strings."""
    try:
        at, cn = 0, ""
        while at < len(subject):
            tag, rdn, at = ch.tlv(subject, at)
            seq_tag, attr, used = ch.tlv(rdn, 0)
            if tag != 0x31 or seq_tag != der.SEQUENCE or used != len(rdn):
                return None
            oid_tag, oid, used = ch.tlv(attr, 0)
            value_tag, value, end = ch.tlv(attr, used)
            if oid_tag != der.OBJECT_IDENTIFIER or end != len(attr):
                return None
            if oid == _CN_OID and not cn:
                if value_tag not in _TEXT_TAGS:
                    return None
                cn = value.decode("utf-8")
                if not cn:
                    return None
        return cn
    except (InvalidKey, UnicodeDecodeError):
        return None


def pck_ca_type(cert: x509.Certificate, scope: ch.Scope) -> Literal["processor", "platform"]:
    """:func:`ca_type` of ``cert``'s subject, read from its DER when it is plain."""
    cn = _first_cn(scope.names(cert, "PCK CA")[1])
    return ca_type(cert.subject) if cn is None else _ca_of_cn(cn)


def _ca_of_cn(cn: object) -> Literal["processor", "platform"]:
    if cn == PROCESSOR_CA:
        return "processor"
    if cn == PLATFORM_CA:
        return "platform"
    raise TeeRefused(f"{cn!r} is not an Intel PCK CA", reason=TeeReason.CHAIN_UNTRUSTED)


def cert_window(cert: x509.Certificate, name: str, *, with_subject: bool = False) -> Window:
    return Window(
        name,
        cert.not_valid_before_utc,
        cert.not_valid_after_utc,
        TeeReason.CERT_NOT_YET_VALID,
        TeeReason.CERT_EXPIRED,
        cert if with_subject else None,
    )


def _doc_window(name: str, start: datetime, end: datetime) -> Window:
    return Window(
        name, start, end, TeeReason.COLLATERAL_NOT_YET_VALID, TeeReason.COLLATERAL_EXPIRED
    )


def _signed_doc(
    text: str, key: str, field: str, signer: x509.Certificate, scope: ch.Scope
) -> dict[str, Any]:
    body, signature, value = signed_object(text, key, field)
    if not ch.ecdsa_raw_ok(scope.key(signer, field), signature, body):
        raise TeeRefused(
            f"{field}: the signature does not cover these bytes under "
            f"{signer.subject.rfc4514_string()}",
            reason=TeeReason.COLLATERAL_SIGNATURE,
            details={"field": field},
        )
    return value


def verify_collateral(
    c: DcapCollateral, root_point: bytes, scope: ch.Scope | None = None
) -> VerifiedCollateral:
    """Signatures, chains and CRL contents of a collateral (no time judged here).
    ``scope`` is the calling verification's (certificates shared with the quote's PCK
    chain are parsed and checked once in that call); None: a fresh one."""
    if scope is None or ch.pinned_key(root_point)[1] != scope.root_point:
        scope = ch.Scope(root_point)
    pck_chain = scope.load_chain(c.pem_pck_crl_issuer_chain, "pem_pck_crl_issuer_chain")
    tcb_chain = scope.load_chain(c.pem_tcb_info_issuer_chain, "pem_tcb_info_issuer_chain")
    qe_chain = scope.load_chain(c.pem_qe_identity_issuer_chain, "pem_qe_identity_issuer_chain")
    for certs, name in (
        (pck_chain, "pem_pck_crl_issuer_chain"),
        (tcb_chain, "pem_tcb_info_issuer_chain"),
        (qe_chain, "pem_qe_identity_issuer_chain"),
    ):
        if len(certs) < 2:
            raise _bad(name, f"{name} must hold the signer and the root")
        ch.verify_chain(certs, root_point, name, scope)
    root = pck_chain[-1]
    crl, crl_der = ch.load_crl_der(c.str_root_ca_crl, "str_root_ca_crl")
    root_crl = ch.verify_crl(crl, root, "root CA CRL", scope, crl_der)
    pck_ca = pck_chain[0]
    crl, crl_der = ch.load_crl_der(c.str_pck_crl, "str_pck_crl")
    pck_crl = ch.verify_crl(crl, pck_ca, "PCK CRL", scope, crl_der)
    for cert, name in (
        (pck_ca, "PCK CA"),
        (tcb_chain[0], "TCB signing certificate"),
        (qe_chain[0], "QE identity signing certificate"),
    ):
        if cert.serial_number in root_crl.revoked:
            raise TeeRefused(f"the {name} is on the root CA CRL", reason=TeeReason.CERT_REVOKED)
    tcb_doc = _signed_doc(c.str_tcb_info, "tcbInfo", "str_tcb_info", tcb_chain[0], scope)
    qe_doc = _signed_doc(
        c.str_qe_identity, "enclaveIdentity", "str_qe_identity", qe_chain[0], scope
    )
    tcb_info = parse_tcb_info(tcb_doc)
    qe_identity = parse_qe_identity(qe_doc)
    windows: list[Window] = []
    seen: set[int] = set()  # a certificate in two chains is one window
    for certs, name in (
        (pck_chain, "PCK CRL issuer"),
        (tcb_chain, "TCB info issuer"),
        (qe_chain, "QE identity issuer"),
    ):
        for cert in certs:
            if id(cert) not in seen:
                seen.add(id(cert))
                windows.append(cert_window(cert, f"{name} certificate", with_subject=True))
    windows += [
        _doc_window("root CA CRL", root_crl.this_update, root_crl.next_update),
        _doc_window("PCK CRL", pck_crl.this_update, pck_crl.next_update),
        _doc_window("TCB info", tcb_info.issue_date, tcb_info.next_update),
        _doc_window("QE identity", qe_identity.issue_date, qe_identity.next_update),
    ]
    return VerifiedCollateral(
        tcb_info=tcb_info,
        qe_identity=qe_identity,
        pck_ca_subject=scope.names(pck_ca, "pem_pck_crl_issuer_chain")[1],
        ca=pck_ca_type(pck_ca, scope),
        pck_revoked=pck_crl.revoked,
        root_revoked=root_crl.revoked,
        windows=tuple(windows),
    )


def collateral_digest(c: DcapCollateral, root_point: bytes) -> bytes:
    h = hashlib.sha256(root_point)
    for value in (
        c.pem_pck_crl_issuer_chain,
        c.str_root_ca_crl,
        c.str_pck_crl,
        c.pem_tcb_info_issuer_chain,
        c.str_tcb_info,
        c.pem_qe_identity_issuer_chain,
        c.str_qe_identity,
    ):
        data = value.encode("utf-8")
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.digest()


class CollateralCache:
    """Verified collateral keyed by the SHA-256 of its content and the pinned root key:
    a repeat verification with the same collateral checks only quote-level things and
    the time windows. Bounded LRU; safe to share between threads."""

    def __init__(self, size: int = 64) -> None:
        if size < 1:
            raise ValueError("cache size must be positive")
        self._size = size
        self._entries: OrderedDict[bytes, VerifiedCollateral] = OrderedDict()
        self._lock = Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, c: DcapCollateral, root_point: bytes) -> VerifiedCollateral:
        key = collateral_digest(c, root_point)
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
                return hit
        verified = verify_collateral(c, root_point)  # raises: failures are not cached
        with self._lock:
            self._entries[key] = verified
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return verified


def collateral_key(
    c: DcapCollateral, root_point: bytes = INTEL_SGX_ROOT_PUBLIC_KEY
) -> tuple[Literal["SGX", "TDX"], Literal["processor", "platform"], str]:
    """(tee, ca, FMSPC upper hex) a collateral serves, read from its signed documents
    (the signatures are checked here too, so a file cannot claim another key)."""
    verified = verify_collateral(c, root_point)
    tee: Literal["SGX", "TDX"] = "TDX" if verified.tcb_info.tee == "TDX" else "SGX"
    return tee, verified.ca, verified.tcb_info.fmspc.hex().upper()
