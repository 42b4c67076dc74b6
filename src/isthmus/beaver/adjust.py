"""The adjustments: what turns every party's PRG buffers into a valid correlated tuple.

Every party i drew each buffer X_i from its own PRG (``Prg.at(seed_i, crypto, prg_count,
size)``). The service regenerates all of them, sums them (XORs them for And) and returns
what the adjust rank must add to its share of the last buffer(s) so that, summed over
the parties, the tuple holds (docs/protocol.md §16):

* mul:     C = A·B (elementwise)                 adjust = ΣA·ΣB - ΣC
* dot:     C = A@B, A (m,k), B (k,n)             adjust = ΣA@ΣB - ΣC
           (a buffer flagged ``transpose`` holds A as (k,m) or B as (n,k): a reused
           mask's A, drawn for X, serving Xᵀ; docs/protocol.md §16)
* and:     C = A & B over XOR shares of bits     adjust = (⊕A & ⊕B) ⊕ ⊕C (XORed in)
* trunc:   Rb = R >> bits (arithmetic)           adjust = (ΣR >> bits) - ΣRb
* truncpr: Rc = (R mod 2^(L-1)) >> bits, Rb = msb(R) ∈ {0,1}: one adjust each
* randbit: R = b for a fresh uniform bit b       adjust = b - ΣR

The functions are pure and vectorised; they validate every size before regenerating a
byte, so a request is refused before it costs any work.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from isthmus.beaver.sessions import Material, Refusal
from isthmus.mpc.beaver_wire import RING_OF_FIELD
from isthmus.mpc.prg import Prg
from isthmus.mpc.ring import Ring, Tensor
from isthmus.wire.proto import interconnection_common_pb2 as common


@dataclass(frozen=True)
class Buffer:
    """A ``PrgBufferMeta``: ``size`` bytes from block ``prg_count`` of every party's PRG."""

    prg_count: int
    size: int
    transpose: bool = False


def ring_of(field: int) -> Ring:
    ring = RING_OF_FIELD.get(field)
    if ring is None:
        raise Refusal(common.UNSUPPORTED_PARAMS, "bad_field", f"field {field} is not FM64/FM128")
    return ring


def _bad(detail: str) -> Refusal:
    return Refusal(common.INVALID_REQUEST, "bad_request", detail)


def check_buffers(
    ring: Ring,
    buffers: Sequence[Buffer],
    counts: Sequence[int],
    max_elements: int,
    transposable: Sequence[int] = (),
) -> None:
    """``buffers`` are exactly ``len(counts)`` buffers of ``counts[j]`` elements each,
    and only those at the ``transposable`` positions may carry ``transpose``."""
    if len(buffers) != len(counts):
        raise _bad(f"{len(buffers)} prg_inputs; this adjustment takes {len(counts)}")
    for j, (buf, count) in enumerate(zip(buffers, counts, strict=True)):
        if buf.transpose and j not in transposable:
            raise _bad(f"prg_inputs[{j}] may not be transposed here")
        if count > max_elements:
            raise Refusal(
                common.INVALID_REQUEST,
                "too_large",
                f"{count} elements in one buffer; the limit is {max_elements}",
            )
        if buf.prg_count < 0 or buf.size != count * ring.element_bytes:
            raise _bad(
                f"prg_inputs[{j}]: size {buf.size} at count {buf.prg_count}; expected "
                f"{count * ring.element_bytes} bytes ({count} elements) at a count >= 0"
            )


def elements(ring: Ring, buffers: Sequence[Buffer]) -> int:
    """The element count of the first buffer (an elementwise request's size)."""
    if not buffers or buffers[0].size < 0 or buffers[0].size % ring.element_bytes:
        raise _bad(f"the first buffer's size is not a multiple of {ring.element_bytes} bytes")
    return buffers[0].size // ring.element_bytes


