"""Key grammar of the white-box link (digest §4.5), as SecretFlow's yacl writes it.

* connect: ``connect_<rank>`` (yacl sends ``connect_<rank>\\x01\\x020``);
* P2P: ``<channel>:P2P-<n>:<src>-><dst>``, ``n`` from 1 per channel and ordered pair;
* collectives: ``<channel>:<n>:<OP>`` with one counter per channel;
* yacl's de-facto extension: ``\\x01\\x02<seq>`` appended to data keys, ``ACK\\x01\\x02``
  and ``FIN\\x01\\x02`` control messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from isthmus.wire.errors import LinkProtocolError

SEQ_MARK = "\x01\x02"
ACK_KEY = "ACK" + SEQ_MARK
FIN_KEY = "FIN" + SEQ_MARK
CONNECT_PREFIX = "connect_"
COLLECTIVES = ("SCATTER", "GATHER", "ALLGATHER", "BCAST")

_CHANNEL = r"\w+?(?:-\d+)*"
_CHANNEL_RE = re.compile(rf"^{_CHANNEL}$")
_P2P_RE = re.compile(rf"^(?P<channel>{_CHANNEL}):P2P-(?P<n>\d+):(?P<src>\d+)->(?P<dst>\d+)$")
_COLLECTIVE_RE = re.compile(
    rf"^(?P<channel>{_CHANNEL}):(?P<n>\d+):(?P<op>{'|'.join(COLLECTIVES)})$"
)


@dataclass(frozen=True)
class P2PKey:
    channel: str
    counter: int
    src: int
    dst: int

    def __str__(self) -> str:
        return f"{self.channel}:P2P-{self.counter}:{self.src}->{self.dst}"


def check_channel(name: str) -> str:
    if not _CHANNEL_RE.match(name):
        raise LinkProtocolError(f"channel name {name!r} is not \\w+ with -<n> sub-channels")
    return name


def split_seq(key: str) -> tuple[str, int | None]:
    """``(key without suffix, seq)``; seq is None when there is no numeric suffix."""
    if key in (ACK_KEY, FIN_KEY):
        return key, None
    base, mark, tail = key.rpartition(SEQ_MARK)
    if not mark:
        return key, None
    if not tail.isdigit():
        raise LinkProtocolError(f"key {key!r} has a non-numeric sequence suffix")
    return base, int(tail)


def with_seq(key: str, seq: int) -> str:
    return f"{key}{SEQ_MARK}{seq}"


def connect_key(rank: int) -> str:
    return f"{CONNECT_PREFIX}{rank}"


def p2p_key(channel: str, counter: int, src: int, dst: int) -> str:
    if counter < 1:
        raise LinkProtocolError("P2P counters start at 1")
    return str(P2PKey(check_channel(channel), counter, src, dst))


def parse_p2p(key: str) -> P2PKey | None:
    match = _P2P_RE.match(key)
    if match is None:
        return None
    return P2PKey(match["channel"], int(match["n"]), int(match["src"]), int(match["dst"]))


def collective_key(channel: str, counter: int, op: str) -> str:
    if op not in COLLECTIVES:
        raise LinkProtocolError(f"unknown collective {op!r}")
    return f"{check_channel(channel)}:{counter}:{op}"


def parse_collective(key: str) -> tuple[str, int, str] | None:
    match = _COLLECTIVE_RE.match(key)
    return None if match is None else (match["channel"], int(match["n"]), match["op"])
