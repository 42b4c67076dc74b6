"""What the Beaver client and service agree on besides the generated messages.

The PDF gives the seed as ``Int128Proto{hi int64, lo uint64}`` and is silent on how its
16 bytes become the cipher key; ours: the key is ``hi`` (two's complement) big-endian
followed by ``lo`` big-endian, so ``seed_of(*int128_of(key)) == key`` for every key
(property-tested). Field and cipher numbers are those of ``beaver.proto``.
"""

from __future__ import annotations

from isthmus.mpc.prg import PrgCrypto
from isthmus.mpc.ring import RING64, RING128, Ring

SEED_BYTES = 16
#: ``FieldType`` of each ring served (FM64 = 2, FM128 = 3; FM32 = 1 is not).
FIELD_OF: dict[int, int] = {64: 2, 128: 3}
RING_OF_FIELD: dict[int, Ring] = {2: RING64, 3: RING128}
#: ``PrgCryptoType`` (our extension field of CreateSession; 0 = AES, the default).
CRYPTO_CODES: dict[str, int] = {"AES128_CTR": 0, "SM4_CTR": 2}
CRYPTO_OF_CODE: dict[int, PrgCrypto] = {0: "AES128_CTR", 2: "SM4_CTR"}


def int128_of(seed: bytes) -> tuple[int, int]:
    """(hi, lo) of a 16-byte seed: hi signed, lo unsigned, both big-endian halves."""
    if len(seed) != SEED_BYTES:
        raise ValueError(f"a seed is {SEED_BYTES} bytes, not {len(seed)}")
    return int.from_bytes(seed[:8], "big", signed=True), int.from_bytes(seed[8:], "big")


def seed_of(hi: int, lo: int) -> bytes:
    """The 16-byte seed of an ``Int128Proto`` (ValueError if a half is out of range)."""
    try:
        return hi.to_bytes(8, "big", signed=True) + lo.to_bytes(8, "big")
    except OverflowError as exc:
        raise ValueError("Int128Proto half out of range") from exc