def _summed(ring: Ring, m: Material, buf: Buffer, shape: tuple[int, ...]) -> Tensor:
    total = ring.zeros(shape)
    for seed in m.seeds:
        total = ring.add(
            total, ring.from_bytes(Prg.at(seed, m.crypto, buf.prg_count, buf.size), shape)
        )
    return total


def _xored(m: Material, buf: Buffer) -> np.ndarray:
    total = np.zeros(buf.size, dtype=np.uint8)
    for seed in m.seeds:
        total ^= np.frombuffer(Prg.at(seed, m.crypto, buf.prg_count, buf.size), dtype=np.uint8)
    return total


def adjust_mul(ring: Ring, m: Material, bufs: Sequence[Buffer]) -> list[bytes]:
    shape = (bufs[0].size // ring.element_bytes,)
    a, b, c = (_summed(ring, m, buf, shape) for buf in bufs)
    return [ring.to_bytes(ring.sub(ring.mul(a, b), c))]


def _operand(ring: Ring, m: Material, buf: Buffer, shape: tuple[int, int]) -> Tensor:
    """The summed matrix of ``shape``: read as the transposed shape and transposed when
    the buffer is flagged (the same elements either way, so the size check holds)."""
    if not buf.transpose:
        return _summed(ring, m, buf, shape)
    return ring.transpose(_summed(ring, m, buf, (shape[1], shape[0])))


def adjust_dot(
    ring: Ring, m: Material, bufs: Sequence[Buffer], rows: int, inner: int, cols: int
) -> list[bytes]:
    a = _operand(ring, m, bufs[0], (rows, inner))
    b = _operand(ring, m, bufs[1], (inner, cols))
    c = _summed(ring, m, bufs[2], (rows, cols))
    return [ring.to_bytes(ring.sub(ring.matmul(a, b), c))]


def adjust_and(m: Material, bufs: Sequence[Buffer]) -> list[bytes]:
    a, b, c = (_xored(m, buf) for buf in bufs)
    return [((a & b) ^ c).tobytes()]


def adjust_trunc(ring: Ring, m: Material, bufs: Sequence[Buffer], bits: int) -> list[bytes]:
    shape = (bufs[0].size // ring.element_bytes,)
    r, rb = (_summed(ring, m, buf, shape) for buf in bufs)
    return [ring.to_bytes(ring.sub(ring.arshift(r, bits), rb))]


def msb_and_rest(ring: Ring, r: Tensor) -> tuple[Tensor, Tensor]:
    """(the top bit of r as 0 or 1, r with its top bit cleared)."""
    msb = ring.neg(ring.arshift(r, ring.bits - 1))  # arshift gives 0 or -1
    return msb, ring.sub(r, ring.lshift(msb, ring.bits - 1))


def adjust_trunc_pr(ring: Ring, m: Material, bufs: Sequence[Buffer], bits: int) -> list[bytes]:
    shape = (bufs[0].size // ring.element_bytes,)
    r, rc, rb = (_summed(ring, m, buf, shape) for buf in bufs)
    msb, rest = msb_and_rest(ring, r)
    return [
        ring.to_bytes(ring.sub(ring.arshift(rest, bits), rc)),  # rest >= 0: a logical shift
        ring.to_bytes(ring.sub(msb, rb)),
    ]


def random_bits(count: int) -> np.ndarray:
    """``count`` uniform bits from the OS generator, as uint8 0/1."""
    raw = np.frombuffer(secrets.token_bytes(-(-count // 8)), dtype=np.uint8)
    return np.unpackbits(raw)[:count]


def adjust_rand_bit(ring: Ring, m: Material, bufs: Sequence[Buffer]) -> list[bytes]:
    count = bufs[0].size // ring.element_bytes
    r = _summed(ring, m, bufs[0], (count,))
    return [ring.to_bytes(ring.sub(ring.from_int(random_bits(count)), r))]


def check_bits(ring: Ring, bits: int) -> None:
    if not 0 < bits < ring.bits - 1:
        raise _bad(f"bits {bits} outside 1..{ring.bits - 2}")
