"""The two prime-order groups of exponential EC-ElGamal: SM2 and Ed25519 (digest §5.4).

Points are ``bytes`` in each group's *internal* encoding, chosen so that the common
operations never take a square root:

* **SM2** (GB/T 32918.5, sm2p256v1, cofactor 1): X9.62 *uncompressed* (65 bytes), the
  point at infinity ``b"\\x00"``. Arithmetic is pure Python on gmpy2 integers: affine
  addition (one inversion), Jacobian scalar multiplication, and fixed-base tables, 8-bit
  for ``G`` (32 mixed additions, about 75 µs) and 4-bit for every public key ``h`` (64).
  A full-size variable-base multiplication (``x·c1`` in decryption) goes to OpenSSL's SM2
  through ctypes (``isthmus.crypto.openssl_ec``: about 270 µs against 1-2 ms here, which
  stays as the fallback); OpenSSL's addition costs about 15 µs once the encode/decode
  round trips are counted, so additions stay here (about 10 µs).
* **Ed25519** (RFC 8032's twisted Edwards curve, cofactor 8, group = the prime-order
  subgroup of order ``L``): the RFC 8032 32-byte encoding, which is also the wire
  encoding. Addition and scalar multiplication are libsodium's (PyNaCl,
  ``crypto_core_ed25519_add/sub``, ``crypto_scalarmult_ed25519[_base]_noclamp``: 15 µs,
  74 µs, 16 µs here), already a dependency, in C and constant-time.

For the discrete logarithm search of decryption (:mod:`.ec_elgamal`), both groups also
offer *affine* points ``(x, y)`` as gmpy2 integers and :meth:`EcGroup.batch_add`, which
adds one fixed point to many points with a single modular inversion (Montgomery's
trick); :meth:`EcGroup.key` is the coordinate that ``P`` and ``-P`` share (``x`` on SM2,
``y`` on Ed25519), so one table entry serves ``±i``.

Received points go through :meth:`EcGroup.from_wire`, which accepts only points of the
group: on the curve, canonical, and for Ed25519 in the prime-order subgroup (no
small-order or mixed-order point). The identity is accepted: the difference of two equal
ciphertexts is a pair of identities, and a sender may legitimately pass one on.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any, Final

import gmpy2
from nacl import bindings

from isthmus.crypto import openssl_ec
from isthmus.crypto.phe.errors import InvalidPoint, UnsupportedCurve

Affine = tuple[Any, Any]
"""An affine point ``(x, y)`` of gmpy2 integers; ``None`` stands for SM2's infinity."""

CURVE_SM2: Final = 2
"""``CurveType.SM2`` (wire/proto/ecc.proto)."""
CURVE_ED25519: Final = 3
"""``CurveType.ED25519``."""


def batch_invert(values: Sequence[Any], modulus: Any) -> list[Any]:
    """The inverses of non-zero ``values`` modulo a prime, with one inversion in all."""
    prefix = []
    acc = gmpy2.mpz(1)
    for v in values:
        acc = acc * v % modulus
        prefix.append(acc)
    inv = gmpy2.invert(acc, modulus)
    out = [gmpy2.mpz(0)] * len(values)
    for i in range(len(values) - 1, 0, -1):
        out[i] = inv * prefix[i - 1] % modulus
        inv = inv * values[i] % modulus
    if values:
        out[0] = inv
    return out


