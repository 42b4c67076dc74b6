"""What the passive party sends in both training and prediction: its table's shape to
every party (rows must agree, or the parties' rows are not aligned) and, per tree, which
leaves each row can reach given only its own splits. One module, so that the trainer
(``passive``) and the predictor (``predict_passive``) share it without importing each
other."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from isthmus.components.builtin.sgb.passive_model import PassiveTree
from isthmus.components.errors import AlgorithmError
from isthmus.link import LinkContext
from isthmus.wire import exchange as wx
from isthmus.wire.errors import MalformedExchange

ACTIVE = 0

INTS = [
    wx.ScalarType.INT8,
    wx.ScalarType.UINT8,
    wx.ScalarType.INT16,
    wx.ScalarType.UINT16,
    wx.ScalarType.INT32,
    wx.ScalarType.UINT32,
    wx.ScalarType.INT64,
    wx.ScalarType.UINT64,
]


async def exchange_shapes(link: LinkContext, rows: int, features: int) -> None:
    """``[rows, features]`` to every other party and theirs back; rows must agree."""
    for peer in link.peers:
        await link.send(peer, wx.pack_list([rows, features]))
    for peer in link.peers:
        what = f"rank {peer}'s [rows, features]"
        value = wx.expect(
            wx.unpack(await link.recv(peer)), wx.Container.F_SCALAR_LIST, INTS, None, what
        )
        shape = [int(v) for v in np.asarray(value).reshape(-1)]
        if len(shape) != 2 or shape[1] < 0:
            raise MalformedExchange(f"{what}: expected [rows, features], got {shape}")
        if shape[0] != rows:
            raise AlgorithmError(
                f"{what}: rank {peer} has {shape[0]} rows, we have {rows}: the parties' rows "
                "are not aligned (run a PSI first)"
            )


def leaf_bitmaps(tree: PassiveTree, features: npt.NDArray[np.float64]) -> npt.NDArray[np.uint8]:
    """Per row, which of the tree's leaves it can reach given only our splits (another
    party's split lets it go both ways), packed per row: shape ``(rows, ceil(L / 8))``."""
    rows = features.shape[0]
    splits = tree.split_by_node()
    reach: dict[int, npt.NDArray[np.bool_]] = {0: np.ones(rows, dtype=bool)}
    for node in sorted(splits):
        here = reach.get(node)
        if here is None:
            raise AlgorithmError(f"SGB passive model: split node {node} is unreachable")
        split = splits[node]
        if split is None:
            left, right = here, here
        else:
            goes_left = features[:, split.feature] < split.threshold
            left, right = here & goes_left, here & ~goes_left
        reach[2 * node + 1], reach[2 * node + 2] = left, right
    matrix = np.stack([reach[leaf] for leaf in tree.leaves], axis=1).astype(np.uint8)
    return np.packbits(matrix, axis=1)


async def send_leaf_bitmaps(
    link: LinkContext, tree: PassiveTree, features: npt.NDArray[np.float64]
) -> None:
    """One tree's reachable-leaf bitmaps to the active party, one array per row."""
    packed = leaf_bitmaps(tree, features)
    await link.send(ACTIVE, wx.pack_array_list(list(packed), wx.ScalarType.UINT8))
