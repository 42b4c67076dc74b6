"""Components built into the Isthmus image (importing this registers them)."""

from isthmus.components.builtin import (
    column_select,
    data_split,
    ecdh_psi,
    evaluate,
    he_lr,
    summary_stats,
)

__all__ = ["column_select", "data_split", "ecdh_psi", "evaluate", "he_lr", "summary_stats"]
