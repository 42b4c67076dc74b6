"""The Intel SGX extension of a PCK certificate (OID 1.2.840.113741.1.13.1).

It names the platform the certificate was issued to: FMSPC and PCE-ID (which TCB info
applies), the 16 SGX TCB component SVNs, PCESVN and CPUSVN (the platform's TCB, compared
with the TCB info levels). The extension is read with ``isthmus.crypto.der``; anything
that does not decode, a missing or repeated field, or a value of the wrong size raises
:class:`TeeMalformed`, so the TCB evaluation only ever sees a complete, well-formed set.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509

from isthmus.crypto import der
from isthmus.tee.intel.chain import tlv
from isthmus.wire.errors import InvalidKey, TeeMalformed
from isthmus.wire.tee import TeeReason

SGX_EXTENSION_OID = "1.2.840.113741.1.13.1"
_TCB = SGX_EXTENSION_OID + ".2"
_PCEID = SGX_EXTENSION_OID + ".3"
_FMSPC = SGX_EXTENSION_OID + ".4"
_ENUMERATED = 0x0A
_COMPONENTS = tuple(f"{_TCB}.{i}" for i in range(1, 17))
_PCESVN = f"{_TCB}.17"
_CPUSVN = f"{_TCB}.18"
_SGX_EXTENSION = x509.ObjectIdentifier(SGX_EXTENSION_OID)
# The OIDs the extension holds, by their DER content: an entry with one of these exact
# encodings needs no decoding (they are minimal by construction); any other is decoded
# and so validated exactly as before.
_KNOWN_OIDS = {
    der.decode_tlv(der.encode_oid(oid))[1]: oid
    for oid in (
        *(f"{SGX_EXTENSION_OID}.{n}" for n in range(1, 8)),
        *(f"{_TCB}.{n}" for n in range(1, 19)),
    )
}


@dataclass(frozen=True)
class PckExtension:
    fmspc: bytes  # 6 bytes
    pce_id: bytes  # 2 bytes
    sgx_tcb_svns: tuple[int, ...]  # 16 component SVNs, component 1 first
    pce_svn: int
    cpu_svn: bytes  # 16 bytes


def _bad(message: str) -> TeeMalformed:
    return TeeMalformed(
        f"PCK certificate SGX extension: {message}",
        details={"reason": TeeReason.MALFORMED, "field": "pck_extension"},
    )


def _pairs(content: bytes) -> dict[str, tuple[int, bytes]]:
    """The ``SEQUENCE { OID, value }`` entries of a SEQUENCE's content, by OID."""
    out: dict[str, tuple[int, bytes]] = {}
    at, end = 0, len(content)
    while at < end:
        # SEQUENCE { OID, value } with short-form lengths (minimal DER) all through, read
        # inline; any other form takes the element-by-element path below
        if at + 4 <= end and content[at] == der.SEQUENCE and content[at + 2] == 0x06:
            stop = at + 2 + content[at + 1]
            vat = at + 4 + content[at + 3]
            if content[at + 1] < 0x80 and content[at + 3] < 0x80 and vat + 2 <= stop <= end:
                vtag, vsize = content[vat], content[vat + 1]
                if vsize < 0x80 and vtag & 0x1F != 0x1F and vat + 2 + vsize == stop:
                    raw_oid = content[at + 4 : vat]
                    oid = _KNOWN_OIDS.get(raw_oid) or der.decode_oid(raw_oid)
                    if oid in out:
                        raise _bad(f"{oid} appears twice")
                    out[oid] = (vtag, content[vat + 2 : stop])
                    at = stop
                    continue
        tag, child, at = tlv(content, at)
        if tag != der.SEQUENCE:
            raise _bad("an entry is not a SEQUENCE")
        otag, raw_oid, inner = tlv(child, 0)
        if otag != der.OBJECT_IDENTIFIER or inner >= len(child):
            raise _bad("an entry is not (OID, value)")
        vtag, value, inner = tlv(child, inner)
        if inner != len(child):
            raise _bad("an entry is not (OID, value)")
        oid = _KNOWN_OIDS.get(raw_oid) or der.decode_oid(raw_oid)
        if oid in out:
            raise _bad(f"{oid} appears twice")
        out[oid] = (vtag, value)
    return out


def _get(entries: dict[str, tuple[int, bytes]], oid: str, tag: int) -> bytes:
    found = entries.get(oid)
    if found is None:
        raise _bad(f"{oid} is missing")
    if found[0] != tag:
        raise _bad(f"{oid} has tag 0x{found[0]:02x}, expected 0x{tag:02x}")
    return found[1]


def _svn(content: bytes, limit: int) -> int:
    value = der.decode_integer(content)
    if not 0 <= value <= limit:
        raise _bad(f"SVN {value} out of range")
    return value


def parse_pck_extension_value(value: bytes) -> PckExtension:
    try:
        top = _pairs(der.decode_single(value, der.SEQUENCE))
        tcb = _pairs(_get(top, _TCB, der.SEQUENCE))
        svns = tuple([_svn(_get(tcb, oid, der.INTEGER), 255) for oid in _COMPONENTS])
        pce_svn = _svn(_get(tcb, _PCESVN, der.INTEGER), 0xFFFF)
        cpu_svn = _get(tcb, _CPUSVN, der.OCTET_STRING)
        fmspc = _get(top, _FMSPC, der.OCTET_STRING)
        pce_id = _get(top, _PCEID, der.OCTET_STRING)
    except InvalidKey as exc:
        raise _bad(exc.message) from None
    if len(cpu_svn) != 16 or len(fmspc) != 6 or len(pce_id) != 2:
        raise _bad("CPUSVN, FMSPC or PCE-ID has the wrong size")
    return PckExtension(fmspc, pce_id, svns, pce_svn, cpu_svn)


def parse_pck_extension(cert: x509.Certificate) -> PckExtension:
    try:
        ext = cert.extensions.get_extension_for_oid(_SGX_EXTENSION)
    except x509.ExtensionNotFound:
        raise _bad("the PCK certificate has no SGX extension") from None
    except ValueError as exc:  # duplicate or undecodable extensions
        raise _bad(str(exc)) from None
    value = ext.value
    if not isinstance(value, x509.UnrecognizedExtension):
        raise _bad("unexpected extension type")
    return parse_pck_extension_value(value.value)
