"""Counter-mode PRGs (AES128-CTR, SM4-CTR) whose every buffer can be regenerated.

The keystream is the block cipher in CTR mode under the 16-byte seed, over 128-bit
big-endian block counters starting at 0 (encrypting zeros). ``counter`` is the number of
16-byte blocks consumed; ``bytes(n)`` takes ``ceil(n/16)`` blocks and drops the unused
tail of the last one, so every buffer starts on a block boundary. That makes a buffer a
pure function of ``(seed, counter, n)``: ``Prg.at`` regenerates it, which is what lets a
Beaver service (given ``PrgBufferMeta{prg_count, size}``) recompute a party's shares, and
what keeps two parties that consume the same sizes in the same order in step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from isthmus.mpc.ring import Ring, Tensor
from isthmus.wire.errors import MpcInputError

PrgCrypto = Literal["AES128_CTR", "SM4_CTR"]
PRG_CRYPTO_CODES: dict[str, int] = {"AES128_CTR": 1, "SM4_CTR": 2}
SEED_BYTES = 16
BLOCK = 16
_COUNTER_LIMIT = 1 << 128
_Bytes = bytes  # ``Prg.bytes`` shadows the builtin inside the class body


def _keystream(seed: bytes, crypto: str, counter: int, nbytes: int) -> bytes:
    if len(seed) != SEED_BYTES:
        raise MpcInputError(f"a PRG seed is {SEED_BYTES} bytes, not {len(seed)}")
    if crypto == "AES128_CTR":
        algorithm: algorithms.AES | algorithms.SM4 = algorithms.AES(seed)
    elif crypto == "SM4_CTR":
        algorithm = algorithms.SM4(seed)
    else:
        raise MpcInputError(f"unknown PRG crypto {crypto!r}")
    blocks = -(-nbytes // BLOCK)
    if counter < 0 or counter + blocks > _COUNTER_LIMIT:
        raise MpcInputError("PRG counter outside the 128-bit block counter")
    nonce = counter.to_bytes(BLOCK, "big")
    encryptor = Cipher(algorithm, modes.CTR(nonce)).encryptor()
    return encryptor.update(bytes(blocks * BLOCK))[:nbytes]


class Prg:
    """One party's PRG stream; see the module docstring for the layout."""

    def __init__(self, seed: bytes, crypto: PrgCrypto = "AES128_CTR") -> None:
        _keystream(seed, crypto, 0, 0)  # validates seed and crypto
        self._seed = bytes(seed)
        self.crypto: PrgCrypto = crypto
        self.counter = 0

    def __repr__(self) -> str:  # never show the seed
        return f"Prg(crypto={self.crypto!r}, counter={self.counter})"

    def bytes(self, n: int) -> bytes:
        out = _keystream(self._seed, self.crypto, self.counter, n)
        self.counter += -(-n // BLOCK)
        return out

    def ring(self, ring: Ring, shape: Sequence[int]) -> Tensor:
        return ring.from_bytes(self.bytes(ring.nbytes(shape)), shape)

    @staticmethod
    def at(seed: _Bytes, crypto: PrgCrypto, prg_count: int, nbytes: int) -> _Bytes:
        """The bytes ``bytes(nbytes)`` returned when the counter stood at ``prg_count``."""
        return _keystream(seed, crypto, prg_count, nbytes)
