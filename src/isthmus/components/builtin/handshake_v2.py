"""What every PPCA handshake v2 responder does with a request before reading its
algorithm's own parameters (digest §5.1): refuse a version below 2 before anything else,
refuse bytes that are not a ``HandshakeRequest``, refuse a request that does not offer
this algorithm — each as a :class:`HandshakeRefused` carrying the PPCA code the refusal
sends back, so no component can answer a malformed request differently from another."""

from __future__ import annotations

from typing import ClassVar, Final

from isthmus.components.errors import AlgorithmError
from isthmus.wire.proto import handshake_pb2, interconnection_common_pb2
from isthmus.wire.protobuf import MalformedMessage, parse

VERSION: Final = 2
CODES = interconnection_common_pb2


class HandshakeRefused(AlgorithmError):
    """The handshake ended in a refusal (sent or received), with its PPCA code; each
    algorithm subclasses it to name itself in the message."""

    algorithm: ClassVar[str] = ""

    def __init__(self, code: int, message: str) -> None:
        name = f"{self.algorithm} " if self.algorithm else ""
        super().__init__(f"{name}handshake refused ({code}): {message}")
        self.code = code


def parse_request(
    data: bytes, sender: int, algo: int, refused: type[HandshakeRefused]
) -> handshake_pb2.HandshakeRequest:
    """Rank ``sender``'s request, checked for version, shape and the offer of ``algo``."""
    try:
        helper = parse(handshake_pb2.HandshakeVersionCheckHelper, data, f"rank {sender}")
        if helper.version < VERSION:
            raise refused(
                CODES.UNSUPPORTED_VERSION, f"rank {sender} speaks version {helper.version}"
            )
        message = parse(handshake_pb2.HandshakeRequest, data, f"rank {sender}'s request")
    except MalformedMessage as exc:
        raise refused(CODES.INVALID_REQUEST, exc.message) from exc
    if algo not in message.supported_algos:
        what = refused.algorithm or f"algorithm {algo}"
        raise refused(CODES.UNSUPPORTED_ALGO, f"rank {sender} does not offer {what}")
    return message
