"""Components built into the Isthmus image (importing this registers them)."""

from isthmus.components.builtin import column_select, ecdh_psi

__all__ = ["column_select", "ecdh_psi"]