class EcGroup(ABC):
    """A prime-order group of points, as EC-ElGamal needs it."""

    name: str
    curve_type: int
    order: int
    p: Any
    identity: bytes
    generator: bytes

    # --- group operations on internal encodings ---------------------------------------

    @abstractmethod
    def add(self, a: bytes, b: bytes) -> bytes: ...

    @abstractmethod
    def sub(self, a: bytes, b: bytes) -> bytes: ...

    @abstractmethod
    def mul(self, k: int, point: bytes) -> bytes:
        """``k · point`` for any integer ``k`` (negative included)."""

    @abstractmethod
    def fixed_mul(self, k: int, point: bytes) -> bytes:
        """``k · point`` for a point used again and again (``G``, a public key)."""

    def base_mul(self, k: int) -> bytes:
        """``k · G``."""
        return self.fixed_mul(k, self.generator)

    def neg(self, a: bytes) -> bytes:
        return self.sub(self.identity, a)

    def sum(self, points: Iterable[bytes]) -> bytes:
        total = self.identity
        for point in points:
            total = self.add(total, point)
        return total

    # --- wire ---------------------------------------------------------------------------

    @abstractmethod
    def to_wire(self, point: bytes) -> bytes:
        """The wire encoding (X9.62 compressed for SM2, RFC 8032 for Ed25519)."""

    @abstractmethod
    def from_wire(self, data: bytes, what: str) -> bytes:
        """A received point, checked to be in the group; ``InvalidPoint`` naming ``what``."""

    # --- affine arithmetic for the discrete-logarithm search ---------------------------

    @abstractmethod
    def affine(self, point: bytes) -> Affine | None: ...

    @abstractmethod
    def batch_add(self, points: Sequence[Affine | None], q: Affine) -> list[Affine | None]:
        """``P + q`` for every ``P``, one modular inversion for the whole batch."""

    @abstractmethod
    def key(self, point: Affine | None) -> int | None:
        """The coordinate ``P`` and ``-P`` share; ``None`` for the identity."""


# --- SM2 ---------------------------------------------------------------------------------


