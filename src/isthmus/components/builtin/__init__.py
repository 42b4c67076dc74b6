"""Components built into the Isthmus image (importing this registers them)."""

from isthmus.components.builtin import column_select

__all__ = ["column_select"]
