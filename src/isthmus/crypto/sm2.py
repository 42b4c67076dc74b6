"""SM2 (GB/T 32918) on the recommended curve sm2p256v1.

Chinese partners in BFIA interconnection commonly require SM2/SM3 node identities, and
the OpenSSL that ``cryptography`` wraps does not expose the SM2 curve, so the curve
arithmetic, the signature scheme and the key formats live here, in pure Python. The
point API is public on purpose: SM2-based ECDH-PSI reuses it.

:func:`sign` and :func:`verify` hand the arithmetic to the system's libcrypto
(:mod:`isthmus.crypto.openssl_sm2`, about 5x faster to verify) when it has SM2 and SM3,
and fall back to :func:`sign_python` / :func:`verify_python` otherwise; key formats, the
strict DER checks and the default ID stay here, so the wire format is one.

Side channels: Python integer arithmetic is not constant-time and the window walks
below skip zero digits, so an attacker who can time many signatures precisely may learn
bits of the nonces. That is accepted for node identity over a network; a deployment
whose threat model includes co-resident timing attackers needs libcrypto's path (whose
SM2 signing uses constant-time scalar multiplication) or a hardware SM2.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from typing import Final

from isthmus.crypto import der, openssl_sm2
from isthmus.wire.errors import InvalidKey

# --- curve sm2p256v1 (GB/T 32918.5 §5) ------------------------------------------------

P: Final = 0xFFFFFFFE_FFFFFFFF_FFFFFFFF_FFFFFFFF_FFFFFFFF_00000000_FFFFFFFF_FFFFFFFF
A: Final = 0xFFFFFFFE_FFFFFFFF_FFFFFFFF_FFFFFFFF_FFFFFFFF_00000000_FFFFFFFF_FFFFFFFC
B: Final = 0x28E9FA9E_9D9F5E34_4D5A9E4B_CF6509A7_F39789F5_15AB8F92_DDBCBD41_4D940E93
N: Final = 0xFFFFFFFE_FFFFFFFF_FFFFFFFF_FFFFFFFF_7203DF6B_21C6052B_53BBF409_39D54123
GX: Final = 0x32C4AE2C_1F198119_5F990446_6A39C994_8FE30BBF_F2660BE1_715A4589_334C74C7
GY: Final = 0xBC3736A2_F4F6779C_59BDCEE3_6B692153_D0A9877C_C62A4740_02DF32E5_2139F0A0

COORDINATE_BYTES: Final = 32
_OPENSSL_MAX_ID: Final = 0xFFFF // 8
DEFAULT_ID: Final = b"1234567812345678"
"""The distinguishing ID GB/T 35276 prescribes when none is agreed.

