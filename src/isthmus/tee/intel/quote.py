"""Intel DCAP quote parsing: v3 (SGX), v4 (SGX, TDX 1.0), v5 (SGX, TDX 1.0, TDX 1.5).

Every length is checked before it is used and each nested structure must be consumed
exactly: a truncated quote, a length field that points past the end, bytes left inside
the signature data, or a certification-data size that disagrees with its content all raise
:class:`TeeMalformed` with the field named; a version, key type, TEE type or body type we
do not verify raises :class:`TeeRefused` (``unsupported_version``). Bytes after the
declared signature data (real quotes come in padded buffers) are signed by nothing and
dropped; the whole blob is bounded by ``MAX_QUOTE_SIZE``. Nothing else escapes
for any input bytes, so a verifier can hand this any attacker-chosen blob. The parser
keeps the exact byte spans the signatures cover (header+body, QE report) so the checks
run over the bytes as received, never over a re-encoding.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from isthmus.wire.errors import TeeMalformed, TeeRefused
from isthmus.wire.tee import TeeReason

HEADER_SIZE = 48
SGX_BODY_SIZE = 384
TDX10_BODY_SIZE = 584
TDX15_BODY_SIZE = 648
ECDSA_P256 = 2
TEE_SGX = 0x00000000
TEE_TDX = 0x00000081
CERT_PCK_CHAIN = 5
CERT_QE_REPORT = 6
MAX_QUOTE_SIZE = 64 * 1024  # a real quote is ~5 KB; refuse blobs far beyond any quote

_BODY_TYPES = {
    1: (TEE_SGX, SGX_BODY_SIZE),
    2: (TEE_TDX, TDX10_BODY_SIZE),
    3: (TEE_TDX, TDX15_BODY_SIZE),
}


@dataclass(frozen=True)
class SgxReportBody:
    """The 384-byte SGX enclave report (the application enclave's, or the QE's)."""

    raw: bytes

    @property
    def cpu_svn(self) -> bytes:
        return self.raw[0:16]

    @property
    def misc_select(self) -> int:
        return int.from_bytes(self.raw[16:20], "little")

    @property
    def attributes(self) -> bytes:
        return self.raw[48:64]

    @property
    def mr_enclave(self) -> bytes:
        return self.raw[64:96]

    @property
    def mr_signer(self) -> bytes:
        return self.raw[128:160]

    @property
    def isv_prod_id(self) -> int:
        return int.from_bytes(self.raw[256:258], "little")

    @property
    def isv_svn(self) -> int:
        return int.from_bytes(self.raw[258:260], "little")

    @property
    def report_data(self) -> bytes:
        return self.raw[320:384]

    @property
    def debug(self) -> bool:
        return bool(self.raw[48] & 0x02)  # ATTRIBUTES bit 1


@dataclass(frozen=True)
class TdReportBody:
    """The TD report body: 584 bytes (TDX 1.0) or 648 (TDX 1.5, two more fields)."""

    raw: bytes

    @property
    def tee_tcb_svn(self) -> bytes:
        return self.raw[0:16]

    @property
    def mr_seam(self) -> bytes:
        return self.raw[16:64]

    @property
    def mr_signer_seam(self) -> bytes:
        return self.raw[64:112]

    @property
    def seam_attributes(self) -> bytes:
        return self.raw[112:120]

    @property
    def td_attributes(self) -> bytes:
        return self.raw[120:128]

    @property
    def xfam(self) -> bytes:
        return self.raw[128:136]

    @property
    def mr_td(self) -> bytes:
        return self.raw[136:184]

    @property
    def mr_config_id(self) -> bytes:
        return self.raw[184:232]

    @property
    def mr_owner(self) -> bytes:
        return self.raw[232:280]

    @property
    def mr_owner_config(self) -> bytes:
        return self.raw[280:328]

    @property
    def rtmrs(self) -> bytes:
        return self.raw[328:520]

    @property
    def report_data(self) -> bytes:
        return self.raw[520:584]

    @property
    def debug(self) -> bool:
        return bool(self.raw[120] & 0x01)  # TD_ATTRIBUTES bit 0 (TUD.DEBUG)


@dataclass(frozen=True)
class Quote:
    version: int
    tee_type: int
    header: bytes
    body: SgxReportBody | TdReportBody
    signed: bytes  # header || (v5 body descriptor) || body: what the quote signature covers
    signature: bytes  # raw r || s
    attestation_key: bytes  # x || y
    qe_report: SgxReportBody
    qe_report_signature: bytes
    qe_auth_data: bytes
    pck_chain_pem: bytes  # leaf first, trailing NULs removed
    raw: bytes

    @property
    def is_tdx(self) -> bool:
        return self.tee_type == TEE_TDX

    @property
    def qe_svn(self) -> int:
        return int.from_bytes(self.header[8:10], "little")

    @property
    def pce_svn(self) -> int:
        return int.from_bytes(self.header[10:12], "little")


class _Reader:
    """A cursor that never reads past the end: a short read is a TeeMalformed naming
    the field, so callers need no bounds arithmetic of their own."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.pos = 0
        self.what = what

    def take(self, size: int, field: str) -> bytes:
        end = self.pos + size
        if size < 0 or end > len(self.data):
            raise TeeMalformed(
                f"{self.what} truncated: {field} needs {size} bytes at offset {self.pos}, "
                f"{len(self.data) - self.pos} left",
                details={"reason": TeeReason.MALFORMED, "field": field},
            )
        out = self.data[self.pos : end]
        self.pos = end
        return out

    def u16(self, field: str) -> int:
        return int(struct.unpack("<H", self.take(2, field))[0])

    def u32(self, field: str) -> int:
        return int(struct.unpack("<I", self.take(4, field))[0])

    def finish(self) -> None:
        if self.pos != len(self.data):
            raise TeeMalformed(
                f"{self.what}: {len(self.data) - self.pos} trailing bytes",
                details={"reason": TeeReason.MALFORMED, "field": "trailing"},
            )


