"""HyperEnclave (Ant Group's hypervisor-based enclaves): parse the quote, check what can
be checked offline, and say plainly what cannot.

The quote has the layout of an EPID-era ``sgx_quote_t`` (UAL
``verification/platforms/hyperenclave``): a 48-byte header (version, sign type, EPID
group, QE/PCE SVN, xeid, 32-byte basename whose first 16 bytes UAL reads as the SPID),
the 384-byte SGX report body, ``signature_len`` (u32), then the signature structure::

    enclave_sig[64]       SM2 r||s over the report body, by the hypervisor's key
    hv_att_key_pub[64]    that key, x||y (SM2 curve)
    platform_attest[147]  a TPM2 TPMS_ATTEST (quote of the PCRs, which include the
                          hash of hv_att_key_pub)
    platform_sig[64]      SM2 r||s over platform_attest, by the TPM's signing key
    cert[]                DER certificate of that TPM key, its PCR list in ext 1.2.86.1

Checked here: every length, the report body's attributes, and the enclave signature
under ``hv_att_key_pub`` (SM2 with UAL's 14-byte user id 01..0E). That signature alone
proves nothing about the platform, because the key travels with it: trusting the key
needs the TPM quote, its signature under the certificate's key, the PCR digest, and the
certificate's chain to the HyperEnclave platform root, which is not published for
offline use. Those stay in ``Verified.unverified``; a policy therefore refuses every
HyperEnclave verdict with ``unverifiable_offline`` (see ``tee/policy.py``). There are no
public HyperEnclave test vectors; the tests use synthetic quotes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from isthmus.crypto import sm2
from isthmus.tee.binding import binding_attributes
from isthmus.tee.verdict import Verified, VerifyContext
from isthmus.wire.errors import InvalidKey, TeeMalformed, TeeRefused
from isthmus.wire.tee import (
    HyperEnclaveReport,
    TeePlatform,
    TeeReason,
    UnifiedAttestationAttributes,
    UnifiedAttestationReport,
    b64_bytes,
    parse_body,
)

HEADER_SIZE = 48
BODY_SIZE = 384
SIG_FIXED = 64 + 64 + 147 + 64
MAX_CERT = 2048
USER_ID = bytes(range(1, 15))
UNVERIFIED = (
    "platform_attestation_signature",
    "platform_pcr_digest",
    "platform_certificate_chain",
)


@dataclass(frozen=True)
class HyperEnclaveQuote:
    raw: bytes
    report_body: bytes
    spid: bytes
    enclave_sig: bytes
    att_key: bytes
    platform_attest: bytes
    platform_sig: bytes
    cert: bytes


def _malformed(why: str) -> TeeMalformed:
    return TeeMalformed(f"HyperEnclave quote: {why}", details={"key": "b64_quote"})


def parse_quote(quote: bytes) -> HyperEnclaveQuote:
    """Split a quote into its parts; every length is checked, the quote is consumed
    exactly."""
    if len(quote) < HEADER_SIZE + BODY_SIZE + 4:
        raise _malformed(f"{len(quote)} bytes is shorter than header, body and length")
    (sig_len,) = struct.unpack_from("<I", quote, HEADER_SIZE + BODY_SIZE)
    sig = quote[HEADER_SIZE + BODY_SIZE + 4 :]
    if sig_len != len(sig):
        raise _malformed(f"signature_len {sig_len} but {len(sig)} bytes follow")
    cert_len = sig_len - SIG_FIXED
    if not 0 < cert_len <= MAX_CERT:
        raise _malformed(f"platform certificate of {cert_len} bytes")
    return HyperEnclaveQuote(
        raw=quote,
        report_body=quote[HEADER_SIZE : HEADER_SIZE + BODY_SIZE],
        spid=quote[16:32],  # basename[0:16] (the header's basename starts at 16)
        enclave_sig=sig[0:64],
        att_key=sig[64:128],
        platform_attest=sig[128:275],
        platform_sig=sig[275:339],
        cert=sig[339:],
    )


def attributes(quote: HyperEnclaveQuote) -> UnifiedAttestationAttributes:
    """The SGX report body mapped as for SGX (docs: the attribute table)."""
    body = quote.report_body
    flags = int.from_bytes(body[48:56], "little")
    data = body[320:384]
    return UnifiedAttestationAttributes(
        str_tee_platform=TeePlatform.HYPER_ENCLAVE,
        hex_platform_sw_version=body[0:16].hex().upper(),
        hex_secure_flags=body[48:64].hex().upper(),
        hex_ta_measurement=body[64:96].hex().upper(),
        hex_signer=body[128:160].hex().upper(),
        hex_prod_id=body[256:258].hex().upper(),
        str_min_isvsvn=str(int.from_bytes(body[258:260], "little")),
        bool_debug_disabled="false" if flags & 0x2 else "true",
        **binding_attributes(data),
        hex_spid=quote.spid.hex().upper(),
    )


def check_enclave_signature(quote: HyperEnclaveQuote) -> None:
    """The report body's SM2 signature under the key carried in the quote."""
    try:
        key = sm2.Sm2Point.decode(b"\x04" + quote.att_key)
    except (InvalidKey, ValueError):
        raise _malformed("hv_att_key_pub is not a point on the SM2 curve") from None
    r = int.from_bytes(quote.enclave_sig[:32], "big")
    s = int.from_bytes(quote.enclave_sig[32:], "big")
    if not sm2.verify(key, quote.report_body, sm2.encode_signature(r, s), ident=USER_ID):
        raise TeeRefused(
            "HyperEnclave report body signature does not verify under its attestation key",
            reason=TeeReason.SIGNATURE_INVALID,
            details={"signature": "enclave_sig"},
        )


def verify_hyperenclave(report: UnifiedAttestationReport, context: VerifyContext) -> Verified:
    """Parse and check offline what can be; the rest is listed in ``unverified``."""
    del context  # nothing here depends on time or anchors: the chain is not checkable
    body = parse_body(report)
    if not isinstance(body, HyperEnclaveReport):
        raise TeeRefused(
            f"not a HyperEnclave report: {report.str_tee_platform[:40]}",
            reason=TeeReason.UNSUPPORTED_PLATFORM,
        )
    raw = b64_bytes("b64_quote", body.b64_quote)
    quote = parse_quote(raw)
    check_enclave_signature(quote)
    return Verified(
        platform=TeePlatform.HYPER_ENCLAVE,
        attributes=attributes(quote),
        tcb_status="Unverified",
        evidence=raw,
        unverified=UNVERIFIED,
    )