Not every implementation defaults to it: OpenSSL 3.0's ``dgst``/EVP signing uses an
empty ID unless ``distid`` is set, so such peers must be configured explicitly."""

OID_EC_PUBLIC_KEY: Final = "1.2.840.10045.2.1"
OID_SM2_CURVE: Final = "1.2.156.10197.1.301"


_WINDOW: Final = 4
_WINDOW_MASK: Final = (1 << _WINDOW) - 1
_WINDOWS: Final = (N.bit_length() + _WINDOW - 1) // _WINDOW

# Jacobian (X, Y, Z) stands for affine (X/Z², Y/Z³); Z == 0 is the point at infinity.
# Working projectively leaves one modular inversion per scalar multiplication.
_Jacobian = tuple[int, int, int]
_JACOBIAN_INFINITY: Final[_Jacobian] = (1, 1, 0)


def _on_curve(x: int, y: int) -> bool:
    return 0 <= x < P and 0 <= y < P and (y * y - (x * x * x + A * x + B)) % P == 0


def _jacobian_double(point: _Jacobian) -> _Jacobian:
    x1, y1, z1 = point
    if z1 == 0 or y1 == 0:
        return _JACOBIAN_INFINITY
    # a = -3 (mod p) lets 3X² + aZ⁴ be computed as 3(X - Z²)(X + Z²).
    delta = z1 * z1 % P
    gamma = y1 * y1 % P
    beta = x1 * gamma % P
    alpha = 3 * (x1 - delta) * (x1 + delta) % P
    x3 = (alpha * alpha - 8 * beta) % P
    z3 = ((y1 + z1) * (y1 + z1) - gamma - delta) % P
    y3 = (alpha * (4 * beta - x3) - 8 * gamma * gamma) % P
    return x3, y3, z3


def _jacobian_add(p1: _Jacobian, p2: _Jacobian) -> _Jacobian:
    x1, y1, z1 = p1
    x2, y2, z2 = p2
    if z1 == 0:
        return p2
    if z2 == 0:
        return p1
    z1z1 = z1 * z1 % P
    z2z2 = z2 * z2 % P
    u1 = x1 * z2z2 % P
    u2 = x2 * z1z1 % P
    s1 = y1 * z2 * z2z2 % P
    s2 = y2 * z1 * z1z1 % P
    h = (u2 - u1) % P
    r = (s2 - s1) % P
    if h == 0:
        return _jacobian_double(p1) if r == 0 else _JACOBIAN_INFINITY
    hh = h * h % P
    hhh = h * hh % P
    v = u1 * hh % P
    x3 = (r * r - hhh - 2 * v) % P
    y3 = (r * (v - x3) - s1 * hhh) % P
    z3 = z1 * z2 * h % P
    return x3, y3, z3


def _jacobian_add_affine(p1: _Jacobian, x2: int, y2: int) -> _Jacobian:
    """The generator table is affine (Z = 1), which saves a third of the multiplications."""
    x1, y1, z1 = p1
    if z1 == 0:
        return x2, y2, 1
    z1z1 = z1 * z1 % P
    u2 = x2 * z1z1 % P
    s2 = y2 * z1 * z1z1 % P
    h = (u2 - x1) % P
    r = (s2 - y1) % P
    if h == 0:
        return _jacobian_double(p1) if r == 0 else _JACOBIAN_INFINITY
    hh = h * h % P
    hhh = h * hh % P
    v = x1 * hh % P
    x3 = (r * r - hhh - 2 * v) % P
    y3 = (r * (v - x3) - y1 * hhh) % P
    z3 = z1 * h % P
    return x3, y3, z3


def _to_affine(point: _Jacobian) -> tuple[int, int] | None:
    x, y, z = point
    if z == 0:
        return None
    z_inv = pow(z, -1, P)
    z_inv2 = z_inv * z_inv % P
    return x * z_inv2 % P, y * z_inv2 * z_inv % P


@functools.cache
def _generator_table() -> tuple[tuple[tuple[int, int], ...], ...]:
    """``table[i][d - 1]`` is ``d · 16^i · G`` in affine form, for d in 1..15.

    With it, k·G is at most 64 mixed additions and no doublings. Built on first use
    (about 20 ms) rather than at import so processes that never touch SM2 do not pay;
    the cache holds an immutable value, so it is not shared mutable state.
    """
    jacobians: list[_Jacobian] = []
    base: _Jacobian = (GX, GY, 1)
    for _ in range(_WINDOWS):
        multiple = base
        for _ in range(_WINDOW_MASK):
            jacobians.append(multiple)
            multiple = _jacobian_add(multiple, base)
        base = multiple  # 16 · base
    # Montgomery's trick: one inversion for all 960 points instead of one each.
    prefix = [1]
    for _, _, z in jacobians:
        prefix.append(prefix[-1] * z % P)
    inverse = pow(prefix[-1], -1, P)
    affine: list[tuple[int, int]] = [(0, 0)] * len(jacobians)
    for index in range(len(jacobians) - 1, -1, -1):
        x, y, z = jacobians[index]
        z_inv = inverse * prefix[index] % P
        inverse = inverse * z % P
        z_inv2 = z_inv * z_inv % P
        affine[index] = (x * z_inv2 % P, y * z_inv2 * z_inv % P)
    return tuple(tuple(affine[i * _WINDOW_MASK : (i + 1) * _WINDOW_MASK]) for i in range(_WINDOWS))


def _mul_generator(k: int) -> _Jacobian:
    if k.bit_length() > _WINDOWS * _WINDOW:
        k %= N  # G has order N, and the table only covers 256-bit scalars
    table = _generator_table()
    acc = _JACOBIAN_INFINITY
    for i in range(_WINDOWS):
        digit = (k >> (_WINDOW * i)) & _WINDOW_MASK
        if digit:
            x, y = table[i][digit - 1]
            acc = _jacobian_add_affine(acc, x, y)
    return acc


def _mul_point(point: _Jacobian, k: int) -> _Jacobian:
    """A 4-bit window cuts the additions of double-and-add by three quarters. The 15
    multiples are rebuilt on every call: arbitrary points (peer keys, PSI elements) are
    seldom multiplied twice, and a cache keyed by point would be shared mutable state."""
    multiples: list[_Jacobian] = [_JACOBIAN_INFINITY, point]
    for _ in range(2, _WINDOW_MASK + 1):
        multiples.append(_jacobian_add(multiples[-1], point))
    acc = _JACOBIAN_INFINITY
    for shift in range(((k.bit_length() + _WINDOW - 1) // _WINDOW - 1) * _WINDOW, -1, -_WINDOW):
        for _ in range(_WINDOW):
            acc = _jacobian_double(acc)
        acc = _jacobian_add(acc, multiples[(k >> shift) & _WINDOW_MASK])
    return acc


@dataclass(frozen=True, slots=True)
class Sm2Point:
    """An affine point of sm2p256v1, or the point at infinity.

    Construction checks the curve equation, so holding an ``Sm2Point`` means holding a
    valid group element: invalid-curve attacks on ECDH-PSI are ruled out by the type.
    """

    x: int
    y: int
    infinity: bool = False

    def __post_init__(self) -> None:
        if self.infinity:
            if self.x or self.y:
                raise InvalidKey("the point at infinity has no coordinates")
        elif not _on_curve(self.x, self.y):
            raise InvalidKey("point is not on the SM2 curve")

    @classmethod
    def generator(cls) -> Sm2Point:
        return cls(GX, GY)

    @classmethod
    def at_infinity(cls) -> Sm2Point:
        return cls(0, 0, infinity=True)

    @classmethod
    def _from_jacobian(cls, point: _Jacobian) -> Sm2Point:
        affine = _to_affine(point)
        return cls.at_infinity() if affine is None else cls(*affine)

    def _jacobian(self) -> _Jacobian:
        return _JACOBIAN_INFINITY if self.infinity else (self.x, self.y, 1)

    @classmethod
    def decode(cls, data: bytes) -> Sm2Point:
        """SEC 1 §2.3.4 octet string to point. The infinity encoding (a single zero octet)
        and hybrid forms are refused: neither is ever a legitimate public key or PSI
        element, and accepting infinity would let a peer force a known shared value."""
        if len(data) == 1 + 2 * COORDINATE_BYTES and data[0] == 0x04:
            x = int.from_bytes(data[1 : 1 + COORDINATE_BYTES], "big")
            y = int.from_bytes(data[1 + COORDINATE_BYTES :], "big")
            return cls(x, y)  # __post_init__ range- and curve-checks
        if len(data) == 1 + COORDINATE_BYTES and data[0] in (0x02, 0x03):
            x = int.from_bytes(data[1:], "big")
            if x >= P:
                raise InvalidKey("x coordinate is not a field element")
            rhs = (x * x * x + A * x + B) % P
            y = pow(rhs, (P + 1) // 4, P)  # p ≡ 3 (mod 4): this is the square root if any
            if y * y % P != rhs:
                raise InvalidKey("x coordinate of no point on the SM2 curve")
            if (y & 1) != (data[0] & 1):
                y = P - y
            return cls(x, y)
        raise InvalidKey("not an SM2 point encoding (want 33 or 65 octets, 02/03/04 prefix)")

    def encode(self, compressed: bool = False) -> bytes:
        if self.infinity:
            raise InvalidKey("the point at infinity has no key encoding")
        x = self.x.to_bytes(COORDINATE_BYTES, "big")
        if compressed:
            return bytes([0x02 | (self.y & 1)]) + x
        return b"\x04" + x + self.y.to_bytes(COORDINATE_BYTES, "big")

    def mul(self, k: int) -> Sm2Point:
        """k·self. Multiples of the generator use the precomputed table."""
        if k < 0:
            return (-self).mul(-k)
        if self.infinity or k == 0:
            return Sm2Point.at_infinity()
        if self.x == GX and self.y == GY:
            return Sm2Point._from_jacobian(_mul_generator(k))
        return Sm2Point._from_jacobian(_mul_point(self._jacobian(), k))

    def __add__(self, other: Sm2Point) -> Sm2Point:
        return Sm2Point._from_jacobian(_jacobian_add(self._jacobian(), other._jacobian()))

    def __neg__(self) -> Sm2Point:
        return self if self.infinity else Sm2Point(self.x, (P - self.y) % P)

    def __sub__(self, other: Sm2Point) -> Sm2Point:
        return self + (-other)


def mul_generator(k: int) -> Sm2Point:
    """k·G via the fixed-base table; the fast path key generation and signing rely on."""
    return Sm2Point._from_jacobian(_mul_generator(k % N))


# --- keys ----------------------------------------------------------------------------


def generate_private_scalar() -> int:
    """d uniform in [1, n-2]: d = n-1 is excluded because signing divides by 1 + d."""
    return 1 + secrets.randbelow(N - 2)


def public_point(private: int) -> Sm2Point:
    _check_private(private)
    return mul_generator(private)


def _check_private(private: int) -> None:
    if not 1 <= private <= N - 2:
        raise InvalidKey("SM2 private key is outside [1, n-2]")


# --- signatures (GB/T 32918.2 §6, §7) -----------------------------------------------


def _sm3(data: bytes) -> bytes:
    return hashlib.new("sm3", data).digest()


def user_hash(public: Sm2Point, ident: bytes = DEFAULT_ID) -> bytes:
    """Z_A binds the signer's identity and the curve into every signed digest."""
    entl = len(ident) * 8
    if entl > 0xFFFF:
        raise ValueError("SM2 distinguishing ID is longer than 8191 octets")
    return _sm3(
        entl.to_bytes(2, "big")
        + ident
        + b"".join(v.to_bytes(COORDINATE_BYTES, "big") for v in (A, B, GX, GY))
        + public.encode()[1:]
    )


