"""``Shared``: one party's share of a fixed-point (or integer) tensor."""

from __future__ import annotations

from dataclasses import dataclass

from isthmus.mpc.ring import Tensor


@dataclass(frozen=True)
class Shared:
    """This party's share of a tensor of logical ``shape`` (a ring tensor)."""

    share: Tensor
    shape: tuple[int, ...]
