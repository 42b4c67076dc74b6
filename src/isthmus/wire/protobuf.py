"""Reading protobuf bytes from outside: the one place that knows what malformed bytes raise.

Guarantee: ``parse(message_type, data, what)`` returns a ``message_type`` read from
``data``, or raises ``MalformedMessage`` (whose message is ``what``) when ``data`` is not
one; it never lets protobuf's own ``DecodeError`` or any other exception out for bad
bytes. Only ``DecodeError`` is caught, by name, so a bug elsewhere (a wrong type passed
in, a programming error) is not mistaken for a sender's garbage.

Every user of the wire wraps it in its own refusal: the transport's codec answers
``E0000000616`` (``isthmus.transport.codec.decode``), a component raises its algorithm's
error, ``wire.ptp`` a ``ValueError``.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from google.protobuf import any_pb2
from google.protobuf.message import DecodeError

from isthmus.wire.errors import RequestError


class _Parsable(Protocol):
    def ParseFromString(self, serialized: bytes, /) -> int: ...  # noqa: N802 (protobuf's name)


MessageT = TypeVar("MessageT", bound=_Parsable)


class MalformedMessage(RequestError):
    """Bytes that are not the protobuf message they should have been; the caller turns
    it into its own refusal (its message says what was expected)."""


def parse(message_type: type[MessageT], data: bytes, what: str) -> MessageT:
    """``data`` read as a ``message_type``; ``MalformedMessage(what)`` if it is not one.

    ``what`` is the refusal's message, naming what the bytes should have been (e.g.
    ``"east-west frame is not an Inbound"``)."""
    message = message_type()
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        raise MalformedMessage(what) from exc
    return message


class _Described(_Parsable, Protocol):
    DESCRIPTOR: Any


DescribedT = TypeVar("DescribedT", bound=_Described)


def unpacked(packed: any_pb2.Any, message_type: type[DescribedT], what: str) -> DescribedT | None:
    """The ``message_type`` an ``Any`` holds; ``None`` when it holds another type; and
    ``MalformedMessage(what)`` when it names this type but its bytes are not one
    (``Any.Unpack`` would raise protobuf's ``DecodeError`` there, a partner's doing)."""
    if not packed.Is(message_type.DESCRIPTOR):
        return None
    return parse(message_type, packed.value, what)