def _digest(public: Sm2Point, message: bytes, ident: bytes) -> int:
    return int.from_bytes(_sm3(user_hash(public, ident) + message), "big")


def _sign_digest(private: int, e: int, k: int) -> tuple[int, int] | None:
    """One signing attempt with nonce k; None when the standard says to draw a new k."""
    affine = _to_affine(_mul_generator(k))
    if affine is None:  # only if k ≡ 0 (mod n), which callers never pass
        return None
    r = (e + affine[0]) % N
    if r == 0 or r + k == N:
        return None
    s = pow(1 + private, -1, N) * (k - r * private) % N
    if s == 0:
        return None
    return r, s


def _use_openssl(ident: bytes) -> bool:
    """libcrypto refuses IDs of 8191 octets and more (ours allows up to 8191), so those
    few stay in Python, which also raises the same ValueError beyond that for both."""
    return len(ident) < _OPENSSL_MAX_ID and openssl_sm2.available()


def sign(
    private: int, message: bytes, *, ident: bytes = DEFAULT_ID, public: Sm2Point | None = None
) -> bytes:
    """DER ``SEQUENCE { r INTEGER, s INTEGER }``, the form OpenSSL reads and writes.

    Z_A needs the signer's public point; a caller that keeps it passes ``public`` to save
    a scalar multiplication per signature (it must be ``public_point(private)``).
    The arithmetic runs in libcrypto when :func:`openssl_sm2.available` (OpenSSL 3 with
    SM2 and SM3), else in :func:`sign_python`; both produce the same wire format.
    """
    _check_private(private)
    if _use_openssl(ident):
        point = public_point(private) if public is None else public
        signature = openssl_sm2.sign(
            private.to_bytes(COORDINATE_BYTES, "big"), point.encode(), message, ident
        )
        if signature is not None:
            return signature
    return sign_python(private, message, ident=ident, public=public)


