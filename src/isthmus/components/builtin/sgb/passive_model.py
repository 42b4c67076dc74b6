"""The passive party's part of an SGB model: its own split points, nothing else.

Per tree, the nodes this party split (node index, feature index and name, threshold:
rows with ``x < threshold`` go left), the indices of the nodes another party split (so
that prediction can walk the tree's shape without knowing their splits) and the leaf
indices in the order the active party gave them (the column order of the leaf bitmaps
sent at prediction). No leaf weight, no label, no other party's feature: the active
party keeps those.

Saved as versioned JSON; :meth:`PassiveModel.load` validates everything (types, ranges,
that every node is reachable from the root and every leaf is a child of a split node or
the root) so that a corrupted or hand-edited file is a clear error, not a wrong score.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from isthmus.components.errors import AlgorithmError

__all__ = ["FORMAT", "VERSION", "PassiveModel", "PassiveSplit", "PassiveTree"]

FORMAT = "isthmus.sgb.passive"
VERSION = 1


@dataclass(frozen=True)
class PassiveSplit:
    """One split this party owns: ``x[feature] < threshold`` goes to the left child."""

    node: int
    feature: int
    feature_name: str
    threshold: float


@dataclass(frozen=True)
class PassiveTree:
    """One tree as this party sees it."""

    splits: tuple[PassiveSplit, ...]
    #: nodes split by another party (we do not know how)
    foreign_nodes: tuple[int, ...]
    #: leaf node indices, in the order of the prediction bitmaps' columns
    leaves: tuple[int, ...]

    def split_by_node(self) -> dict[int, PassiveSplit | None]:
        """Every split node of the tree: ours with the split, another party's as None."""
        out: dict[int, PassiveSplit | None] = {n: None for n in self.foreign_nodes}
        out.update({s.node: s for s in self.splits})
        return out


@dataclass
class RevealedScores:
    """What the active party revealed in plaintext after training (``--after reveal``,
    only when the job allowed it). Kept in memory, never saved with the model."""

    predictions: Any
    labels: Any


@dataclass
class PassiveModel:
    """This passive party's trees and its feature names (their order is the column
    order prediction expects)."""

    feature_names: tuple[str, ...]
    trees: list[PassiveTree] = field(default_factory=list)
    revealed: RevealedScores | None = field(default=None, compare=False, repr=False)

    # --- JSON -----------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "feature_names": list(self.feature_names),
            "trees": [
                {
                    "splits": [
                        {
                            "node": s.node,
                            "feature": s.feature,
                            "feature_name": s.feature_name,
                            "threshold": s.threshold,
                        }
                        for s in tree.splits
                    ],
                    "foreign_nodes": list(tree.foreign_nodes),
                    "leaves": list(tree.leaves),
                }
                for tree in self.trees
            ],
        }

    def save(self, path: str | Path) -> None:
        """Write the model as JSON (strict: no NaN or infinities)."""
        Path(path).write_text(json.dumps(self.to_json(), allow_nan=False, indent=1))

    @classmethod
    def load(cls, path: str | Path) -> PassiveModel:
        """Read and validate a saved model; ``AlgorithmError`` naming what is wrong."""
        try:
            raw = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise AlgorithmError(f"SGB passive model {path}: unreadable: {exc}") from exc
        return cls.from_json(raw)

    @classmethod
    def from_json(cls, raw: Any) -> PassiveModel:
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise _bad("format", f"is not {FORMAT!r}")
        if raw.get("version") != VERSION:
            raise _bad("version", f"{raw.get('version')!r} is not supported (we read {VERSION})")
        names = raw.get("feature_names")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise _bad("feature_names", "must be a list of strings")
        trees_raw = raw.get("trees")
        if not isinstance(trees_raw, list):
            raise _bad("trees", "must be a list")
        trees = [_tree(t, i, len(names)) for i, t in enumerate(trees_raw)]
        for i, tree in enumerate(trees):
            for s in tree.splits:
                if names[s.feature] != s.feature_name:
                    raise _bad(f"trees[{i}]", f"node {s.node}: feature name does not match")
        return cls(tuple(names), trees)


def _bad(where: str, problem: str) -> AlgorithmError:
    return AlgorithmError(f"SGB passive model: {where} {problem}")


def _int(value: Any, where: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _bad(where, f"must be an integer in {low}..{high}, got {value!r}")
    return value


_MAX_NODE = 2**17 - 2  # depth 16


def _tree(raw: Any, index: int, features: int) -> PassiveTree:
    where = f"trees[{index}]"
    if not isinstance(raw, dict):
        raise _bad(where, "must be an object")
    splits: list[PassiveSplit] = []
    for j, s in enumerate(raw.get("splits") or []):
        w = f"{where}.splits[{j}]"
        if not isinstance(s, dict):
            raise _bad(w, "must be an object")
        threshold = s.get("threshold")
        if not isinstance(threshold, (int, float)) or isinstance(threshold, bool):
            raise _bad(w, "threshold must be a number")
        if not math.isfinite(float(threshold)):
            raise _bad(w, "threshold must be finite")
        name = s.get("feature_name")
        if not isinstance(name, str):
            raise _bad(w, "feature_name must be a string")
        splits.append(
            PassiveSplit(
                node=_int(s.get("node"), f"{w}.node", 0, _MAX_NODE),
                feature=_int(s.get("feature"), f"{w}.feature", 0, max(features - 1, 0)),
                feature_name=name,
                threshold=float(threshold),
            )
        )
        if features == 0:
            raise _bad(w, "a split needs a feature")
    foreign = tuple(
        _int(n, f"{where}.foreign_nodes", 0, _MAX_NODE) for n in raw.get("foreign_nodes") or []
    )
    leaves_raw = raw.get("leaves")
    if not isinstance(leaves_raw, list) or not leaves_raw:
        raise _bad(f"{where}.leaves", "must be a non-empty list")
    leaves = tuple(_int(n, f"{where}.leaves", 0, _MAX_NODE) for n in leaves_raw)
    tree = PassiveTree(tuple(splits), foreign, leaves)
    check_tree_shape(tree, where)
    return tree


def check_tree_shape(tree: PassiveTree, where: str) -> None:
    """Split nodes and leaves form one binary tree rooted at node 0: every split node's
    parent is a split node, the leaves are exactly the children of split nodes that are
    not split themselves (or the root alone), with no repeats."""
    split_nodes = [s.node for s in tree.splits] + list(tree.foreign_nodes)
    nodes = set(split_nodes)
    if len(nodes) != len(split_nodes):
        raise _bad(where, "a node is split twice")
    for n in nodes:
        if n != 0 and (n - 1) // 2 not in nodes:
            raise _bad(where, f"split node {n} has no split parent")
    expected = {c for n in nodes for c in (2 * n + 1, 2 * n + 2)} - nodes if nodes else {0}
    if len(set(tree.leaves)) != len(tree.leaves) or set(tree.leaves) != expected:
        raise _bad(where, "leaves do not match the split nodes")
