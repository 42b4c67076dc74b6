"""SGB prediction, passive party: the PPCA flow as SecretFlow runs it.

The parties first exchange ``[rows, features]`` (the row counts must agree), then, per
tree of the model in order, the passive party sends the active party, for every row, the
bitmap of the tree's leaves the row can reach given only the passive party's own splits
(a split of another party lets it go both ways; bits in the order of the tree's leaf
indices, packed most significant bit first). The active party intersects the parties'
bitmaps — exactly one leaf remains — and adds the leaf weights it alone holds. The
passive party learns nothing: it receives no score.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from isthmus.components.builtin.sgb.passive_link import exchange_shapes, send_leaf_bitmaps
from isthmus.components.builtin.sgb.passive_model import PassiveModel
from isthmus.components.errors import AlgorithmError
from isthmus.link import LinkContext

__all__ = ["predict_passive"]


async def predict_passive(link: LinkContext, model: PassiveModel, features: npt.ArrayLike) -> None:
    """Run the joint prediction of ``model`` on ``features`` (rows aligned with the
    active party's, columns in the model's feature order)."""
    array = np.asarray(features, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != len(model.feature_names):
        raise AlgorithmError(
            f"features of shape {array.shape} for a model of {len(model.feature_names)} "
            "feature columns"
        )
    if not np.all(np.isfinite(array)):
        raise AlgorithmError("features hold NaN or infinite values")
    await exchange_shapes(link, array.shape[0], array.shape[1])
    for tree in model.trees:
        await send_leaf_bitmaps(link, tree, array)
