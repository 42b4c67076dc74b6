"""Intel's multi-buffer X25519 gives libsodium's results, lane for lane, and refuses
low-order points; without it (or without AVX-512 IFMA) the suite uses libsodium."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl import bindings

from isthmus.crypto import x25519_mb
from isthmus.crypto.ecdh import CURVE25519, InvalidPoint

ENGINE = x25519_mb.load()
needs_engine = pytest.mark.skipif(
    ENGINE is None, reason="SKIPPED LOUDLY: multi-buffer X25519 unavailable on this machine"
)


def test_the_engine_is_there_where_intel_ships_it() -> None:
    cpu = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    if platform.machine() != "x86_64" or "avx512ifma" not in cpu:
        pytest.skip("SKIPPED LOUDLY: no AVX-512 IFMA here; libsodium is used")
    assert ENGINE is not None


@needs_engine
@settings(max_examples=30, deadline=None)
@given(
    st.binary(min_size=32, max_size=32), st.lists(st.binary(min_size=32, max_size=32), max_size=20)
)
def test_lanes_agree_with_libsodium(secret: bytes, points: list[bytes]) -> None:
    assert ENGINE is not None
    got = ENGINE.scalarmult_many(secret, points)
    for point, product in zip(points, got, strict=True):
        try:
            expected: bytes | None = bytes(bindings.crypto_scalarmult(secret, point))
        except Exception:  # libsodium refuses low-order points
            expected = None
        assert product == expected


@needs_engine
def test_low_order_points_are_refused_in_their_lane_only() -> None:
    assert ENGINE is not None
    secret = os.urandom(32)
    good = CURVE25519.hash_to_point(b"item")
    got = ENGINE.scalarmult_many(secret, [good, bytes(32), good, (1).to_bytes(32, "little")])
    assert got[1] is None and got[3] is None
    assert got[0] == got[2] == bytes(bindings.crypto_scalarmult(secret, good))
    with pytest.raises(InvalidPoint):
        CURVE25519.mask_many(secret, [good, bytes(32)])


def test_the_fallback_can_be_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ISTHMUS_DISABLE_CRYPTO_MB", "1")
    x25519_mb.load.cache_clear()
    try:
        assert x25519_mb.load() is None
        secret = os.urandom(32)
        point = CURVE25519.hash_to_point(b"x")
        assert CURVE25519.mask_many(secret, [point]) == [
            bytes(bindings.crypto_scalarmult(secret, point))
        ]
    finally:
        monkeypatch.delenv("ISTHMUS_DISABLE_CRYPTO_MB")
        x25519_mb.load.cache_clear()
