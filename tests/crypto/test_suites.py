"""The suite registry and the PublicKey/PrivateKey contract every suite must keep."""

from __future__ import annotations

import re

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, padding, rsa, x25519
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.crypto import (
    DEFAULT_AUTH_TYPE,
    PrivateKey,
    PublicKey,
    der,
    generate_private_key,
    load_private_key,
    load_public_key,
    normalize_auth_type,
    supported_auth_types,
)
from isthmus.wire.errors import InvalidKey, UnknownSuite

SUITES = ("ED25519", "SHA256_ECDSA", "SHA256_RSA_PSS", "SM2_SM3")


@pytest.fixture(scope="module")
def keys() -> dict[str, PrivateKey]:
    """One key per suite for the whole module: RSA 3072 generation is the slow part."""
    return {suite: generate_private_key(suite) for suite in SUITES}


@pytest.fixture(params=SUITES)
def suite(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# --- the registry ------------------------------------------------------------------


def test_supported_auth_types() -> None:
    assert supported_auth_types() == SUITES
    assert DEFAULT_AUTH_TYPE == "ED25519"
    assert DEFAULT_AUTH_TYPE in supported_auth_types()


@pytest.mark.parametrize(
    ("given_name", "canonical"),
    [
        ("ED25519", "ED25519"),
        ("ed25519", "ED25519"),
        ("Sha256_Ecdsa", "SHA256_ECDSA"),
        ("sha256_rsa_pss", "SHA256_RSA_PSS"),
        ("SM2_SM3", "SM2_SM3"),
        ("SM2", "SM2_SM3"),
        ("sm2", "SM2_SM3"),
        ("ECDSA_P256", "SHA256_ECDSA"),
        ("ecdsa_p256", "SHA256_ECDSA"),
        ("RSA_PSS", "SHA256_RSA_PSS"),
        ("rsa_pss", "SHA256_RSA_PSS"),
    ],
)
def test_normalize_auth_type(given_name: str, canonical: str) -> None:
    assert normalize_auth_type(given_name) == canonical


@pytest.mark.parametrize(
    "name", ["", "RSA", "ECDSA", "SHA256_RSA", "ED448", "SM3", " ED25519", "ED25519 ", "none"]
)
def test_unknown_auth_types(name: str) -> None:
    with pytest.raises(UnknownSuite):
        normalize_auth_type(name)
    with pytest.raises(UnknownSuite):
        generate_private_key(name)
    with pytest.raises(UnknownSuite):
        load_public_key("irrelevant", name)


def test_default_suite() -> None:
    assert generate_private_key().auth_type == "ED25519"


def test_generate_accepts_aliases() -> None:
    assert generate_private_key("sm2").auth_type == "SM2_SM3"


# --- round trips -------------------------------------------------------------------


def test_round_trip(keys: dict[str, PrivateKey], suite: str) -> None:
    private = keys[suite]
    public = private.public_key()
    assert isinstance(private, PrivateKey) and isinstance(public, PublicKey)
    assert private.auth_type == public.auth_type == suite

    message = b"POST /v1/interconn/schedule/job/create\n" + suite.encode()
    signature = private.sign(message)
    assert public.verify(signature, message) is True

    pem = private.to_pem()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    reloaded = load_private_key(pem)
    assert reloaded.auth_type == suite
    assert reloaded.to_pem() == pem
    assert reloaded.public_key().fingerprint() == public.fingerprint()
    assert public.verify(reloaded.sign(message), message)

    public_pem = public.to_pem()
    assert public_pem.startswith("-----BEGIN PUBLIC KEY-----\n")
    loaded = load_public_key(public_pem, suite)
    assert loaded.auth_type == suite
    assert loaded.to_pem() == public_pem
    assert loaded.verify(signature, message)
    # Surrounding whitespace, as pasted into a contract form, does not matter.
    assert load_public_key("\n  " + public_pem + "\n\n", suite).to_pem() == public_pem


def test_fingerprint(keys: dict[str, PrivateKey], suite: str) -> None:
    public = keys[suite].public_key()
    fingerprint = public.fingerprint()
    assert re.fullmatch(r"[0-9a-f]{64}", fingerprint)
    assert public.fingerprint() == fingerprint
    assert load_public_key(public.to_pem(), suite).fingerprint() == fingerprint
    others = {keys[other].public_key().fingerprint() for other in SUITES if other != suite}
    assert fingerprint not in others


def test_loads_under_alias(keys: dict[str, PrivateKey]) -> None:
    public = keys["SM2_SM3"].public_key()
    assert load_public_key(public.to_pem(), "sm2").auth_type == "SM2_SM3"
    public = keys["SHA256_ECDSA"].public_key()
    assert load_public_key(public.to_pem(), "ECDSA_P256").auth_type == "SHA256_ECDSA"


def test_signatures_are_randomised_or_deterministic_as_specified(
    keys: dict[str, PrivateKey],
) -> None:
    message = b"same message"
    assert keys["ED25519"].sign(message) == keys["ED25519"].sign(message)
    for suite in ("SHA256_ECDSA", "SHA256_RSA_PSS", "SM2_SM3"):
        assert keys[suite].sign(message) != keys[suite].sign(message)


# --- verify never raises -----------------------------------------------------------


def test_bad_signatures_are_false(keys: dict[str, PrivateKey], suite: str) -> None:
    private = keys[suite]
    public = private.public_key()
    message = b"the agreed payload"
    good = private.sign(message)
    bad = [
        b"",
        b"\x00",
        good[:-1],
        good[: len(good) // 2],
        good + b"\x00",
        bytes(len(good)),
        b"\xff" * len(good),
        bytes([good[0] ^ 0x01]) + good[1:],
        bytes(reversed(good)),
        b"x" * 10_000,
    ]
    for signature in bad:
        assert public.verify(signature, message) is False, signature.hex()
    for index in (0, 1, len(good) // 2, len(good) - 1):
        tampered = bytearray(good)
        tampered[index] ^= 0x80
        assert public.verify(bytes(tampered), message) is False
    assert public.verify(good, message + b" ") is False
    assert public.verify(good, b"") is False
    other = generate_private_key(suite) if suite != "SHA256_RSA_PSS" else None
    if other is not None:
        assert other.public_key().verify(good, message) is False


def test_signature_of_another_suite_is_false(keys: dict[str, PrivateKey]) -> None:
    message = b"cross-suite"
    signatures = {suite: keys[suite].sign(message) for suite in SUITES}
    for verifier in SUITES:
        public = keys[verifier].public_key()
        for signer, signature in signatures.items():
            if signer != verifier:
                assert public.verify(signature, message) is False, (verifier, signer)


def test_ecdsa_raw_signature_is_refused(keys: dict[str, PrivateKey]) -> None:
    """P-256 signatures are DER; a 64-octet r||s form is not accepted as an alternative."""
    message = b"m"
    signature = keys["SHA256_ECDSA"].sign(message)
    r_s = [der.decode_integer(content) for _, content in der.decode_sequence(signature)]
    raw = b"".join(value.to_bytes(32, "big") for value in r_s)
    assert keys["SHA256_ECDSA"].public_key().verify(raw, message) is False


def test_rsa_pss_salt_length_is_fixed(keys: dict[str, PrivateKey]) -> None:
    """Salt length = digest length: a PSS signature with another salt length is refused,
    so verification never has to guess."""
    pem = keys["SHA256_RSA_PSS"].to_pem()
    raw = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(raw, rsa.RSAPrivateKey)
    message = b"salted"
    public = keys["SHA256_RSA_PSS"].public_key()
    for salt_length in (0, 20, padding.PSS.MAX_LENGTH):
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=salt_length)
        assert public.verify(raw.sign(message, pss, hashes.SHA256()), message) is False
    exact = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    assert public.verify(raw.sign(message, exact, hashes.SHA256()), message) is True
    assert public.verify(raw.sign(message, padding.PKCS1v15(), hashes.SHA256()), message) is False


# --- refusing keys -----------------------------------------------------------------


def test_public_key_of_another_suite_is_refused(keys: dict[str, PrivateKey]) -> None:
    for owner in SUITES:
        pem = keys[owner].public_key().to_pem()
        for claimed in SUITES:
            if claimed != owner:
                with pytest.raises(InvalidKey):
                    load_public_key(pem, claimed)


@pytest.mark.parametrize(
    "pem",
    [
        "",
        "not a key",
        "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n",
        "-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n",
        "-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n",
        # truncated SM2 and Ed25519 SubjectPublicKeyInfo
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoEcz1UBgi0DQgAE\n"
        "-----END PUBLIC KEY-----",
        "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----",
        "ключ",
    ],
)
def test_garbage_public_pem_is_refused(pem: str, suite: str) -> None:
    with pytest.raises(InvalidKey):
        load_public_key(pem, suite)


def test_private_pem_is_not_a_public_key(keys: dict[str, PrivateKey], suite: str) -> None:
    with pytest.raises(InvalidKey):
        load_public_key(keys[suite].to_pem().decode(), suite)


def _pkcs8(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed448.Ed448PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _spki(key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@pytest.fixture(scope="module")
def small_rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


def test_weak_or_foreign_private_keys_are_refused(
    small_rsa: rsa.RSAPrivateKey, keys: dict[str, PrivateKey]
) -> None:
    p384 = ec.generate_private_key(ec.SECP384R1())
    encrypted = serialization.load_pem_private_key(
        keys["ED25519"].to_pem(), password=None
    ).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    x25519_pem = x25519.X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    refused = [
        _pkcs8(small_rsa),
        _pkcs8(p384),
        _pkcs8(ed448.Ed448PrivateKey.generate()),
        x25519_pem,
        encrypted,
        b"",
        b"garbage",
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        keys["ED25519"].public_key().to_pem().encode(),
    ]
    for pem in refused:
        with pytest.raises(InvalidKey):
            load_private_key(pem)


def test_weak_or_foreign_public_keys_are_refused(small_rsa: rsa.RSAPrivateKey) -> None:
    with pytest.raises(InvalidKey):
        load_public_key(_spki(small_rsa.public_key()), "SHA256_RSA_PSS")
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    with pytest.raises(InvalidKey):
        load_public_key(_spki(p384), "SHA256_ECDSA")
    with pytest.raises(InvalidKey):
        load_public_key(_spki(p384), "SM2_SM3")


def test_traditional_private_key_formats_load(keys: dict[str, PrivateKey]) -> None:
    """Keys made by other tools (SEC 1, PKCS #1) are accepted and re-emitted as PKCS #8."""
    for suite in ("SHA256_ECDSA", "SHA256_RSA_PSS"):
        raw = serialization.load_pem_private_key(keys[suite].to_pem(), password=None)
        assert isinstance(raw, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
        traditional = raw.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        loaded = load_private_key(traditional)
        assert loaded.auth_type == suite
        assert loaded.to_pem() == keys[suite].to_pem()


# --- properties --------------------------------------------------------------------


def _flip(message: bytes, bit: int) -> bytes:
    flipped = bytearray(message or b"\x00")
    index = bit % (len(flipped) * 8)
    flipped[index // 8] ^= 1 << (index % 8)
    return bytes(flipped)


@pytest.mark.parametrize(
    ("name", "examples"),
    [("ED25519", 100), ("SHA256_ECDSA", 100), ("SHA256_RSA_PSS", 25), ("SM2_SM3", 25)],
)
def test_sign_verify_property(keys: dict[str, PrivateKey], name: str, examples: int) -> None:
    private = keys[name]
    public = private.public_key()

    @settings(max_examples=examples, deadline=None)
    @given(message=st.binary(max_size=512), bit=st.integers(min_value=0))
    def check(message: bytes, bit: int) -> None:
        signature = private.sign(message)
        assert public.verify(signature, message)
        assert not public.verify(signature, _flip(message, bit))

    check()