def _unsupported(message: str, **details: object) -> TeeRefused:
    return TeeRefused(message, reason=TeeReason.UNSUPPORTED_VERSION, details=dict(details))


def parse_quote(raw: bytes) -> Quote:
    """Split a quote into its signed parts; raises TeeMalformed / TeeRefused only."""
    raw = bytes(raw)
    if len(raw) > MAX_QUOTE_SIZE:
        raise TeeMalformed(
            f"quote is {len(raw)} bytes, more than {MAX_QUOTE_SIZE}",
            details={"reason": TeeReason.MALFORMED, "field": "quote"},
        )
    r = _Reader(raw, "quote")
    header = r.take(HEADER_SIZE, "header")
    version, key_type, tee_type = struct.unpack_from("<HHI", header)
    if version not in (3, 4, 5):
        raise _unsupported(f"quote version {version} is not 3, 4 or 5", version=version)
    if key_type != ECDSA_P256:
        raise _unsupported(
            f"attestation key type {key_type} is not 2 (ECDSA P-256)", key_type=key_type
        )
    if tee_type not in (TEE_SGX, TEE_TDX) or (version == 3 and tee_type != TEE_SGX):
        raise _unsupported(f"TEE type 0x{tee_type:x} in a v{version} quote", tee_type=tee_type)
    if version == 5:
        body_type = r.u16("body_type")
        body_size = r.u32("body_size")
        expected = _BODY_TYPES.get(body_type)
        if expected is None or expected[0] != tee_type:
            raise _unsupported(
                f"v5 body type {body_type} with TEE type 0x{tee_type:x}", body_type=body_type
            )
        if body_size != expected[1]:
            raise TeeMalformed(
                f"v5 body type {body_type} must be {expected[1]} bytes, not {body_size}",
                details={"reason": TeeReason.MALFORMED, "field": "body_size"},
            )
    else:
        body_size = TDX10_BODY_SIZE if tee_type == TEE_TDX else SGX_BODY_SIZE
    body_raw = r.take(body_size, "body")
    signed = raw[: r.pos]
    body: SgxReportBody | TdReportBody = (
        TdReportBody(body_raw) if tee_type == TEE_TDX else SgxReportBody(body_raw)
    )
    sig_len = r.u32("signature_data_length")
    sig = _Reader(r.take(sig_len, "signature_data"), "signature data")
    # Bytes after the declared signature data are covered by no signature and ignored:
    # quote-generation libraries hand out fixed-size buffers (tdx_quote is zero-padded,
    # go-tdx-guest's SPR_E4 sample carries a test trailer). They are dropped from
    # ``Quote.raw``, so nothing downstream ever sees them.
    consumed = r.pos
    signature = sig.take(64, "quote_signature")
    attestation_key = sig.take(64, "attestation_key")
    if version == 3:
        inner = sig
    else:
        cert_type = sig.u16("certification_data_type")
        if cert_type != CERT_QE_REPORT:
            raise TeeMalformed(
                f"certification data type {cert_type}, expected 6 (QE report)",
                details={"reason": TeeReason.MALFORMED, "field": "certification_data_type"},
            )
        inner = _Reader(
            sig.take(sig.u32("certification_data_size"), "qe_report_data"),
            "QE report certification data",
        )
        sig.finish()
    qe_report = SgxReportBody(inner.take(SGX_BODY_SIZE, "qe_report"))
    qe_sig = inner.take(64, "qe_report_signature")
    auth = inner.take(inner.u16("qe_auth_data_size"), "qe_auth_data")
    chain_type = inner.u16("pck_certification_data_type")
    if chain_type != CERT_PCK_CHAIN:
        raise TeeMalformed(
            f"PCK certification data type {chain_type}, expected 5 (PEM chain)",
            details={"reason": TeeReason.MALFORMED, "field": "pck_certification_data_type"},
        )
    chain = inner.take(inner.u32("pck_certification_data_size"), "pck_chain")
    inner.finish()
    return Quote(
        version=version,
        tee_type=tee_type,
        header=header,
        body=body,
        signed=signed,
        signature=signature,
        attestation_key=attestation_key,
        qe_report=qe_report,
        qe_report_signature=qe_sig,
        qe_auth_data=auth,
        pck_chain_pem=chain.rstrip(b"\x00"),
        raw=raw[:consumed],
    )