class Sm2Group(EcGroup):
    """sm2p256v1 (GB/T 32918.5 §5): ``y² = x³ - 3x + b`` over ``F_p``, cofactor 1."""

    name = "SM2"
    curve_type = CURVE_SM2
    p = gmpy2.mpz(0xFFFFFFFE_FFFFFFFF_FFFFFFFF_FFFFFFFF_FFFFFFFF_00000000_FFFFFFFF_FFFFFFFF)
    a = p - 3
    b = gmpy2.mpz(0x28E9FA9E_9D9F5E34_4D5A9E4B_CF6509A7_F39789F5_15AB8F92_DDBCBD41_4D940E93)
    order = 0xFFFFFFFE_FFFFFFFF_FFFFFFFF_FFFFFFFF_7203DF6B_21C6052B_53BBF409_39D54123
    gx = gmpy2.mpz(0x32C4AE2C_1F198119_5F990446_6A39C994_8FE30BBF_F2660BE1_715A4589_334C74C7)
    gy = gmpy2.mpz(0xBC3736A2_F4F6779C_59BDCEE3_6B692153_D0A9877C_C62A4740_02DF32E5_2139F0A0)
    identity = b"\x00"

    def __init__(self) -> None:
        self.generator = self._encode((self.gx, self.gy))
        self._tables: dict[bytes, list[list[Affine]]] = {}

    def _encode(self, point: Affine | None) -> bytes:
        if point is None:
            return self.identity
        return b"\x04" + int(point[0]).to_bytes(32, "big") + int(point[1]).to_bytes(32, "big")

    def affine(self, point: bytes) -> Affine | None:
        if point == self.identity:
            return None
        return gmpy2.mpz(int.from_bytes(point[1:33], "big")), gmpy2.mpz(
            int.from_bytes(point[33:65], "big")
        )

    def _on_curve(self, x: Any, y: Any) -> bool:
        p = self.p
        on = (y * y - (x * x * x + self.a * x + self.b)) % p == 0
        return bool(0 <= x < p and 0 <= y < p and on)

    def _add_affine(self, p1: Affine | None, p2: Affine | None) -> Affine | None:
        if p1 is None:
            return p2
        if p2 is None:
            return p1
        p = self.p
        (x1, y1), (x2, y2) = p1, p2
        if x1 == x2:
            if (y1 + y2) % p == 0:
                return None
            lam = (3 * x1 * x1 + self.a) * gmpy2.invert(2 * y1, p) % p
        else:
            lam = (y2 - y1) * gmpy2.invert(x2 - x1, p) % p
        x3 = (lam * lam - x1 - x2) % p
        return x3, (lam * (x1 - x3) - y1) % p

    def batch_add(self, points: Sequence[Affine | None], q: Affine) -> list[Affine | None]:
        p = self.p
        qx, qy = q
        dens = [gmpy2.mpz(1) if pt is None or pt[0] == qx else (pt[0] - qx) % p for pt in points]
        invs = batch_invert(dens, p)
        out: list[Affine | None] = []
        for pt, inv in zip(points, invs, strict=True):
            if pt is None or pt[0] == qx:
                out.append(self._add_affine(pt, q))
                continue
            x1, y1 = pt
            lam = (y1 - qy) * inv % p
            x3 = (lam * lam - x1 - qx) % p
            out.append((x3, (lam * (x1 - x3) - y1) % p))
        return out

    def key(self, point: Affine | None) -> int | None:
        return None if point is None else int(point[0])

    def add(self, a: bytes, b: bytes) -> bytes:
        return self._encode(self._add_affine(self.affine(a), self.affine(b)))

    def _neg_affine(self, point: Affine | None) -> Affine | None:
        return None if point is None else (point[0], (-point[1]) % self.p)

    def sub(self, a: bytes, b: bytes) -> bytes:
        return self._encode(self._add_affine(self.affine(a), self._neg_affine(self.affine(b))))

    def neg(self, a: bytes) -> bytes:
        return self._encode(self._neg_affine(self.affine(a)))

    # Jacobian (X, Y, Z) is affine (X/Z², Y/Z³); Z = 0 is infinity.
    def _double_j(self, pt: tuple[Any, Any, Any]) -> tuple[Any, Any, Any]:
        x1, y1, z1 = pt
        p = self.p
        if z1 == 0 or y1 == 0:
            return (gmpy2.mpz(1), gmpy2.mpz(1), gmpy2.mpz(0))
        delta = z1 * z1 % p
        gamma = y1 * y1 % p
        beta = x1 * gamma % p
        alpha = 3 * (x1 - delta) * (x1 + delta) % p
        x3 = (alpha * alpha - 8 * beta) % p
        z3 = ((y1 + z1) * (y1 + z1) - gamma - delta) % p
        y3 = (alpha * (4 * beta - x3) - 8 * gamma * gamma) % p
        return x3, y3, z3

    def _add_j_affine(self, pt: tuple[Any, Any, Any], x2: Any, y2: Any) -> tuple[Any, Any, Any]:
        x1, y1, z1 = pt
        p = self.p
        if z1 == 0:
            return x2, y2, gmpy2.mpz(1)
        z1z1 = z1 * z1 % p
        u2 = x2 * z1z1 % p
        s2 = y2 * z1 * z1z1 % p
        h = (u2 - x1) % p
        r = (s2 - y1) % p
        if h == 0:
            return self._double_j(pt) if r == 0 else (gmpy2.mpz(1), gmpy2.mpz(1), gmpy2.mpz(0))
        hh = h * h % p
        hhh = h * hh % p
        v = x1 * hh % p
        x3 = (r * r - hhh - 2 * v) % p
        y3 = (r * (v - x3) - y1 * hhh) % p
        return x3, y3, z1 * h % p

    def _from_j(self, pt: tuple[Any, Any, Any]) -> bytes:
        x, y, z = pt
        if z == 0:
            return self.identity
        p = self.p
        zi = gmpy2.invert(z, p)
        zi2 = zi * zi % p
        return self._encode((x * zi2 % p, y * zi2 * zi % p))

    def mul(self, k: int, point: bytes) -> bytes:
        """Small ``|k|`` (plaintext factors) by double-and-add here; a full-size ``k``
        (the secret ``x`` in decryption) by OpenSSL's SM2 when the system has it
        (about 0.3 ms against 1-2 ms in Python)."""
        k %= self.order
        if k > self.order // 2:  # -k is the short one: multiply -point by it
            k, point = self.order - k, self.neg(point)
        base = self.affine(point)
        if k == 0 or base is None:
            return self.identity
        if k.bit_length() > _OPENSSL_MIN_BITS:
            curve = _openssl_sm2()
            if curve is not None:
                product = curve.multiply(k.to_bytes(32, "big"), [point])[0]
                if product is None:  # pragma: no cover - k < order on a prime-order point
                    return self.identity
                return self.from_wire(product, "OpenSSL product")
        acc: tuple[Any, Any, Any] = (gmpy2.mpz(1), gmpy2.mpz(1), gmpy2.mpz(0))
        for bit in bin(k)[2:]:
            acc = self._double_j(acc)
            if bit == "1":
                acc = self._add_j_affine(acc, base[0], base[1])
        return self._from_j(acc)

    def _table(self, point: bytes) -> tuple[int, list[list[Affine]]]:
        """``(w, table)`` with ``table[i][d-1] = d · 2^(w·i) · point`` (affine), built once
        per point: ``w = 8`` for ``G`` (32 additions per multiplication, 8 160 points,
        about 30 ms once per process), ``w = 4`` for a public key (64 additions, 960
        points, a few ms per key; the 64 most recent keys are kept)."""
        window = 8 if point == self.generator else 4
        table = self._tables.get(point)
        if table is not None:
            return window, table
        base = self.affine(point)
        assert base is not None
        table = []
        for _ in range((self.order.bit_length() + window - 1) // window):
            row = [base]
            for _ in range((1 << window) - 2):
                nxt = self._add_affine(row[-1], base)
                assert nxt is not None
                row.append(nxt)
            table.append(row)
            last = self._add_affine(row[-1], base)  # 2^w · base
            assert last is not None
            base = last
        if len(self._tables) >= 65:
            self._tables = {k: v for k, v in self._tables.items() if k == self.generator}
        self._tables[point] = table
        return window, table

    def fixed_mul(self, k: int, point: bytes) -> bytes:
        k %= self.order
        if k == 0 or point == self.identity:
            return self.identity
        window, table = self._table(point)
        mask = (1 << window) - 1
        acc: tuple[Any, Any, Any] = (gmpy2.mpz(1), gmpy2.mpz(1), gmpy2.mpz(0))
        for row in table:
            digit = k & mask
            k >>= window
            if digit:
                x, y = row[digit - 1]
                acc = self._add_j_affine(acc, x, y)
            if not k:
                break
        return self._from_j(acc)

    def to_wire(self, point: bytes) -> bytes:
        if point == self.identity:
            return self.identity
        return bytes([2 + (point[64] & 1)]) + point[1:33]

    def from_wire(self, data: bytes, what: str) -> bytes:
        if data == self.identity:
            return self.identity
        p = self.p
        if len(data) == 33 and data[0] in (2, 3):
            x = gmpy2.mpz(int.from_bytes(data[1:], "big"))
            if x >= p:
                raise InvalidPoint(f"{what}: x is not below the SM2 field prime")
            rhs = (x * x * x + self.a * x + self.b) % p
            y = gmpy2.powmod(rhs, (p + 1) // 4, p)  # p ≡ 3 (mod 4)
            if y * y % p != rhs:
                raise InvalidPoint(f"{what}: not a point of SM2 (no y for this x)")
            if (y & 1) != (data[0] & 1):
                y = p - y
            return self._encode((x, y))
        if len(data) == 65 and data[0] == 4:  # tolerated: X9.62 uncompressed
            x = int.from_bytes(data[1:33], "big")
            y = int.from_bytes(data[33:], "big")
            if not self._on_curve(gmpy2.mpz(x), gmpy2.mpz(y)):
                raise InvalidPoint(f"{what}: not a point of SM2")
            return bytes(data)
        raise InvalidPoint(
            f"{what}: not an X9.62 SM2 point ({len(data)} bytes, prefix {data[:1].hex() or '-'})"
        )


# --- Ed25519 ---------------------------------------------------------------------------


class Ed25519Group(EcGroup):
    """RFC 8032's ``-x² + y² = 1 + d·x²·y²`` over ``F_{2^255-19}``, prime-order subgroup."""

    name = "Ed25519"
    curve_type = CURVE_ED25519
    p = gmpy2.mpz(2**255 - 19)
    d = gmpy2.mpz(-121665) * gmpy2.invert(121666, 2**255 - 19) % (2**255 - 19)
    order = 2**252 + 27742317777372353535851937790883648493
    sqrt_m1 = gmpy2.powmod(2, (2**255 - 20) // 4, 2**255 - 19)
    identity = b"\x01" + bytes(31)

    def __init__(self) -> None:
        self.generator = bindings.crypto_scalarmult_ed25519_base_noclamp((1).to_bytes(32, "little"))

    def _scalar(self, k: int) -> bytes:
        return (k % self.order).to_bytes(32, "little")

    def add(self, a: bytes, b: bytes) -> bytes:
        return bytes(bindings.crypto_core_ed25519_add(a, b))

    def sub(self, a: bytes, b: bytes) -> bytes:
        return bytes(bindings.crypto_core_ed25519_sub(a, b))

    def mul(self, k: int, point: bytes) -> bytes:
        k %= self.order
        if k == 0 or point == self.identity:
            return self.identity
        if point == self.generator:
            return bytes(bindings.crypto_scalarmult_ed25519_base_noclamp(self._scalar(k)))
        return bytes(bindings.crypto_scalarmult_ed25519_noclamp(self._scalar(k), point))

    def fixed_mul(self, k: int, point: bytes) -> bytes:
        return self.mul(k, point)

    def to_wire(self, point: bytes) -> bytes:
        return point

    def from_wire(self, data: bytes, what: str) -> bytes:
        if len(data) != 32:
            raise InvalidPoint(f"{what}: an Ed25519 point is 32 bytes, got {len(data)}")
        if data == self.identity:
            return self.identity
        # libsodium: canonical, on the curve, not of small order, in the order-L subgroup
        if not bindings.crypto_core_ed25519_is_valid_point(data):
            raise InvalidPoint(
                f"{what}: not a point of the Ed25519 prime-order group "
                "(off the curve, non-canonical, small or mixed order)"
            )
        return bytes(data)

    def affine(self, point: bytes) -> Affine | None:
        """RFC 8032 §5.1.3 decoding (the point is already known to be valid)."""
        p, d = self.p, self.d
        value = int.from_bytes(point, "little")
        sign = value >> 255
        y = gmpy2.mpz(value & ((1 << 255) - 1))
        u = (y * y - 1) % p
        v = (d * y * y + 1) % p
        v3 = v * v % p * v % p
        x = u * v3 % p * gmpy2.powmod(u * v3 % p * v3 % p * v % p, (p - 5) // 8, p) % p
        if (v * x * x - u) % p != 0:
            x = x * self.sqrt_m1 % p
        if (x & 1) != sign:
            x = (p - x) % p
        return x, y

    def batch_add(self, points: Sequence[Affine | None], q: Affine) -> list[Affine | None]:
        # Affine Edwards addition is complete here (a = -1 square, d non-square): the
        # denominators 1 ± d·x1·x2·y1·y2 are never zero.
        p, d = self.p, self.d
        qx, qy = q
        dens = []
        for pt in points:
            assert pt is not None
            t = d * pt[0] * qx % p * pt[1] * qy % p
            dens.append((1 + t) % p)
            dens.append((1 - t) % p)
        invs = batch_invert(dens, p)
        out: list[Affine | None] = []
        for i, pt in enumerate(points):
            assert pt is not None
            x1, y1 = pt
            out.append(
                ((x1 * qy + y1 * qx) * invs[2 * i] % p, (y1 * qy + x1 * qx) * invs[2 * i + 1] % p)
            )
        return out

    def key(self, point: Affine | None) -> int | None:
        assert point is not None
        if point[0] == 0 and point[1] == 1:
            return None
        return int(point[1])


_OPENSSL_MIN_BITS: Final = 64


@functools.cache
def _openssl_sm2() -> openssl_ec.Curve | None:
    try:
        return openssl_ec.sm2()
    except openssl_ec.OpenSslUnavailable:  # pragma: no cover - libcrypto without SM2
        return None


@functools.cache
def sm2_group() -> Sm2Group:
    return Sm2Group()


@functools.cache
def ed25519_group() -> Ed25519Group:
    return Ed25519Group()


def group_for(curve_type: int) -> EcGroup:
    """The group of a ``CurveType`` value; ``UnsupportedCurve`` for any other."""
    if curve_type == CURVE_SM2:
        return sm2_group()
    if curve_type == CURVE_ED25519:
        return ed25519_group()
    raise UnsupportedCurve(
        f"EC-ElGamal curve {curve_type} is not supported (SM2 = 2, ED25519 = 3)",
        details={"curve_name": curve_type},
    )
