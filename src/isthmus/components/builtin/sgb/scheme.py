"""The PHE scheme seam of SGB: Paillier (SecretFlow's) or exponential EC-ElGamal.

The SGB protocol code (:mod:`.active`, :mod:`.passive`) does not care which additively
homomorphic scheme carries the gradients: the active party sends its public key,
encrypts a ``(rows, 2)`` matrix of fixed-point ``(g, h)`` and decrypts ``(buckets, 2)``
matrices of sums; a passive party reads the key and the matrix, sums ciphertexts per
bucket, subtracts a child from its parent and sends its sums back. The two Protocols
below are exactly those operations, and each scheme implements them:

* **Paillier** keeps the bytes SecretFlow speaks (HEU dialect: ``public_key`` /
  ``ciphertext``, column-major), so the Paillier path is the one proven against
  SecretFlow; the passive party's Paillier sums stay in :mod:`.passive` (its ``SumPool``
  multiplies on every core) and are wrapped there.
* **EC-ElGamal** (SM2 or Ed25519, ``isthmus.crypto.phe.ec_elgamal``) speaks the PPCA
  dialect: ``ec_elgamal_public_key`` in a scalar, ``ec_elgamal_ciphertext`` items
  (``EcElGamalCiphertext{c1, c2}``) in row-major ``v_ndarray`` matrices. SecretFlow does
  not offer it, so only Isthmus parties use it.

**The EC-ElGamal decryption bound.** Exponential ElGamal decrypts only small plaintexts
(a discrete logarithm, :class:`~isthmus.crypto.phe.ec_elgamal.DlogTable`). A bucket sum
covers at most every sampled row, so ``|Σ g| ≤ rows · 2^20 · max|g|`` and ``Σ h ≤ rows ·
2^20 · max h``; for the logistic loss ``|g| < 1`` and ``h ≤ 1/4``, for the squared loss
``h = 1`` and ``|g| = |margin - y|``. :func:`ec_bound` turns this into the key's bound,
and refuses (``ParameterError`` naming ``phe_algo``) a bound the table cannot reach in
:data:`MAX_GIANT_STEPS` giant steps; every tree's encoded values are checked against it
before encryption, so a sum can never fall outside the bound and decrypt wrongly (a
value outside would in any case be ``PlaintextOutOfRange``, never a wrong number).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt

from isthmus.components.errors import AlgorithmError, ParameterError
from isthmus.crypto.phe import (
    SGB_SCALE,
    DecryptionPool,
    EcDecryptionPool,
    EcElGamalCiphertext,
    EcElGamalPrivateKey,
    EcElGamalPublicKey,
    EcEncryptionPool,
    EncryptionPool,
    PaillierPrivateKey,
    PaillierPublicKey,
    PheError,
    generate_ec_elgamal_keypair,
)
from isthmus.crypto.phe.ec_elgamal import DEFAULT_TABLE_SIZE, MAX_BOUND
from isthmus.wire import exchange_he as whe
from isthmus.wire.errors import MalformedExchange
from isthmus.wire.exchange import PPCA
from isthmus.wire.proto import phe_pb2

PAILLIER: Final = phe_pb2.PHE_ALGO_PAILLIER
EC_ELGAMAL: Final = phe_pb2.PHE_ALGO_EC_ELGAMAL
CURVES: Final = {"sm2": 2, "ed25519": 3}
"""``ec_curve`` parameter values to ``CurveType`` (SM2 2, ED25519 3)."""
CURVE_NAMES: Final = {v: k for k, v in CURVES.items()}
MAX_GIANT_STEPS: Final = 1 << 16
"""At most this many giant steps each way per decryption: beyond, a sum's decryption
would take minutes, so such a configuration is refused up front instead."""

#: one (g, h) column pair of ciphertexts, as the protocol code handles them
Columns = list[list[Any]]


class ActiveScheme(Protocol):
    """The key owner's operations (SGB's active party)."""

    name: str

    def public_key_message(self) -> bytes:
        """The ``DataExchangeProtocol`` message carrying the public key."""
        ...

    async def encrypt_gh(self, g: Sequence[int], h: Sequence[int]) -> bytes:
        """The ``(rows, 2)`` matrix of ``Enc(g)``, ``Enc(h)`` (fixed point), as sent."""
        ...

    def read_sums(self, data: bytes, what: str) -> Columns:
        """A received ``(buckets, 2)`` sum matrix as its ``[g column, h column]``,
        every item checked (``MalformedExchange`` / ``PheError`` naming the item)."""
        ...

    async def decrypt(self, ciphertexts: list[Any]) -> list[int]:
        """The plaintexts, in order (``PheError`` for one that does not decrypt)."""
        ...

    def close(self) -> None: ...


class PassiveScheme(Protocol):
    """A feature holder's operations on the key owner's ciphertexts."""

    name: str

    def read_gh(self, data: bytes, rows: int) -> Columns:
        """The received ``(rows, 2)`` gradient matrix as ``[g column, h column]``."""
        ...

    def bucket_sums(
        self, gh: Columns, select: npt.NDArray[np.bool_], bins: npt.NDArray[Any], bucket_num: int
    ) -> Columns:
        """Per column, the encrypted cumulative sums over ``select``'s rows per
        ``feature * bucket_num + bucket`` (``bins[r, f] <= bucket``)."""
        ...

    def subtract(self, parent: Columns, child: Columns) -> Columns:
        """``parent - child`` item by item (the sibling's sums)."""
        ...

    def pack_sums(self, columns: Columns, order: npt.NDArray[Any]) -> bytes:
        """The ``(len(order), 2)`` matrix ``columns[k][order[i]]``, as sent."""
        ...

    def close(self) -> None: ...


# --- Paillier, the key owner ---------------------------------------------------------


class PaillierActive:
    """SecretFlow's Paillier (HEU dialect): what the active party always spoke."""

    name = "paillier"

    def __init__(
        self, public: PaillierPublicKey, private: PaillierPrivateKey, workers: int | None
    ) -> None:
        self.public = public
        self.wire_key = whe.PaillierPublicKey(public.n, public.hs)
        self.enc = EncryptionPool(public, workers)
        self.dec = DecryptionPool(private, workers)

    def public_key_message(self) -> bytes:
        return whe.pack_paillier_public_key(self.wire_key)

    async def encrypt_gh(self, g: Sequence[int], h: Sequence[int]) -> bytes:
        flat = await asyncio.to_thread(self.enc.encrypt, [*g, *h])
        n = len(g)
        matrix = np.empty((n, 2), dtype=object)
        matrix[:, 0], matrix[:, 1] = flat[:n], flat[n:]
        return whe.pack_paillier_ciphertexts(matrix)

    def read_sums(self, data: bytes, what: str) -> Columns:
        matrix = whe.unpack_paillier_ciphertexts(data, self.wire_key)
        _check_matrix(matrix, what)
        return [matrix[:, 0].tolist(), matrix[:, 1].tolist()]

    async def decrypt(self, ciphertexts: list[Any]) -> list[int]:
        return await asyncio.to_thread(self.dec.decrypt, ciphertexts)

    def close(self) -> None:
        self.enc.close()
        self.dec.close()


def _check_matrix(matrix: npt.NDArray[Any], what: str) -> None:
    if matrix.ndim != 2 or matrix.shape[1] != 2:
        raise MalformedExchange(f"{what}: shape {list(matrix.shape)}, expected [buckets, 2]")


# --- EC-ElGamal ------------------------------------------------------------------------


def ec_bound(objective: str, rows: int, max_abs_g: float, max_h: float) -> int:
    """The decryption bound for sums of ``rows`` fixed-point values (module docstring):
    ``rows · 2^20 · max(max|g|, max h) + 1``. ``ParameterError`` (``phe_algo``) when the
    default table cannot reach it in :data:`MAX_GIANT_STEPS` giant steps."""
    per_row = max(max_abs_g, max_h, 1.0 / SGB_SCALE)
    bound = int(rows * SGB_SCALE * per_row) + 1
    reach = min(MAX_GIANT_STEPS * (2 * DEFAULT_TABLE_SIZE + 1), MAX_BOUND)
    if bound > reach:
        raise ParameterError(
            "phe_algo",
            f"ec_elgamal cannot decrypt the bucket sums of {rows} rows ({objective}): they "
            f"reach |m| = rows · 2^20 · {per_row:g} = {bound}, beyond the {reach} its "
            f"discrete-log table of {DEFAULT_TABLE_SIZE} baby steps reaches in "
            f"{MAX_GIANT_STEPS} giant steps; use phe_algo=paillier or fewer rows",
        )
    return bound


def objective_bound(objective: str, rows: int, labels: npt.NDArray[np.float64], base: float) -> int:
    """:func:`ec_bound` for a training: logistic ``|g| < 1, h ≤ 1/4``; squared ``h = 1``
    and ``|g|`` taken as twice the largest ``|y - base_score|`` (the margins approach
    the labels; every tree's values are checked against the bound anyway)."""
    if objective == "logistic":
        return ec_bound(objective, rows, 1.0, 0.25)
    spread = float(np.max(np.abs(labels - base))) if labels.size else 0.0
    return ec_bound(objective, rows, max(2.0 * spread, 1.0), 1.0)


def check_within(bound: int, g: Sequence[int], h: Sequence[int], tree: int) -> None:
    """Every bucket sum of this tree's encoded ``g``/``h`` decrypts within ``bound``."""
    worst = max(sum(abs(v) for v in g), sum(abs(v) for v in h))
    if worst >= bound:
        raise AlgorithmError(
            f"tree {tree}: the fixed-point gradients sum to {worst}, beyond the EC-ElGamal "
            f"decryption bound {bound} fixed for this training; use phe_algo=paillier"
        )


class EcActive:
    """Exponential EC-ElGamal on the key owner's side (PPCA dialect)."""

    name = "ec_elgamal"

    def __init__(self, curve: int, bound: int, workers: int | None) -> None:
        public, private = generate_ec_elgamal_keypair(curve, bound=bound)
        self.public: EcElGamalPublicKey = public
        self.private: EcElGamalPrivateKey = private
        self.bound = bound
        self.enc = EcEncryptionPool(public, workers)
        self.dec = EcDecryptionPool(private, workers)

    def public_key_message(self) -> bytes:
        return whe.pack_ec_elgamal_public_key(self.public.to_wire(), PPCA)

    async def encrypt_gh(self, g: Sequence[int], h: Sequence[int]) -> bytes:
        flat = await asyncio.to_thread(self.enc.encrypt, [*g, *h])
        n = len(g)
        wire = [self.public.ciphertext_to_wire(c) for c in flat]
        pairs = [p for i in range(n) for p in (wire[i], wire[n + i])]  # row-major (n, 2)
        return whe.pack_ec_elgamal_ciphertexts(pairs, (n, 2), PPCA)

    def read_sums(self, data: bytes, what: str) -> Columns:
        matrix = whe.unpack_ec_elgamal_ciphertexts(data, PPCA)
        _check_matrix(matrix, what)
        cs = self.public.ciphertexts_from_wire(matrix, what)
        return [cs[:, 0].tolist(), cs[:, 1].tolist()]

    async def decrypt(self, ciphertexts: list[Any]) -> list[int]:
        return await asyncio.to_thread(self.dec.decrypt, ciphertexts)

    def close(self) -> None:
        self.enc.close()
        self.dec.close()


class EcPassive:
    """EC-ElGamal on a feature holder's side: point additions, PPCA dialect."""

    name = "ec_elgamal"

    def __init__(self, public: EcElGamalPublicKey) -> None:
        self.public = public

    @classmethod
    def from_message(cls, data: bytes, curve: int) -> EcPassive:
        """The active party's key message, checked: the negotiated curve, ``h`` a valid
        non-identity point (``InvalidPoint`` naming ``EC-ElGamal public key h``)."""
        wire = whe.unpack_ec_elgamal_public_key(data, PPCA)
        if wire.curve != curve:
            raise AlgorithmError(
                f"the active party's EC-ElGamal key is on curve {wire.curve}, the handshake "
                f"agreed on {curve} ({CURVE_NAMES.get(curve, '?')})"
            )
        return cls(EcElGamalPublicKey.from_wire(wire))

    def read_gh(self, data: bytes, rows: int) -> Columns:
        matrix = whe.unpack_ec_elgamal_ciphertexts(data, PPCA)
        if matrix.shape != (rows, 2):
            raise MalformedExchange(
                f"encrypted g/h: shape {list(matrix.shape)}, expected [{rows}, 2] "
                "(one ciphertext of g and one of h per sampled row)"
            )
        cs = self.public.ciphertexts_from_wire(matrix, "encrypted g/h")
        return [cs[:, 0].tolist(), cs[:, 1].tolist()]

    def bucket_sums(
        self, gh: Columns, select: npt.NDArray[np.bool_], bins: npt.NDArray[Any], bucket_num: int
    ) -> Columns:
        rows = np.flatnonzero(select)
        pk = self.public
        out: Columns = []
        for column in gh:
            sums: list[Any] = []
            for f in range(bins.shape[1]):
                per_bucket: list[list[EcElGamalCiphertext]] = [[] for _ in range(bucket_num)]
                for r, b in zip(rows.tolist(), bins[rows, f].tolist(), strict=True):
                    per_bucket[b].append(column[r])
                running = pk.sum([])
                for items in per_bucket:
                    running = pk.add(running, pk.sum(items)) if items else running
                    sums.append(running)
            out.append(sums)
        return out

    def subtract(self, parent: Columns, child: Columns) -> Columns:
        pk = self.public
        return [
            [pk.sub(p, c) for p, c in zip(pc, cc, strict=True)]
            for pc, cc in zip(parent, child, strict=True)
        ]

    def pack_sums(self, columns: Columns, order: npt.NDArray[Any]) -> bytes:
        pk = self.public
        pairs = [
            (pk.ciphertext_to_wire(columns[0][m]), pk.ciphertext_to_wire(columns[1][m]))
            for m in order.tolist()
        ]
        flat = [p for pair in pairs for p in pair]
        return whe.pack_ec_elgamal_ciphertexts(flat, (len(pairs), 2), PPCA)

    def close(self) -> None:
        return None


__all__ = [
    "CURVES",
    "EC_ELGAMAL",
    "PAILLIER",
    "ActiveScheme",
    "EcActive",
    "EcPassive",
    "PaillierActive",
    "PassiveScheme",
    "PheError",
    "check_within",
    "ec_bound",
    "objective_bound",
]
