"""BFIA transport ("PTP") headers, codes and reply codecs (digest §4.1-4.3).

Strict in what we send (the spec's ``x-ptp-source-*`` spelling), tolerant in what we
accept: Mesh and FATE OSX send ``x-ptp-from-*``, SecretFlow's yacl misspells the vendor
header ``x-ptp-tecn-provider-code``.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from isthmus.wire.proto import ptp_pb2

VERSION = "x-ptp-version"
TECH_PROVIDER_CODE = "x-ptp-tech-provider-code"
TRACE_ID = "x-ptp-trace-id"
TOKEN = "x-ptp-token"  # noqa: S105 - a header name, not a secret
URI = "x-ptp-uri"
SESSION_ID = "x-ptp-session-id"
SOURCE_NODE_ID = "x-ptp-source-node-id"
SOURCE_INST_ID = "x-ptp-source-inst-id"
TARGET_NODE_ID = "x-ptp-target-node-id"
TARGET_INST_ID = "x-ptp-target-inst-id"
TOPIC = "x-ptp-topic"
TIMEOUT = "x-ptp-timeout"

ALIASES: dict[str, tuple[str, ...]] = {
    SOURCE_NODE_ID: (SOURCE_NODE_ID, "x-ptp-from-node-id"),
    SOURCE_INST_ID: (SOURCE_INST_ID, "x-ptp-from-inst-id"),
    TECH_PROVIDER_CODE: (TECH_PROVIDER_CODE, "x-ptp-tecn-provider-code"),
}


def read(headers: Mapping[str, str], name: str) -> str | None:
    """The first non-empty value of ``name`` under any accepted spelling."""
    for spelling in ALIASES.get(name, (name,)):
        value = headers.get(spelling)
        if value:
            return value
    return None


class PtpCode(StrEnum):
    """Transport result codes, strings on the wire (digest §4.3)."""

    OK = "E0000000000"
    BAD_REQUEST = "E0000000400"
    UNAUTHORIZED = "E0000000403"
    NOT_FOUND = "E0000000404"
    TOO_LARGE = "E0000000413"
    SYSTEM_ERROR = "E0000000500"
    UNREACHABLE_LOOP = "E0000000503"
    UNKNOWN = "E0000000520"
    INCOMPATIBLE = "E0000000600"
    TIMEOUT = "E0000000601"
    NO_INSTANCE = "E0000000602"
    CERT_ERROR = "E0000000603"
    NODE_AUTH_EXPIRED = "E0000000604"
    NETWORK_JOIN_EXPIRED = "E0000000605"
    PEER_DISABLED = "E0000000606"
    NETWORK_UNREACHABLE = "E0000000607"
    SESSION_RELEASED = "E0000000608"
    NOT_LICENSED = "E0000000614"
    BAD_SIGNATURE = "E0000000615"
    CODEC_ERROR = "E0000000616"
    VERSION_MISMATCH = "E0000000617"
    NOT_NETWORKED = "E0000000618"
    BAD_ADDRESS = "E0000000619"
    BUFFER_FULL = "E0000000700"

    @classmethod
    def parse(cls, value: str) -> PtpCode:
        """The code for ``value``; UNKNOWN for strings no BFIA text defines."""
        try:
            return cls(value)
        except ValueError:
            return cls.UNKNOWN


def outbound(code: str, message: str = "", payload: bytes = b"", *, layout: str = "3") -> bytes:
    """A serialised ``TransportOutbound`` reply; ``layout="v1.2"`` for the 4-field text."""
    reply: ptp_pb2.TransportOutbound | ptp_pb2.TransportOutboundV12
    if layout == "v1.2":
        reply = ptp_pb2.TransportOutboundV12(code=code, message=message, payload=payload)
    else:
        reply = ptp_pb2.TransportOutbound(code=code, message=message, payload=payload)
    return bytes(reply.SerializeToString())


def parse_outbound(data: bytes, *, layout: str = "3") -> tuple[str, str, bytes]:
    """(code, message, payload) of a reply; ValueError if it is not one."""
    message: ptp_pb2.TransportOutbound | ptp_pb2.TransportOutboundV12 = (
        ptp_pb2.TransportOutboundV12() if layout == "v1.2" else ptp_pb2.TransportOutbound()
    )
    try:
        message.ParseFromString(data)
    except Exception as exc:  # protobuf's DecodeError
        raise ValueError(f"not a TransportOutbound: {exc}") from exc
    return message.code, message.message, message.payload
