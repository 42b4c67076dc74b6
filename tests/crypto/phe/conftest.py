"""One 1024-bit test key per session: key generation is the slow part of these tests."""

from __future__ import annotations

import pytest

from isthmus.crypto.phe import PaillierPrivateKey, PaillierPublicKey, generate_keypair


@pytest.fixture(scope="session")
def keypair() -> tuple[PaillierPublicKey, PaillierPrivateKey]:
    return generate_keypair(1024, allow_insecure=True)


@pytest.fixture(scope="session")
def pk(keypair: tuple[PaillierPublicKey, PaillierPrivateKey]) -> PaillierPublicKey:
    return keypair[0]


@pytest.fixture(scope="session")
def sk(keypair: tuple[PaillierPublicKey, PaillierPrivateKey]) -> PaillierPrivateKey:
    return keypair[1]
