"""BFIA transport ("PTP") headers, codes and reply codecs (digest §4.1-4.3).

Strict in what we send (the spec's ``x-ptp-source-*`` spelling), tolerant in what we
accept: Mesh and FATE OSX send ``x-ptp-from-*``, SecretFlow's yacl misspells the vendor
header ``x-ptp-tecn-provider-code``. A sender that does not know its peer's dialect may
send both spellings (digest §4.1); the ``FROM_*``/``TECN_*`` names exist for that.

Replies come in two layouts that are *not* wire-compatible (digest §8, conflicts):
``TransportOutbound{payload=1, code=2, message=3}`` is what Mesh, Kuscia and yacl parse,
so it is the default; the v1.2 text's ``{metadata=1, payload=2, code=3, message=4}`` is
served only when a client asks for it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Final, Literal, NamedTuple

from isthmus.wire.errors import TransportRefused
from isthmus.wire.ids import is_valid_id
from isthmus.wire.proto import ptp_pb2
from isthmus.wire.protobuf import MalformedMessage, parse

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

#: Mesh's and FATE OSX's spelling of the source headers.
FROM_NODE_ID = "x-ptp-from-node-id"
FROM_INST_ID = "x-ptp-from-inst-id"
#: SecretFlow yacl's spelling of the vendor header (a typo that is now on the wire).
TECN_PROVIDER_CODE = "x-ptp-tecn-provider-code"

#: ``x-ptp-version`` value that selects pass-through mode east-west (v1.2.0 §5.2).
PASS_THROUGH_VERSION = "1"  # noqa: S105 - a protocol version, not a secret

#: Every header name the spec defines, in the spec's spelling.
HEADERS: Final = (
    VERSION,
    TECH_PROVIDER_CODE,
    TRACE_ID,
    TOKEN,
    URI,
    SESSION_ID,
    SOURCE_NODE_ID,
    SOURCE_INST_ID,
    TARGET_NODE_ID,
    TARGET_INST_ID,
    TOPIC,
    TIMEOUT,
)

#: Accepted spellings, the spec's first. Names without variants are absent: ``read`` then
#: looks up the name itself.
ALIASES: dict[str, tuple[str, ...]] = {
    SOURCE_NODE_ID: (SOURCE_NODE_ID, FROM_NODE_ID),
    SOURCE_INST_ID: (SOURCE_INST_ID, FROM_INST_ID),
    TECH_PROVIDER_CODE: (TECH_PROVIDER_CODE, TECN_PROVIDER_CODE),
}


def spellings(name: str) -> tuple[str, ...]:
    """Every spelling of ``name`` a peer may send, the spec's first."""
    return ALIASES.get(name, (name,))


def read(headers: Mapping[str, str], name: str) -> str | None:
    """The first non-empty value of ``name`` under any accepted spelling, else None.

    Starlette's ``Headers`` and gRPC metadata are already lower-case; a plain dict (a
    capture, a test, an ``Inbound.metadata`` from a broker) may not be, and HTTP header
    names are case-insensitive, so a case-folded scan is the fallback. An empty value
    counts as absent, as in ``isthmus.wire.headers``.
    """
    wanted = spellings(name)
    for spelling in wanted:
        value = headers.get(spelling)
        if value:
            return value
    folded = {k.lower(): v for k, v in headers.items() if k.lower() in wanted and v}
    for spelling in wanted:
        if spelling in folded:
            return folded[spelling]
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
        """The code for ``value``; UNKNOWN for strings no BFIA text defines.

        A peer may invent codes; mapping them to UNKNOWN (rather than raising) lets the
        caller treat them as a plain failure, which is what every client read does.
        """
        try:
            return cls(value)
        except ValueError:
            return cls.UNKNOWN


