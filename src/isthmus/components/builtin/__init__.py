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
from isthmus.components.builtin.ss_lr import component as ss_lr

__all__ = [
    "column_select",
    "data_split",
    "ecdh_psi",
    "evaluate",
    "he_lr",
    "sgb",
    "ss_lr",
    "summary_stats",
]
