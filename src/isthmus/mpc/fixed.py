"""A fixed Beaver mask: one opening of E = X - A serving many products with X (SecureML §4.2).

A Beaver matrix product X@Y opens E = X - A and F = Y - B. When X does not change
between products (SS-LR multiplies the same batch every epoch, as X_b@w and X_bᵀ@err),
the mask A can stay too: E is opened once (``Semi2k.fixed_left``) and every later
product opens only F = Y - B with a fresh B and C = A@B (or Aᵀ@B for Xᵀ@Y, served by the
same E, transposed). Why this keeps the security of ordinary Beaver products:

* E = X - A with A uniform and unknown to every party is a one-time pad of X; opening
  the *same* E again would reveal nothing new, so it is opened once and kept;
* every F = Y - B uses a fresh uniform B, so each F is a fresh one-time pad of Y;
* C = A@B (or Aᵀ@B) comes with each fresh B, so no two products share a (B, C).

What would break it: reusing a mask for a *different* X' (then E' - E = X' - X leaks the
difference). ``FixedLeft`` therefore keeps the share of the X it was made for, and the
engine multiplies only that X; a new X needs a new ``fixed_left``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from isthmus.mpc.ring import Ring, Tensor
from isthmus.mpc.shared import Shared


@dataclass(frozen=True)
class FixedLeft:
    """The mask of one fixed left operand X (m, k) on this party.

    ``x`` is this party's share of X; ``handle``, ``a`` and ``e`` are the triple source's
    name for A, this party's share of A and the opened E = X - A, all None when the
    source has no fixed-mask extension (products then use ordinary triples). With
    ``transposed`` the mask stands for Xᵀ (``mask.T``), sharing the same A and E."""

    x: Shared
    handle: int | None = None
    a: Tensor | None = None
    e: Tensor | None = None
    transposed: bool = False

    @property
    def T(self) -> FixedLeft:  # noqa: N802 - numpy's name for the transpose
        return replace(self, transposed=not self.transposed)

    @property
    def shape(self) -> tuple[int, int]:
        """The shape of the left operand this mask multiplies (X's, or Xᵀ's)."""
        m, k = self.x.shape
        return (k, m) if self.transposed else (m, k)


def product_share(
    ring: Ring, rank: int, mask: FixedLeft, f: Tensor, b: Tensor, c: Tensor
) -> Tensor:
    """This party's share of L@Y (not truncated), L = X or Xᵀ, from the opened F = Y - B:
    Z_i = C_i + L_E@B_i + L_A,i@F + [i==0]·L_E@F, where L_E, L_A are E, A_i or their
    transposes (E·(B_0 + F) on rank 0 saves a product)."""
    assert mask.a is not None and mask.e is not None  # the engine checks
    e, a = mask.e, mask.a
    if mask.transposed:
        e, a = ring.transpose(e), ring.transpose(a)
    left = ring.add(b, f) if rank == 0 else b
    return ring.add(c, ring.add(ring.matmul(e, left), ring.matmul(a, f)))
