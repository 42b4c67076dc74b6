"""Reading and writing values of the ``file`` storage engine, inside the node's root.

A ``file`` value is the same bytes as a ``Direct`` one, unencoded: C-ordered little-endian
elements of its ``dtype`` (wire.secure_operate), in the file ``key`` of the folder ``uri``
under this node's secure-operator root. **Guarantee:** every path is built with
``wire.ids.inside``, so no ``uri`` or ``key`` (``..``, an absolute path, a planted link)
reaches outside the root; the byte count must match ``shape``, or nothing is used.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from isthmus.wire.errors import SecopCode, SecopInvalid, SecopStorageError
from isthmus.wire.ids import PathOutsideRoot, inside
from isthmus.wire.secure_operate import DataValueTag, element_count, numpy_dtype


def path_of(root: Path, tag: DataValueTag) -> Path:
    """The file of ``tag`` under ``root``; refused (BAD_INPUT) if it would leave it."""
    folder = [p for p in (tag.uri or "").split("/") if p]
    key = tag.key or tag.name
    try:
        return inside(root, *folder, key)
    except PathOutsideRoot as exc:
        raise SecopInvalid(f"{tag.name}: {exc.message}", SecopCode.BAD_INPUT) from None


def read(root: Path, tag: DataValueTag) -> np.ndarray[Any, Any]:
    path = path_of(root, tag)
    kind = numpy_dtype(tag.dtype)
    count = element_count(tag.shape)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SecopStorageError(
            f"{tag.name}: cannot read {tag.key or tag.name}: {exc.strerror}"
        ) from None
    if len(raw) != count * kind.itemsize:
        raise SecopInvalid(
            f"{tag.name}: the file holds {len(raw)} bytes; shape {tag.shape} of "
            f"{kind.name} needs {count * kind.itemsize}",
            SecopCode.BAD_INPUT,
        )
    if tag.delete:
        path.unlink(missing_ok=True)
    return np.frombuffer(raw, dtype=kind).reshape(tuple(tag.shape)).copy()


def write(root: Path, tag: DataValueTag, value: np.ndarray[Any, Any]) -> None:
    path = path_of(root, tag)
    data = np.ascontiguousarray(value, dtype=numpy_dtype(tag.dtype)).tobytes()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(data)
        os.replace(partial, path)
    except OSError as exc:
        raise SecopStorageError(f"{tag.name}: cannot write {path.name}: {exc.strerror}") from None
