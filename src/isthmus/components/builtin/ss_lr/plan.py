"""What every SS-LR party agreed to run: the training schedule, the same on all.

The guarantee: the handshake (or the BFIA parameters) produce one :class:`TrainPlan`
and training follows nothing else, so the parties' engines stay in lockstep.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrainPlan:
    """What every party agreed to run (the handshake's or BFIA parameters' result)."""

    num_epoch: int
    batch_size: int
    learning_rate: float
    l2_norm: float
    feature_nums: tuple[int, ...]
    label_rank: int
    sigmoid_mode: str = "minimax_1"

    @property
    def width(self) -> int:
        """Columns of X and entries of w: every feature plus the bias."""
        return sum(self.feature_nums) + 1

    def batches(self, rows: int) -> list[tuple[int, int]]:
        """Row ranges of one epoch's mini-batches (the partial last batch discarded)."""
        size = self.batch_size
        return [(b * size, (b + 1) * size) for b in range(rows // size)]
