"""PRG known answers (NIST SP800-38A, GB/T 32907) and the counter layout."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.mpc.prg import Prg
from isthmus.mpc.ring import RING64, RING128
from isthmus.wire.errors import MpcInputError

NIST_KEY = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
NIST_COUNTER = int("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff", 16)
NIST_PLAIN = bytes.fromhex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51")
NIST_CIPHER = bytes.fromhex("874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff")


def xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def test_aes_ctr_matches_nist_sp800_38a_f51() -> None:
    # two blocks: the second counter carries across the low byte (..feff -> ..ff00)
    stream = Prg.at(NIST_KEY, "AES128_CTR", NIST_COUNTER, 32)
    assert xor(stream, NIST_PLAIN) == NIST_CIPHER


def test_aes_block_is_ecb_of_the_counter() -> None:
    block = int("6bc1bee22e409f96e93d7e117393172a", 16)
    expected = bytes.fromhex("3ad77bb40d7a3660a89ecaf32466ef97")  # SP800-38A F.1.1
    assert Prg.at(NIST_KEY, "AES128_CTR", block, 16) == expected


def test_sm4_block_is_the_gbt_32907_example() -> None:
    key = bytes.fromhex("0123456789abcdeffedcba9876543210")
    expected = bytes.fromhex("681edf34d206965e86b3e94f536e4246")
    assert Prg.at(key, "SM4_CTR", int.from_bytes(key, "big"), 16) == expected


@pytest.mark.parametrize("crypto", ["AES128_CTR", "SM4_CTR"])
def test_stream_starts_at_counter_zero(crypto: str) -> None:
    key = bytes(range(16))
    algorithm = algorithms.AES(key) if crypto == "AES128_CTR" else algorithms.SM4(key)
    ecb = Cipher(algorithm, modes.ECB()).encryptor()
    blocks = b"".join(ecb.update(i.to_bytes(16, "big")) for i in range(3))
    prg = Prg(key, crypto)  # type: ignore[arg-type]
    assert prg.bytes(48) == blocks
    assert prg.counter == 3


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(0, 70), min_size=1, max_size=6))
def test_partial_blocks_are_dropped_and_at_regenerates(sizes: list[int]) -> None:
    seed = b"0123456789abcdef"
    prg = Prg(seed, "SM4_CTR")
    for size in sizes:
        start = prg.counter
        out = prg.bytes(size)
        assert len(out) == size
        assert prg.counter == start + -(-size // 16)
        assert Prg.at(seed, "SM4_CTR", start, size) == out


def test_ring_tensors_from_the_stream() -> None:
    prg = Prg(bytes(16))
    a = prg.ring(RING128, (3, 2))
    assert a.shape == (3, 2, 2)
    assert prg.counter == 6
    b = prg.ring(RING64, (3,))
    assert RING64.to_bytes(b) == Prg.at(bytes(16), "AES128_CTR", 6, 24)
    assert "counter=8" in repr(prg)
    assert "00000" not in repr(prg)


def test_bad_seed_and_crypto_are_refused() -> None:
    with pytest.raises(MpcInputError):
        Prg(bytes(15))
    with pytest.raises(MpcInputError):
        Prg(bytes(16), "DES")  # type: ignore[arg-type]