def sign_python(
    private: int, message: bytes, *, ident: bytes = DEFAULT_ID, public: Sm2Point | None = None
) -> bytes:
    """:func:`sign` in pure Python: the fallback, and the reference the tests check
    libcrypto against."""
    _check_private(private)
    e = _digest(public_point(private) if public is None else public, message, ident)
    while True:
        signature = _sign_digest(private, e, 1 + secrets.randbelow(N - 1))
        if signature is not None:
            return encode_signature(*signature)


def encode_signature(r: int, s: int) -> bytes:
    return der.encode_sequence(der.encode_integer(r), der.encode_integer(s))


def decode_signature(signature: bytes) -> tuple[int, int]:
    """Strict DER, so each signature has one encoding; raises InvalidKey otherwise."""
    fields = der.decode_sequence(signature)
    if len(fields) != 2 or any(tag != der.INTEGER for tag, _ in fields):
        raise InvalidKey("SM2 signature is not SEQUENCE { INTEGER, INTEGER }")
    return der.decode_integer(fields[0][1]), der.decode_integer(fields[1][1])


def verify(
    public: Sm2Point, message: bytes, signature: bytes, *, ident: bytes = DEFAULT_ID
) -> bool:
    """False, never an exception, for anything but a valid signature: callers feed it
    attacker-controlled bytes and must not be steered by error types.

    The strict DER and range checks run here in Python whichever path does the
    arithmetic, so libcrypto and :func:`verify_python` accept exactly the same bytes."""
    rs = _checked_signature(public, signature)
    if rs is None:
        return False
    if _use_openssl(ident):
        verdict = openssl_sm2.verify(public.encode(), message, signature, ident)
        if verdict is not None:
            return verdict
    return _verify_rs(public, message, ident, *rs)


