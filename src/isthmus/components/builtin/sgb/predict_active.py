"""Joint SGB prediction on the active party's side (docs/protocol.md §13, pushes #39-#41).

Every party evaluates its own split nodes only. The active party sends every passive
party its ``[rows, features]`` and reads theirs (the rows must agree: the tables are
aligned beforehand); then, tree by tree, each passive party sends, per row, the packed
bitmap of the leaves its splits let the row reach (in the tree's leaf order). The
active party ANDs those with its own bitmap: exactly one leaf remains per row, whose
weight it adds to the margin. The passive parties learn nothing of the labels, the leaf
weights or the scores; the active party learns, per row and tree, which leaf, as in
SecretFlow.

This module also holds the small receive helpers the training uses: every value a
partner sends is decoded with ``isthmus.wire.exchange`` and checked for the container,
type and shape expected; anything else is an ``AlgorithmError`` naming the rank and
the field, before any arithmetic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from isthmus.components.builtin.sgb.active_model import ActiveModel
from isthmus.components.errors import AlgorithmError
from isthmus.link import LinkContext
from isthmus.wire.errors import MalformedExchange
from isthmus.wire.exchange import Container, Exchange, ScalarType, pack_list, unpack

INT_TYPES = (
    ScalarType.INT8, ScalarType.UINT8, ScalarType.INT16, ScalarType.UINT16,
    ScalarType.INT32, ScalarType.UINT32, ScalarType.INT64, ScalarType.UINT64,
)  # fmt: skip


def field_error(rank: int, field: str, problem: str) -> AlgorithmError:
    return AlgorithmError(f"rank {rank} sent a bad {field}: {problem}")


async def recv_value(
    link: LinkContext,
    rank: int,
    field: str,
    container: Container,
    types: Sequence[ScalarType],
) -> Any:
    """The next value from ``rank``, decoded and checked (container and scalar type)."""
    data = await link.recv(rank)
    try:
        exchange: Exchange = unpack(data)
    except MalformedExchange as exc:
        raise field_error(rank, field, exc.message) from None
    if exchange.container is not container or exchange.scalar_type not in types:
        raise field_error(
            rank,
            field,
            f"expected {container.value} of {'/'.join(t.name for t in types)}, got "
            f"{exchange.container.value} of {exchange.scalar_type.name}",
        )
    return exchange.value


async def send_all(link: LinkContext, payload: bytes) -> None:
    """The same value to every passive party (each on its own numbered key)."""
    await asyncio.gather(*(link.send(rank, payload) for rank in link.peers))


async def exchange_shapes(link: LinkContext, rows: int, features: int) -> dict[int, int]:
    """Send ``[rows, features]``, read every passive party's; their feature counts.

    A partner with another row count is refused: the tables are not aligned."""
    await send_all(link, pack_list([rows, features]))
    counts: dict[int, int] = {}
    for rank in link.peers:
        shape = await recv_value(link, rank, "shape", Container.F_SCALAR_LIST, INT_TYPES)
        if shape.shape != (2,):
            raise field_error(rank, "shape", f"{shape.shape[0]} items, not [rows, features]")
        their_rows, their_features = (int(v) for v in shape)
        if their_rows != rows:
            raise field_error(rank, "shape", f"{their_rows} rows, ours has {rows}")
        if their_features < 0:
            raise field_error(rank, "shape", f"negative feature count {their_features}")
        counts[rank] = their_features
    return counts


async def recv_leaf_selects(
    link: LinkContext, rank: int, rows: int, leaves: int, field: str
) -> NDArray[np.bool_]:
    """A passive party's per-row packed leaf bitmaps as a ``(rows, leaves)`` array."""
    arrays = await recv_value(link, rank, field, Container.F_NDARRAY_LIST, [ScalarType.UINT8])
    width = (leaves + 7) // 8
    if len(arrays) != rows:
        raise field_error(rank, field, f"{len(arrays)} row bitmaps for {rows} rows")
    if any(a.shape != (width,) for a in arrays):
        raise field_error(rank, field, f"a row bitmap is not {width} bytes for {leaves} leaves")
    if rows == 0:
        return np.zeros((0, leaves), dtype=bool)
    packed = np.stack(arrays)
    return np.unpackbits(packed, axis=1, count=leaves).astype(bool)


def add_tree(
    margin: NDArray[np.float64],
    select: NDArray[np.bool_],
    weights: Sequence[float],
    tree_index: int,
) -> None:
    """``margin += weight of the one leaf each row reaches``; refuses rows that reach
    none or several (a passive party's bitmaps contradict the tree)."""
    reached = select.sum(axis=1)
    bad = np.flatnonzero(reached != 1)
    if bad.size:
        raise AlgorithmError(
            f"tree {tree_index}: the leaf bitmaps give {int(reached[bad[0]])} leaves for "
            f"row {int(bad[0])} (exactly one expected)"
        )
    margin += select.astype(np.float64) @ np.asarray(weights, dtype=np.float64)


def activate(objective: str, margin: NDArray[np.float64]) -> NDArray[np.float64]:
    """Probabilities for ``logistic``, the margin for ``squared``."""
    if objective == "logistic":
        out: NDArray[np.float64] = 1.0 / (1.0 + np.exp(-margin))
        return out
    return margin


async def predict_active(
    link: LinkContext, model: ActiveModel, features: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Scores for every row of ``features`` (the active party's columns, in the model's
    feature order): probabilities for ``logistic``; needs every passive party online."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(model.feature_names):
        raise AlgorithmError(
            f"features: {x.shape} does not match the model's {len(model.feature_names)} columns"
        )
    if not np.all(np.isfinite(x)):
        raise AlgorithmError("features: NaN or infinite values")
    if link.world_size != model.world_size:
        raise AlgorithmError(
            f"the model was trained by {model.world_size} parties, the link has {link.world_size}"
        )
    rows = x.shape[0]
    await exchange_shapes(link, rows, x.shape[1])
    columns = {name: i for i, name in enumerate(model.feature_names)}
    margin = np.full(rows, model.base_score, dtype=np.float64)
    for t, tree in enumerate(model.trees):
        select = tree.own_leaf_select(x, columns)
        for rank in link.peers:
            theirs = await recv_leaf_selects(
                link, rank, rows, len(tree.leaves), f"leaf bitmaps of tree {t}"
            )
            select &= theirs
        add_tree(margin, select, tree.weights, t)
    return activate(model.objective, margin)
