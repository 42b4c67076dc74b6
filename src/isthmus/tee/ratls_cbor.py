"""The CBOR codec of the interoperable RA-TLS evidence extension (CCC "Interoperable
RA-TLS", TCG DICE tagged evidence, X.509 extension 2.23.133.5.4.9).

Layout (definite-length CBOR throughout):

* evidence  = ``tag( [ bstr raw-evidence, bstr claims-buffer ] )``; the tag number names
  the evidence type (IANA 60000 "Intel TEE quote"; rats-tls's private 0x1a7501...);
* claims-buffer = CBOR map ``{ "pubkey-hash": bstr hash-entry, ? "nonce": bstr }``;
* hash-entry = CBOR array ``[ uint hash-alg-id, bstr hash-value ]`` with the IANA
  named-information ids (1 = sha-256, 7 = sha-384, 8 = sha-512).

The quote inside binds ``SHA-256(claims-buffer)``, so the claims are kept as the exact
bytes received (never re-encoded before hashing). Decoding is strict and total: any input
bytes either decode to a :class:`TaggedEvidence` or raise :class:`TeeMalformed` naming the
part that is wrong (``details["key"]``): trailing bytes, a wrong type, an unknown hash
algorithm or a hash of the wrong length are refused. Since the binding is a hash over the
claims bytes as received, two encodings of the same claims are two different bindings;
nothing is ever re-encoded on the verifying side.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Any

import cbor2

from isthmus.wire.errors import TeeMalformed

#: IANA named-information hash algorithm ids -> hashlib names.
HASH_ALGORITHMS: dict[int, str] = {1: "sha256", 7: "sha384", 8: "sha512"}
HASH_IDS: dict[str, int] = {name: ident for ident, name in HASH_ALGORITHMS.items()}

CLAIM_PUBKEY_HASH = "pubkey-hash"
CLAIM_NONCE = "nonce"
#: Refuse evidence extensions beyond this (a quote with its PCK chain is ~5 KB).
MAX_EVIDENCE_BYTES = 256 * 1024


@dataclass(frozen=True)
class TaggedEvidence:
    """One decoded evidence extension: the tag, the raw evidence, and the claims buffer
    exactly as received (the bytes the quote's report data hashes)."""

    tag: int
    evidence: bytes
    claims_buffer: bytes


@dataclass(frozen=True)
class Claims:
    """The custom claims: the public-key hash, its algorithm (hashlib name) and the
    optional nonce."""

    hash_algorithm: str
    key_hash: bytes
    nonce: bytes | None = None


def _malformed(key: str, why: str) -> TeeMalformed:
    return TeeMalformed(f"RA-TLS evidence: {key}: {why}", details={"key": key})


def _loads(data: bytes, key: str) -> Any:
    """Decode exactly one definite-length CBOR item from ``data`` (no trailing bytes)."""
    if len(data) > MAX_EVIDENCE_BYTES:
        raise _malformed(key, f"{len(data)} bytes is more than {MAX_EVIDENCE_BYTES}")
    stream = io.BytesIO(data)
    try:
        item = cbor2.CBORDecoder(stream).decode()
    except Exception as exc:  # cbor2 raises several types (and RecursionError) on bad input
        raise _malformed(key, f"not CBOR ({type(exc).__name__})") from None
    if stream.tell() != len(data):
        raise _malformed(key, f"{len(data) - stream.tell()} trailing bytes after the item")
    return item


def encode_claims(claims: Claims) -> bytes:
    """The claims buffer: a CBOR map, ``pubkey-hash`` first, then ``nonce`` if any."""
    ident = HASH_IDS.get(claims.hash_algorithm)
    if ident is None:
        raise ValueError(f"unknown hash algorithm {claims.hash_algorithm!r}")
    entry = cbor2.dumps([ident, claims.key_hash])
    body: dict[str, bytes] = {CLAIM_PUBKEY_HASH: entry}
    if claims.nonce is not None:
        body[CLAIM_NONCE] = claims.nonce
    return cbor2.dumps(body)


def decode_claims(buffer: bytes) -> Claims:
    """Parse a claims buffer; unknown extra claims are ignored (the spec allows custom
    claims), but the two known ones must have the declared types."""
    item = _loads(buffer, "claims")
    if not isinstance(item, dict) or not all(isinstance(k, str) for k in item):
        raise _malformed("claims", "not a map of text keys")
    entry = item.get(CLAIM_PUBKEY_HASH)
    if not isinstance(entry, bytes):
        raise _malformed(CLAIM_PUBKEY_HASH, "missing, or not a byte string")
    pair = _loads(entry, CLAIM_PUBKEY_HASH)
    if not (isinstance(pair, list | tuple) and len(pair) == 2):
        raise _malformed(CLAIM_PUBKEY_HASH, "not a [hash-alg-id, hash-value] array")
    ident, value = pair
    if type(ident) is not int or not isinstance(value, bytes):
        raise _malformed(CLAIM_PUBKEY_HASH, "hash-alg-id must be uint, hash-value bstr")
    name = HASH_ALGORITHMS.get(ident)
    if name is None:
        raise _malformed(CLAIM_PUBKEY_HASH, f"hash algorithm id {ident} is not 1, 7 or 8")
    if len(value) != hashlib.new(name).digest_size:
        raise _malformed(CLAIM_PUBKEY_HASH, f"{len(value)}-byte value for {name}")
    nonce = item.get(CLAIM_NONCE)
    if nonce is not None and not isinstance(nonce, bytes):
        raise _malformed(CLAIM_NONCE, "not a byte string")
    return Claims(hash_algorithm=name, key_hash=value, nonce=nonce)


def encode_evidence(tag: int, evidence: bytes, claims_buffer: bytes) -> bytes:
    """``tag([evidence, claims_buffer])`` as definite-length CBOR."""
    return cbor2.dumps(cbor2.CBORTag(tag, [evidence, claims_buffer]))


def decode_evidence(data: bytes) -> TaggedEvidence:
    """Parse the extension value; the claims buffer is returned as received."""
    item = _loads(data, "evidence")
    if not isinstance(item, cbor2.CBORTag):
        raise _malformed("evidence", "not a tagged CBOR item")
    value = item.value
    if not (isinstance(value, list | tuple) and len(value) == 2):
        raise _malformed("evidence", "the tagged item is not a two-entry array")
    raw, claims = value
    if not isinstance(raw, bytes) or not isinstance(claims, bytes):
        raise _malformed("evidence", "both entries must be byte strings")
    return TaggedEvidence(tag=int(item.tag), evidence=raw, claims_buffer=claims)