def verify_python(
    public: Sm2Point, message: bytes, signature: bytes, *, ident: bytes = DEFAULT_ID
) -> bool:
    """:func:`verify` in pure Python: the fallback, and the tests' reference."""
    rs = _checked_signature(public, signature)
    return rs is not None and _verify_rs(public, message, ident, *rs)


def _checked_signature(public: Sm2Point, signature: bytes) -> tuple[int, int] | None:
    """(r, s) when the signature is strict DER with both values in [1, n-1], r + s ≢ 0."""
    try:
        r, s = decode_signature(signature)
    except InvalidKey:
        return None
    if public.infinity or not (1 <= r < N and 1 <= s < N) or (r + s) % N == 0:
        return None
    return r, s


def _verify_rs(public: Sm2Point, message: bytes, ident: bytes, r: int, s: int) -> bool:
    e = _digest(public, message, ident)
    point = _jacobian_add(_mul_generator(s), _mul_point(public._jacobian(), (r + s) % N))
    affine = _to_affine(point)
    return affine is not None and (e + affine[0]) % N == r


# --- key serialisation (RFC 5915, RFC 5480, PKCS #8), as OpenSSL 3 writes SM2 keys ---

_ALGORITHM: Final = der.encode_sequence(
    der.encode_oid(OID_EC_PUBLIC_KEY), der.encode_oid(OID_SM2_CURVE)
)


def public_key_to_der(public: Sm2Point) -> bytes:
    """SubjectPublicKeyInfo with an uncompressed point, the canonical form fingerprints
    are computed over whatever form the key arrived in."""
    return der.encode_sequence(_ALGORITHM, der.encode_bit_string(public.encode()))


def public_key_to_pem(public: Sm2Point) -> str:
    return der.pem_encode("PUBLIC KEY", public_key_to_der(public))


def private_key_to_der(private: int) -> bytes:
    """PKCS #8 wrapping an ECPrivateKey that carries the public point but not the curve,
    exactly the layout ``openssl genpkey`` produces."""
    _check_private(private)
    ec_private_key = der.encode_sequence(
        der.encode_integer(1),
        der.encode_octet_string(private.to_bytes(COORDINATE_BYTES, "big")),
        der.encode_tlv(der.context_tag(1), der.encode_bit_string(public_point(private).encode())),
    )
    return der.encode_sequence(
        der.encode_integer(0), _ALGORITHM, der.encode_octet_string(ec_private_key)
    )


