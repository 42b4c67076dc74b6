"""What the active party keeps of a trained SGB model, and how it is saved.

Per tree, the active party knows the whole *shape* (every split node and every leaf,
heap-numbered: children of ``i`` are ``2i+1`` and ``2i+2``), the leaf weights, and who
owns each split. For its own splits it keeps the feature and the threshold (rows with
``x < threshold`` go left); for a passive party's split it keeps only the owner's rank —
never the split point, which it never learns. The leaves are kept in the order the wire
uses (the leaf indices sent at the end of each tree), because the passive parties'
per-row leaf bitmaps are in that order.

Saved as versioned JSON. Guarantee: :meth:`ActiveModel.load` returns only a model whose
trees are consistent (every leaf's ancestors are split nodes, every split node's two
children are nodes of the tree, one weight per leaf, owners are ranks of the training,
own splits name a known feature and a threshold, passive splits name none); anything
else is an ``AlgorithmError`` naming what is wrong, never a model that predicts wrongly.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from isthmus.components.errors import AlgorithmError

FORMAT = "isthmus.sgb.active"
VERSION = 1


@dataclass(frozen=True)
class Split:
    """One split node: its owner's rank; feature and threshold only for our own."""

    owner: int
    feature: str | None = None
    threshold: float | None = None


@dataclass(frozen=True)
class ActiveTree:
    splits: dict[int, Split]
    leaves: tuple[int, ...]
    weights: tuple[float, ...]

    def own_leaf_select(self, x: NDArray[np.float64], columns: dict[str, int]) -> NDArray[np.bool_]:
        """``(rows, leaves)``: True where this party's splits allow the row into the leaf
        (a passive party's split allows everything here; its own bitmap decides)."""
        out = np.ones((x.shape[0], len(self.leaves)), dtype=bool)
        for j, leaf in enumerate(self.leaves):
            node = leaf
            while node > 0:
                parent = (node - 1) // 2
                split = self.splits[parent]
                if split.owner == 0:
                    assert split.feature is not None and split.threshold is not None
                    goes_left = x[:, columns[split.feature]] < split.threshold
                    out[:, j] &= goes_left if node % 2 == 1 else ~goes_left
                node = parent
        return out


@dataclass(frozen=True)
class ActiveModel:
    objective: str
    base_score: float
    feature_names: tuple[str, ...]
    world_size: int
    trees: tuple[ActiveTree, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "objective": self.objective,
            "base_score": self.base_score,
            "feature_names": list(self.feature_names),
            "world_size": self.world_size,
            "trees": [
                {
                    "splits": [
                        {"node": node, "owner": s.owner, "feature": s.feature,
                         "threshold": s.threshold}
                        for node, s in sorted(tree.splits.items())
                    ],
                    "leaves": list(tree.leaves),
                    "weights": list(tree.weights),
                }
                for tree in self.trees
            ],
        }  # fmt: skip

    def save(self, path: Path) -> None:
        """Write the model as JSON (thresholds may be ``Infinity``: Python's JSON)."""
        path.write_text(json.dumps(self.to_json(), indent=1))

    @classmethod
    def load(cls, path: Path) -> ActiveModel:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise AlgorithmError(f"SGB model {path.name}: unreadable ({exc})") from None
        return cls.from_json(data)

    @classmethod
    def from_json(cls, data: Any) -> ActiveModel:
        """A validated model (see the module docstring), or ``AlgorithmError``."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise AlgorithmError(f"SGB model: not an {FORMAT} model")
        if data.get("version") != VERSION:
            raise AlgorithmError(f"SGB model: version {data.get('version')!r} is not {VERSION}")
        objective = data.get("objective")
        if objective not in ("logistic", "squared"):
            raise AlgorithmError(f"SGB model: objective {objective!r} is unknown")
        base = data.get("base_score")
        if isinstance(base, bool) or not isinstance(base, int | float) or not math.isfinite(base):
            raise AlgorithmError("SGB model: base_score is not a finite number")
        names = data.get("feature_names")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise AlgorithmError("SGB model: feature_names is not a list of names")
        world = data.get("world_size")
        if isinstance(world, bool) or not isinstance(world, int) or world < 2:
            raise AlgorithmError("SGB model: world_size is not an integer >= 2")
        trees = data.get("trees")
        if not isinstance(trees, list):
            raise AlgorithmError("SGB model: trees is not a list")
        parsed = tuple(_tree(t, i, set(names), world) for i, t in enumerate(trees))
        return cls(objective, float(base), tuple(names), world, parsed)


def _tree(data: Any, index: int, names: set[str], world: int) -> ActiveTree:
    what = f"SGB model tree {index}"
    if not isinstance(data, dict):
        raise AlgorithmError(f"{what}: not an object")
    splits: dict[int, Split] = {}
    for item in data.get("splits", []):
        if not isinstance(item, dict):
            raise AlgorithmError(f"{what}: a split is not an object")
        node, owner = item.get("node"), item.get("owner")
        if not isinstance(node, int) or isinstance(node, bool) or node < 0 or node in splits:
            raise AlgorithmError(f"{what}: split node {node!r} is invalid or repeated")
        if not isinstance(owner, int) or isinstance(owner, bool) or not 0 <= owner < world:
            raise AlgorithmError(f"{what}: node {node}: owner {owner!r} is not a rank")
        feature, threshold = item.get("feature"), item.get("threshold")
        if owner == 0:
            if feature not in names:
                raise AlgorithmError(f"{what}: node {node}: feature {feature!r} is unknown")
            if isinstance(threshold, bool) or not isinstance(threshold, int | float):
                raise AlgorithmError(f"{what}: node {node}: threshold is not a number")
            if math.isnan(threshold):
                raise AlgorithmError(f"{what}: node {node}: threshold is NaN")
            splits[node] = Split(0, feature, float(threshold))
        else:
            if feature is not None or threshold is not None:
                raise AlgorithmError(
                    f"{what}: node {node}: a passive party's split must not carry its split point"
                )
            splits[node] = Split(owner)
    leaves, weights = data.get("leaves"), data.get("weights")
    if not isinstance(leaves, list) or not all(_is_int(n) and n >= 0 for n in leaves):
        raise AlgorithmError(f"{what}: leaves is not a list of node ids")
    if not isinstance(weights, list) or len(weights) != len(leaves):
        raise AlgorithmError(f"{what}: {len(leaves)} leaves but not as many weights")
    if not all(
        not isinstance(w, bool) and isinstance(w, int | float) and math.isfinite(w) for w in weights
    ):
        raise AlgorithmError(f"{what}: a leaf weight is not a finite number")
    check_shape(splits, leaves, what)
    return ActiveTree(splits, tuple(leaves), tuple(float(w) for w in weights))


def check_shape(splits: dict[int, Any], leaves: list[int], what: str) -> None:
    """Leaves and splits partition a binary tree rooted at 0 (heap numbering)."""
    if set(splits) & set(leaves) or len(set(leaves)) != len(leaves):
        raise AlgorithmError(f"{what}: a node is both a leaf and a split, or repeated")
    nodes = set(splits) | set(leaves)
    if 0 not in nodes:
        raise AlgorithmError(f"{what}: no root")
    for node in nodes:
        if node > 0 and (node - 1) // 2 not in splits:
            raise AlgorithmError(f"{what}: node {node} has no split parent")
    for node in splits:
        if 2 * node + 1 not in nodes or 2 * node + 2 not in nodes:
            raise AlgorithmError(f"{what}: split node {node} lacks a child")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
