"""Components built into the Isthmus image (importing this registers them)."""

from isthmus.components.builtin import (
    column_select,
    data_split,
    ecdh_psi,
    evaluate,
    he_lr,
    summary_stats,
)
from isthmus.components.builtin.sgb import component as sgb

__all__ = [
    "column_select",
    "data_split",
    "ecdh_psi",
    "evaluate",
    "he_lr",
    "sgb",
    "summary_stats",
]