def private_key_to_pem(private: int) -> bytes:
    return der.pem_encode("PRIVATE KEY", private_key_to_der(private)).encode("ascii")


def _check_algorithm(content: bytes) -> None:
    fields = der.decode_children(content)
    oids = [der.decode_oid(value) for tag, value in fields if tag == der.OBJECT_IDENTIFIER]
    if len(fields) != 2 or oids != [OID_EC_PUBLIC_KEY, OID_SM2_CURVE]:
        raise InvalidKey("not an SM2 key (want id-ecPublicKey on curve 1.2.156.10197.1.301)")


def _parse_ec_private_key(data: bytes, *, curve_required: bool) -> int:
    """RFC 5915 ECPrivateKey. The embedded public point, when present, must match the
    scalar: a file whose halves disagree is corrupt or tampered with."""
    fields = der.decode_sequence(data)
    if len(fields) < 2 or fields[0] != (der.INTEGER, b"\x01") or fields[1][0] != der.OCTET_STRING:
        raise InvalidKey("not an RFC 5915 ECPrivateKey")
    scalar = fields[1][1]
    if len(scalar) != COORDINATE_BYTES:
        raise InvalidKey("SM2 private scalar must be 32 octets")
    private = int.from_bytes(scalar, "big")
    _check_private(private)
    seen_curve = False
    last_tag = -1
    for tag, value in fields[2:]:
        if tag <= last_tag or tag not in (der.context_tag(0), der.context_tag(1)):
            raise InvalidKey("unexpected field in ECPrivateKey")
        last_tag = tag
        if tag == der.context_tag(0):
            if der.decode_oid(der.decode_single(value, der.OBJECT_IDENTIFIER)) != OID_SM2_CURVE:
                raise InvalidKey("ECPrivateKey is not on the SM2 curve")
            seen_curve = True
        else:
            embedded = Sm2Point.decode(
                der.decode_bit_string(der.decode_single(value, der.BIT_STRING))
            )
            if embedded != public_point(private):
                raise InvalidKey("ECPrivateKey public point does not match its private scalar")
    if curve_required and not seen_curve:
        raise InvalidKey("ECPrivateKey does not name its curve")
    return private


def private_key_from_pem(pem: bytes) -> int:
    """Reads PKCS #8 ``PRIVATE KEY`` and the SEC 1 form, which OpenSSL 3's ``openssl ec``
    writes under the non-standard label ``SM2 PRIVATE KEY`` and other tools under
    ``EC PRIVATE KEY``. Raises InvalidKey for anything that is not an SM2 private key."""
    label, data = der.pem_decode(pem)
    if label in ("EC PRIVATE KEY", "SM2 PRIVATE KEY"):
        return _parse_ec_private_key(data, curve_required=True)
    if label != "PRIVATE KEY":
        raise InvalidKey(f"PEM label {label!r} is not an SM2 private key")
    fields = der.decode_sequence(data)
    if (
        len(fields) < 3
        or fields[0][0] != der.INTEGER
        or der.decode_integer(fields[0][1]) not in (0, 1)
        or fields[1][0] != der.SEQUENCE
        or fields[2][0] != der.OCTET_STRING
    ):
        raise InvalidKey("not a PKCS #8 PrivateKeyInfo")
    _check_algorithm(fields[1][1])
    return _parse_ec_private_key(fields[2][1], curve_required=False)


def public_key_from_der(data: bytes) -> Sm2Point:
    fields = der.decode_sequence(data)
    if len(fields) != 2 or fields[0][0] != der.SEQUENCE or fields[1][0] != der.BIT_STRING:
        raise InvalidKey("not a SubjectPublicKeyInfo")
    _check_algorithm(fields[0][1])
    return Sm2Point.decode(der.decode_bit_string(fields[1][1]))


def public_key_from_pem(pem: bytes) -> Sm2Point:
    label, data = der.pem_decode(pem)
    if label != "PUBLIC KEY":
        raise InvalidKey(f"PEM label {label!r} is not a public key")
    return public_key_from_der(data)