Layout = Literal["3", "v1.2"]
#: The 3-field reply (payload=1, code=2, message=3) that Mesh/Kuscia/yacl parse.
LAYOUT_3: Final = "3"
#: The v1.2 text's 4-field reply (metadata=1, payload=2, code=3, message=4).
LAYOUT_V12: Final = "v1.2"
LAYOUTS: Final = (LAYOUT_3, LAYOUT_V12)


class Reply(NamedTuple):
    """A parsed ``TransportOutbound``; a tuple so callers may unpack it."""

    code: str
    message: str
    payload: bytes


def _empty_reply(layout: str) -> ptp_pb2.TransportOutbound | ptp_pb2.TransportOutboundV12:
    # ``layout`` is typed ``str`` because callers pick it from a request header; an
    # unknown value is a programming error, not a reason to guess the 3-field layout.
    if layout == LAYOUT_3:
        return ptp_pb2.TransportOutbound()
    if layout == LAYOUT_V12:
        return ptp_pb2.TransportOutboundV12()
    raise ValueError(f"unknown TransportOutbound layout {layout!r}; use one of {LAYOUTS}")


def outbound(
    code: str, message: str = "", payload: bytes = b"", *, layout: str = LAYOUT_3
) -> bytes:
    """A serialised ``TransportOutbound`` reply in ``layout`` ("3" or "v1.2")."""
    reply = _empty_reply(layout)
    reply.code = str(code)
    reply.message = message
    reply.payload = payload
    return bytes(reply.SerializeToString())


def parse_outbound(data: bytes, *, layout: str = LAYOUT_3) -> Reply:
    """``(code, message, payload)`` of a serialised reply; ValueError if it is not one.

    Protobuf cannot tell the two layouts apart reliably, so the caller must know which
    one its peer speaks; a reply in the other layout usually fails here (a bytes payload
    read as the UTF-8 ``code``) but may also parse into nonsense.
    """
    what = f"not a TransportOutbound ({layout} layout)"
    try:
        reply = parse(type(_empty_reply(layout)), data, what)
    except MalformedMessage as exc:
        raise ValueError(f"{what}: {exc.__cause__}") from exc
    return Reply(reply.code, reply.message, reply.payload)


# --- routing values from outside ------------------------------------------------------

#: A topic is a queue name, never a path: printable ASCII without spaces, bounded.
#: Looser than an id because platforms put roles and separators in it (SecretFlow:
#: ``guest.0-host.0``; others use ``:``, ``/``, ``#``, ``@``).
MAX_TOPIC_LENGTH = 256
_TOPIC = re.compile(rf"[\x21-\x7e]{{0,{MAX_TOPIC_LENGTH}}}")


def checked_id(value: object, field: str) -> str:
    """``value`` if it is a valid id (``isthmus.wire.ids``: session ids, node ids);
    otherwise the transport's own refusal, ``E0000000400``, naming ``field`` and never
    echoing more than a short prefix of the value."""
    if is_valid_id(value):
        return str(value)
    shown = repr(value)[:60] if isinstance(value, str) else type(value).__name__
    raise TransportRefused(PtpCode.BAD_REQUEST, f"{field}: {shown} is not a valid id")


def checked_topic(value: object, field: str = TOPIC) -> str:
    """``value`` if it is a usable topic (empty allowed); else ``E0000000400``."""
    if isinstance(value, str) and _TOPIC.fullmatch(value):
        return value
    shown = repr(value)[:60] if isinstance(value, str) else type(value).__name__
    raise TransportRefused(
        PtpCode.BAD_REQUEST,
        f"{field}: {shown} is not a topic (at most {MAX_TOPIC_LENGTH} printable ASCII "
        "characters, no spaces)",
    )


def routing(headers: Mapping[str, str], name: str) -> str | None:
    """The routing header ``name`` (``x-ptp-session-id``, ``x-ptp-target-node-id``,
    ``x-ptp-source-node-id``) checked as an id, or None when absent or empty."""
    value = read(headers, name)
    return None if value is None else checked_id(value, name)
