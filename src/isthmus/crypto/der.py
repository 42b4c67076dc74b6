"""The sliver of ASN.1 DER that SM2 keys and signatures need, plus PEM armour.

``cryptography`` serialises every other suite, but it (like the OpenSSL it wraps) does
not know the SM2 curve, so SM2 keys and signatures must be read and written here. Only
definite-length, low-tag-number DER is accepted, and every length and INTEGER must be in
its minimal form: a signature or key has exactly one valid encoding, so a peer cannot
produce a second, different-looking copy of a signature that still verifies.

Malformed input raises :class:`~isthmus.wire.errors.InvalidKey`, since keys are what this
module carries; signature verifiers catch it and answer ``False``.
"""

from __future__ import annotations

import base64
import binascii
import re
import textwrap

from isthmus.wire.errors import InvalidKey

INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
NULL = 0x05
OBJECT_IDENTIFIER = 0x06
SEQUENCE = 0x30

_CONSTRUCTED_CONTEXT = 0xA0
_MAX_LENGTH_OCTETS = 4  # 4 GiB is far beyond any key or signature; refuse instead of guessing


def context_tag(number: int) -> int:
    """Tag byte of the constructed ``[number]`` EXPLICIT wrapper ECPrivateKey uses."""
    if not 0 <= number <= 30:
        raise ValueError("only low-tag-number context tags are supported")
    return _CONSTRUCTED_CONTEXT | number


# --- encoding ------------------------------------------------------------------------


def encode_length(length: int) -> bytes:
    if length < 0:
        raise ValueError("negative length")
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def encode_tlv(tag: int, content: bytes) -> bytes:
    if not 0 <= tag <= 0xFF or tag & 0x1F == 0x1F:
        raise ValueError("only single-byte tags are supported")
    return bytes([tag]) + encode_length(len(content)) + content


def encode_integer(value: int) -> bytes:
    # Two's complement in the fewest octets: a positive value whose top bit is set gets a
    # leading zero octet so it is not read back as negative.
    size = value.bit_length() // 8 + 1 if value >= 0 else (~value).bit_length() // 8 + 1
    return encode_tlv(INTEGER, value.to_bytes(size, "big", signed=True))


def encode_octet_string(data: bytes) -> bytes:
    return encode_tlv(OCTET_STRING, data)


def encode_bit_string(data: bytes) -> bytes:
    """Only whole-octet strings: keys never need a ragged final octet."""
    return encode_tlv(BIT_STRING, b"\x00" + data)


def encode_oid(dotted: str) -> bytes:
    try:
        arcs = [int(part) for part in dotted.split(".")]
    except ValueError:
        raise ValueError(f"not a dotted OID: {dotted!r}") from None
    if len(arcs) < 2 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] >= 40) or min(arcs) < 0:
        raise ValueError(f"not a valid OID: {dotted!r}")
    body = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        # Base 128, most significant group first, continuation bit on all but the last.
        groups = max(1, (arc.bit_length() + 6) // 7)
        for index in range(groups - 1, -1, -1):
            body.append((arc >> (7 * index)) & 0x7F | (0x80 if index else 0))
    return encode_tlv(OBJECT_IDENTIFIER, bytes(body))


def encode_sequence(*items: bytes) -> bytes:
    """``items`` are already-encoded TLVs, so nesting is just function composition."""
    return encode_tlv(SEQUENCE, b"".join(items))


# --- decoding ------------------------------------------------------------------------


def decode_tlv(data: bytes, offset: int = 0) -> tuple[int, bytes, int]:
    """Read one element at ``offset``; returns ``(tag, content, offset_after)``."""
    if offset + 2 > len(data):
        raise InvalidKey("DER: truncated element header")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise InvalidKey("DER: multi-byte tags are not supported")
    first = data[offset + 1]
    offset += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0:
            raise InvalidKey("DER: indefinite length is not DER")
        if count > _MAX_LENGTH_OCTETS or offset + count > len(data):
            raise InvalidKey("DER: bad length field")
        length = int.from_bytes(data[offset : offset + count], "big")
        if length < 0x80 or data[offset] == 0:
            raise InvalidKey("DER: length is not minimally encoded")
        offset += count
    end = offset + length
    if end > len(data):
        raise InvalidKey("DER: element runs past the end of its container")
    return tag, bytes(data[offset:end]), end


def decode_single(data: bytes, expected_tag: int) -> bytes:
    """Content of the one element that must make up all of ``data``."""
    tag, content, end = decode_tlv(data)
    if tag != expected_tag:
        raise InvalidKey(f"DER: expected tag 0x{expected_tag:02x}, found 0x{tag:02x}")
    if end != len(data):
        raise InvalidKey("DER: trailing bytes after the element")
    return content


def decode_children(content: bytes) -> list[tuple[int, bytes]]:
    """Split a constructed element's content into ``(tag, content)`` pairs."""
    children: list[tuple[int, bytes]] = []
    offset = 0
    while offset < len(content):
        tag, child, offset = decode_tlv(content, offset)
        children.append((tag, child))
    return children


def decode_sequence(data: bytes) -> list[tuple[int, bytes]]:
    return decode_children(decode_single(data, SEQUENCE))


def decode_integer(content: bytes) -> int:
    if not content:
        raise InvalidKey("DER: empty INTEGER")
    if len(content) > 1 and (
        (content[0] == 0x00 and content[1] < 0x80) or (content[0] == 0xFF and content[1] >= 0x80)
    ):
        raise InvalidKey("DER: INTEGER is not minimally encoded")
    return int.from_bytes(content, "big", signed=True)


def decode_bit_string(content: bytes) -> bytes:
    if not content or content[0] != 0:
        raise InvalidKey("DER: only whole-octet BIT STRINGs are supported")
    return content[1:]


def decode_oid(content: bytes) -> str:
    if not content or content[-1] & 0x80:
        raise InvalidKey("DER: truncated OBJECT IDENTIFIER")
    values: list[int] = []
    value = 0
    fresh = True
    for octet in content:
        if fresh and octet == 0x80:
            raise InvalidKey("DER: OBJECT IDENTIFIER arc is not minimally encoded")
        value = (value << 7) | (octet & 0x7F)
        fresh = not octet & 0x80
        if fresh:
            values.append(value)
            value = 0
    first = values[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(arc) for arc in head + values[1:])


# --- PEM -----------------------------------------------------------------------------

_PEM_RE = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\s*\n([A-Za-z0-9+/=\s]*?)-----END ([A-Z0-9 ]+)-----"
)


def pem_encode(label: str, der: bytes) -> str:
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode("ascii"), 64))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"


def pem_decode(pem: bytes) -> tuple[str, bytes]:
    """The label and DER of the first PEM block; explanatory text around it is allowed,
    as OpenSSL allows it, but the block itself must be clean base64 with no headers
    (headers only occur on legacy encrypted keys, which a node never stores)."""
    match = _PEM_RE.search(pem)
    if match is None:
        raise InvalidKey("not a PEM block")
    label, body, end_label = match.groups()
    if label != end_label:
        raise InvalidKey("PEM BEGIN and END labels differ")
    try:
        der = base64.b64decode(b"".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidKey("PEM body is not valid base64") from None
    return label.decode("ascii"), der
