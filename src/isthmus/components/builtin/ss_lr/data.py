"""A party's SS-LR table: numeric features (and, on the label owner, a 0/1 label), rows
in id order.

The guarantee: the matrix handed to training is exactly the table's feature cells, row
``r`` being the ``r``-th smallest id on every party (``components.tables.id_order``,
as sgb and he_lr align), or a :class:`ParameterError` naming the input, column and row
of the first bad cell (non-numeric, NaN/infinite, a label other than 0/1, a repeated
id, a short row); ``skip_rows`` data rows are dropped first, as the BFIA parameter says.
The label is ``label_col`` or, if that is empty, the last column (the digest's layout).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from isthmus.components.env import TableRef
from isthmus.components.errors import AlgorithmError, ParameterError, StorageError
from isthmus.components.runtime import RunContext
from isthmus.components.tables import csv_rows, id_order


@dataclass(frozen=True)
class Table:
    ids: list[str]
    x: np.ndarray
    names: list[str]
    y: np.ndarray | None
    label_col: str | None


def _number(text: str, slot: str, name: str, line: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ParameterError(slot, f"column {name!r}: row {line} is not a number") from None
    if not math.isfinite(value):
        raise ParameterError(slot, f"column {name!r}: row {line} is NaN or infinite")
    return value


def load(
    ctx: RunContext,
    ref: TableRef,
    *,
    slot: str,
    id_col: str,
    label_col: str | None,
    skip_rows: int = 0,
    features: list[str] | None = None,
) -> Table:
    """Read, check and id-order a party's table. ``label_col`` None: no label; ""
    the last column."""
    try:
        with csv_rows(ctx.storage, ref) as (header, rows):
            if id_col not in header:
                raise ParameterError("id_col", f"{id_col!r} is not a column of {slot}")
            label = None
            if label_col is not None:
                label = label_col or header[-1]
                if label not in header or label == id_col:
                    raise ParameterError("label_col", f"{label!r} is not a label column of {slot}")
            names = features or [c for c in header if c not in (id_col, label)]
            missing = [c for c in names if c not in header]
            if missing:
                raise ParameterError(slot, f"the model's feature columns are missing: {missing}")
            positions = [header.index(c) for c in names]
            ii = header.index(id_col)
            li = header.index(label) if label is not None else None
            ids: list[str] = []
            matrix: list[list[float]] = []
            labels: list[float] = []
            for line, row in enumerate(rows, start=2):
                if line - 2 < skip_rows:
                    continue
                ids.append(row[ii])
                matrix.append(
                    [_number(row[p], slot, n, line) for n, p in zip(names, positions, strict=True)]
                )
                if li is not None:
                    value = _number(row[li], slot, str(label), line)
                    if value not in (0.0, 1.0):
                        raise ParameterError(slot, f"label {label!r}: row {line} is not 0 or 1")
                    labels.append(value)
    except StorageError as exc:
        raise ParameterError(slot, str(exc)) from None
    if not ids:
        raise ParameterError(slot, "the table has no rows")
    try:
        order = id_order(ids, id_col)
    except AlgorithmError as exc:
        raise ParameterError(slot, str(exc)) from None
    x = np.array(matrix, dtype=np.float64).reshape(len(ids), len(names))[order]
    y = np.array(labels)[order] if li is not None else None
    return Table([ids[r] for r in order], x, names, y, label)
