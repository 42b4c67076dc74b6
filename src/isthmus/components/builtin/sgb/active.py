"""SGB training on the active party (rank 0: label holder, PHE key owner).

The scheme is SecretFlow's Paillier, or EC-ElGamal between Isthmus parties
(:mod:`.scheme`: the seam, and the EC-ElGamal decryption bound).

The message sequence is SecretFlow's (secretflow-lite 1.10.0b1, ``secretflow.ic`` running
``sgb_v`` level-wise), as docs/protocol.md §13 lists it for one tree; with several
passive parties every one of them gets the same sequence on its own numbered keys.

1. Handshake (:mod:`.negotiate`); the public key; ``[rows, features]`` both ways.
2. Per tree: the sampled bucket counts both ways; the row sample when
   ``row_sample_by_tree < 1``, otherwise the row count; per level: which child of each
   sibling pair is summed (``True`` = left, the one with fewer rows), the packed
   bitmaps of those children, at the root the encrypted ``(g, h)`` matrix (fixed point
   2^20, column-major); each passive party's encrypted cumulative bucket sums, one
   matrix per node of the level; the split decisions and the best *global* bucket of
   every node (buckets are numbered party by party in rank order, the active party's
   first); the node indices (below the root); each passive party's left-child bitmaps
   for the splits it owns; whether the next level is
   empty. Then the leaf indices and whether the tree is empty (which ends training).
3. Between trees, each passive party's per-row leaf bitmaps on all rows (the margins
   of the next tree's gradients).

The split rule is SecretFlow's (``sgb_v/core/pure_numpy_ops/boost.py``): the sums of a
node over all parties' buckets are concatenated; ``GA, HA`` are the last column;
``gain = GL²/(HL+λ) + GR²/(HR+λ) - GA²/(HA+λ)``; the best bucket is the first maximum;
a node splits when ``gamma == 0``, or when ``max gain - gamma > 0``. Sibling
subtraction: only the chosen child of each pair is summed from rows; the other is its
parent's sums minus the chosen child's (the passive parties do this under encryption
and send one matrix per node of the level; we do it in plaintext for our buckets). Leaf
weight
``-G/(H+λ)·learning_rate`` (0 for an empty leaf). Own buckets are summed in plaintext.

Guarantee: a returned model was trained on what every passive party sent, each value
checked (container, type, shape, ciphertext range, bucket counts, bitmaps) — a partner's
bad value is an ``AlgorithmError`` naming its rank and field, never a wrong model.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from isthmus.components.builtin.sgb.active_model import ActiveModel, ActiveTree, Split
from isthmus.components.builtin.sgb.bucketing import Bucketing, bucketize
from isthmus.components.builtin.sgb.negotiate import negotiate
from isthmus.components.builtin.sgb.predict_active import (
    INT_TYPES,
    activate,
    add_tree,
    exchange_shapes,
    field_error,
    predict_active,
    recv_leaf_selects,
    recv_value,
    send_all,
)
from isthmus.components.builtin.sgb.scheme import (
    CURVES,
    ActiveScheme,
    EcActive,
    PaillierActive,
    check_within,
    objective_bound,
)
from isthmus.components.builtin.sgb.settings import SgbSettings
from isthmus.components.errors import AlgorithmError, ParameterError
from isthmus.crypto.phe import SGB_SCALE, FixedPointEncoder, PheError, generate_keypair
from isthmus.link import LinkContext
from isthmus.wire.errors import MalformedExchange
from isthmus.wire.exchange import (
    Container,
    ScalarType,
    pack_array,
    pack_array_list,
    pack_list,
    pack_scalar,
)

AFTER = ("none", "predict", "reveal")
Floats = NDArray[np.float64]


@dataclass
class TrainReport:
    """What the active party reports (no row, label or key in it)."""

    rows: int
    features: int
    passive_features: dict[int, int]
    key_bits: int
    trees: int = 0
    after: str = "none"
    auc: float | None = None
    train_seconds: float = 0.0
    tree_seconds: list[float] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "features": self.features,
            "passive_features": {str(k): v for k, v in self.passive_features.items()},
            "key_bits": self.key_bits,
            "trees": self.trees,
            "after": self.after,
            "auc": self.auc,
            "train_seconds": round(self.train_seconds, 3),
            "tree_seconds": [round(s, 3) for s in self.tree_seconds],
            "settings": self.settings,
        }


def check_local_input(
    features: Any, feature_names: list[str], labels: Any, objective: str
) -> tuple[Floats, Floats]:
    """The active party's own table, checked: 2-d, numeric, finite, labels 0/1 for
    ``logistic``; errors name the column."""
    x = np.asarray(features)
    if x.ndim != 2:
        raise AlgorithmError(f"features must be a 2-d table, got shape {x.shape}")
    if len(feature_names) != x.shape[1]:
        raise AlgorithmError(f"{len(feature_names)} feature names for {x.shape[1]} columns")
    try:
        y = np.asarray(labels, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise AlgorithmError("label column is not numeric") from None
    if y.shape[0] != x.shape[0]:
        raise AlgorithmError(f"{y.shape[0]} labels for {x.shape[0]} rows")
    if not np.all(np.isfinite(y)):
        raise AlgorithmError("label column holds NaN or infinite values")
    if objective == "logistic" and not np.all((y == 0) | (y == 1)):
        raise AlgorithmError("label column: objective 'logistic' needs labels 0 or 1")
    for j, name in enumerate(feature_names):
        try:
            column = np.asarray(x[:, j], dtype=np.float64)
        except (TypeError, ValueError):
            raise AlgorithmError(f"feature column {name!r} is not numeric") from None
        if not np.all(np.isfinite(column)):
            raise AlgorithmError(f"feature column {name!r} holds NaN or infinite values")
    return np.asarray(x, dtype=np.float64), y


def gradients(objective: str, y: Floats, margin: Floats) -> tuple[Floats, Floats]:
    """First and second derivatives of the loss in the margin (logistic, squared)."""
    if objective == "logistic":
        p = 1.0 / (1.0 + np.exp(-margin))
        return p - y, p * (1.0 - p)
    return margin - y, np.ones_like(margin)


def cumulative_sums(bins: NDArray[np.unsignedinteger], v: Floats, bucket_num: int) -> Floats:
    """``out[f * bucket_num + k]`` = sum of ``v`` over rows with bucket ``<= k`` in ``f``."""
    width = bins.shape[1]
    if width == 0:
        return np.zeros(0, dtype=np.float64)
    flat = (bins.astype(np.int64) + np.arange(width, dtype=np.int64) * bucket_num).ravel()
    sums = np.bincount(flat, weights=np.repeat(v, width), minlength=width * bucket_num)
    out = np.cumsum(sums.reshape(width, bucket_num), axis=1).ravel()
    return np.asarray(out, dtype=np.float64)


def find_best_splits(
    level_g: list[Floats], level_h: list[Floats], reg_lambda: float, gamma: float
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """SecretFlow's ``find_best_splits``: per node, the first best global bucket and
    whether the node splits (see the module docstring)."""
    gl, hl = np.stack(level_g), np.stack(level_h)
    ga, ha = gl[:, -1:], hl[:, -1:]
    gr, hr = ga - gl, ha - hl
    gain = (gl / (hl + reg_lambda)) * gl + (gr / (hr + reg_lambda)) * gr
    gain = gain - (gl[:, -1:] / (hl[:, -1:] + reg_lambda)) * gl[:, -1:]
    best = np.argmax(gain, axis=1).astype(np.int64)
    split = (np.max(gain, axis=1) - gamma > 0) if gamma > 0 else np.ones(best.shape, dtype=bool)
    return best, split


def leaf_weight(g: float, h: float, reg_lambda: float, learning_rate: float) -> float:
    """``-G/(H+λ)·learning_rate``; 0 for an empty leaf (``H == 0``)."""
    if h == 0:
        return 0.0
    return float(-((g / (h + reg_lambda)) * learning_rate))


class _Trainer:
    def __init__(
        self,
        link: LinkContext,
        x: Floats,
        names: list[str],
        y: Floats,
        settings: SgbSettings,
        buckets: Bucketing,
        scheme: ActiveScheme,
        ec_bound: int | None = None,
    ) -> None:
        self.link, self.x, self.names, self.y, self.s = link, x, names, y, settings
        self.buckets, self.scheme, self.ec_bound = buckets, scheme, ec_bound
        self.rows = x.shape[0]
        # SecretFlow's label holder: a sampler generator and, for the bucket shuffle,
        # numpy's legacy global generator, both seeded with ``seed`` once per training.
        self.rng = np.random.default_rng(settings.seed)
        self.shuffle_rng = np.random.RandomState(settings.seed)
        self.encoder = FixedPointEncoder(SGB_SCALE)
        self.columns = {name: i for i, name in enumerate(names)}

    # --- per tree -----------------------------------------------------------------

    async def tree(self, margin: Floats, index: int) -> ActiveTree | None:
        s, link, bnum = self.s, self.link, self.buckets.bucket_num
        width = self.x.shape[1]
        if s.col_sample_by_tree < 1.0 and width * bnum > 1:
            count = max(math.ceil(width * s.col_sample_by_tree), 1)
            cols = np.sort(self.rng.choice(width, count, replace=False))
        else:
            cols = np.arange(width)
        own_count = int(cols.size) * bnum
        await send_all(link, pack_scalar(own_count))
        counts = [own_count]
        for rank in link.peers:
            count = await recv_value(link, rank, "bucket count", Container.SCALAR, INT_TYPES)
            if not 0 <= int(count) <= 1 << 24:
                raise field_error(rank, "bucket count", f"{count} is out of range")
            counts.append(int(count))
        offsets = np.concatenate([[0], np.cumsum(counts)])
        g, h = gradients(s.objective, self.y, margin)
        if s.row_sample_by_tree < 1.0:
            n = math.ceil(self.rows * s.row_sample_by_tree)
            # unsorted, as SecretFlow sends them: positions in the tree follow this order
            choices = self.rng.choice(self.rows, n, replace=False, shuffle=True).astype(np.int64)
            await send_all(link, pack_array(choices))
        else:  # SecretFlow then reveals the row count instead, once (the same object)
            choices = np.arange(self.rows, dtype=np.int64)
            if index == 0:
                await send_all(link, pack_scalar(self.rows))
        n = int(choices.size)
        gs, hs = g[choices], h[choices]
        # completely SGB: the first tree splits on the active party's features only
        own_only = s.use_completely_sgb and index == 0
        bins = self.buckets.bins[choices][:, cols]
        encoded = self.encoder.encode_many(gs.tolist()) + self.encoder.encode_many(hs.tolist())
        # Our own buckets are summed as SecretFlow's label holder sums them: fixed-point
        # integers (it adds the same ciphertexts the passive parties get), so the sums,
        # and the ties between equal gains, are exactly its own.
        eg = np.asarray(encoded[:n], dtype=np.float64)
        eh = np.asarray(encoded[n:], dtype=np.float64)
        gh_payload = b""
        if not own_only:
            if self.ec_bound is not None:
                check_within(self.ec_bound, encoded[:n], encoded[n:], index)
            gh_payload = await self.scheme.encrypt_gh(encoded[:n], encoded[n:])

        splits: dict[int, Split] = {}
        leaves: list[tuple[int, NDArray[np.bool_]]] = []
        nodes: list[tuple[int, NDArray[np.bool_]]] = [(0, np.ones(n, dtype=bool))]
        parents: list[tuple[Floats, Floats]] = []
        for level in range(s.max_depth):
            if level == 0:
                is_lefts = [True]
                chosen = [nodes[0][1]]
            else:
                is_lefts = [
                    bool(nodes[i][1].sum() <= nodes[i + 1][1].sum())
                    for i in range(0, len(nodes), 2)
                ]
                chosen = [
                    nodes[2 * i][1] if left else nodes[2 * i + 1][1]
                    for i, left in enumerate(is_lefts)
                ]
            await send_all(link, pack_list(is_lefts))
            if not own_only:  # a completely-SGB first tree asks the passive parties nothing
                bitmaps = [np.packbits(c.astype(np.uint8)) for c in chosen]
                await send_all(link, pack_array_list(bitmaps))
                if level == 0:
                    await send_all(link, gh_payload)
            own: list[tuple[Floats, Floats]] = []
            for i, c in enumerate(chosen):
                cg = cumulative_sums(bins[c], eg[c], bnum) / SGB_SCALE
                ch = cumulative_sums(bins[c], eh[c], bnum) / SGB_SCALE
                if level == 0:
                    own.append((cg, ch))
                    continue
                pg, ph = parents[i]  # the sibling: its parent's sums less the chosen child's
                pair = [(cg, ch), (pg - cg, ph - ch)]
                own.extend(pair if is_lefts[i] else pair[::-1])
            theirs = [] if own_only else await self._passive_sums(len(nodes), counts)
            masks = [self._shuffle_mask(int(cols.size), bnum) for _ in nodes]
            unshuffled = own
            own = [(og[m], oh[m]) for (og, oh), m in zip(own, masks, strict=True)]
            level_g = [
                np.concatenate([og, *(t[i][0] for t in theirs)]) for i, (og, _) in enumerate(own)
            ]
            level_h = [
                np.concatenate([oh, *(t[i][1] for t in theirs)]) for i, (_, oh) in enumerate(own)
            ]
            best, should = find_best_splits(level_g, level_h, s.reg_lambda, s.gamma)
            await send_all(link, pack_array(should.astype(bool)))
            await send_all(link, pack_array(best.astype(np.int64)))
            if level > 0:
                await send_all(link, pack_list([node for node, _ in nodes]))
            split_nodes = [i for i in range(len(nodes)) if should[i]]
            owners = [int(np.searchsorted(offsets, best[i], side="right")) - 1 for i in split_nodes]
            lefts: dict[int, NDArray[np.bool_]] = {}
            for j, i in enumerate(split_nodes):
                node = nodes[i][0]
                if owners[j] == 0:
                    local = int(masks[i][int(best[i])])  # undo our shuffle
                    f = int(cols[local // bnum])
                    k = local % bnum
                    lefts[i] = bins[:, local // bnum] <= k
                    threshold = self.buckets.threshold(f, k)
                    splits[node] = Split(0, self.names[f], threshold)
                else:
                    splits[node] = Split(owners[j])
            for rank in link.peers:
                bitmaps = await recv_value(
                    link, rank, "left-child bitmaps", Container.F_NDARRAY_LIST, [ScalarType.UINT8]
                )
                if len(bitmaps) != len(split_nodes):
                    raise field_error(
                        rank, "left-child bitmaps",
                        f"{len(bitmaps)} bitmaps for {len(split_nodes)} splits",
                    )  # fmt: skip
                for j, i in enumerate(split_nodes):
                    if owners[j] != rank:
                        continue
                    bitmap = bitmaps[j]
                    if bitmap.shape != ((n + 7) // 8,):
                        raise field_error(
                            rank, "left-child bitmaps", f"node {nodes[i][0]}: {bitmap.shape} bytes"
                        )
                    lefts[i] = np.unpackbits(bitmap, count=n).astype(bool)
            following: list[tuple[int, NDArray[np.bool_]]] = []
            parents = []
            for i, (node, select) in enumerate(nodes):
                if not should[i]:
                    leaves.append((node, select))
                    continue
                left = select & lefts[i]
                following += [(2 * node + 1, left), (2 * node + 2, select & ~left)]
                parents.append(unshuffled[i])
            nodes = following
            await send_all(link, pack_scalar(not nodes))
            if not nodes:
                break
        leaves.extend(nodes)
        await send_all(link, pack_list([node for node, _ in leaves]))
        await send_all(link, pack_scalar(not splits))
        if not splits:
            return None
        weights = tuple(
            leaf_weight(float(gs[sel].sum()), float(hs[sel].sum()), s.reg_lambda, s.learning_rate)
            for _, sel in leaves
        )
        return ActiveTree(splits, tuple(node for node, _ in leaves), weights)

    def _shuffle_mask(self, features: int, bnum: int) -> NDArray[np.intp]:
        """SecretFlow's per-node bucket shuffle of the label holder's own sums: within
        each feature a permutation of all buckets but the last (which stays last).
        ``shuffled = sums[mask]``; a best index ``b`` in our range means bucket
        ``mask[b]``. It decides only between exactly equal gains, but decides them as
        SecretFlow does, so the trees are the same."""
        parts: list[NDArray[np.intp]] = []
        for f in range(features):
            mask = np.empty(bnum, dtype=np.intp)
            mask[:-1] = self.shuffle_rng.permutation(bnum - 1)
            mask[-1] = bnum - 1
            parts.append(mask + f * bnum)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.intp)

    async def _passive_sums(
        self, nodes: int, counts: list[int]
    ) -> list[list[tuple[Floats, Floats]]]:
        """Per passive party, per node of the level (in level order), its decrypted
        cumulative (G, H) bucket sums; the passive party sends every node (it derives
        the siblings under encryption), one ``(buckets, 2)`` matrix per node."""
        out: list[list[tuple[Floats, Floats]]] = []
        for p, rank in enumerate(self.link.peers):
            size = counts[p + 1]
            ciphertexts: list[Any] = []
            for node in range(nodes):
                data = await self.link.recv(rank)
                what = f"bucket sums (node {node} of the level)"
                try:
                    columns = self.scheme.read_sums(data, what)
                except MalformedExchange as exc:
                    raise field_error(rank, what, exc.message) from None
                except PheError as exc:  # an EC point that is not on the curve
                    raise field_error(rank, what, str(exc)) from None
                if len(columns[0]) != size:
                    shape = (len(columns[0]), 2)
                    raise field_error(rank, what, f"shape {shape}, expected ({size}, 2)")
                ciphertexts.extend(columns[0] + columns[1])
            try:
                plain = await self.scheme.decrypt(ciphertexts)
            except PheError as exc:
                raise field_error(rank, "bucket sums", str(exc)) from None
            values = np.asarray(plain, dtype=np.float64) / SGB_SCALE
            out.append(
                [
                    (values[2 * i * size : (2 * i + 1) * size],
                     values[(2 * i + 1) * size : (2 * i + 2) * size])
                    for i in range(nodes)
                ]
            )  # fmt: skip
        return out

    async def margin_of(self, tree: ActiveTree, margin: Floats, index: int) -> None:
        """Add the new tree's weights to ``margin`` (all rows), with the passive
        parties' leaf bitmaps."""
        select = tree.own_leaf_select(self.x, self.columns)
        for rank in self.link.peers:
            select &= await recv_leaf_selects(
                self.link, rank, self.rows, len(tree.leaves), f"leaf bitmaps of tree {index}"
            )
        add_tree(margin, select, tree.weights, index)


async def train_active(
    link: LinkContext,
    features: Any,
    feature_names: list[str],
    labels: Any,
    settings: SgbSettings,
    *,
    after: str = "none",
    allow_reveal: bool = False,
    workers: int | None = None,
) -> tuple[ActiveModel, TrainReport]:
    """Train with every passive party on ``link`` (we are rank 0); ``after`` as the
    module docstring of the component says (``reveal`` needs ``allow_reveal``)."""
    if after not in AFTER:
        raise ParameterError("after", f"must be one of {AFTER}, got {after!r}")
    if after == "reveal" and not allow_reveal:
        raise ParameterError(
            "allow_plaintext_label_reveal",
            "after=reveal sends the labels in plaintext to the passive parties; "
            "set allow_plaintext_label_reveal=true to allow it",
        )
    if link.rank != 0:
        raise AlgorithmError(f"the active party must be rank 0, this link is rank {link.rank}")
    x, y = check_local_input(features, feature_names, labels, settings.objective)
    buckets = bucketize(x, settings.bucket_eps, feature_names)
    started = time.perf_counter()
    ec_bound: int | None = None
    if settings.phe_algo == "ec_elgamal":  # refused before the handshake, not after
        # every row: the handshake may still turn row sampling off
        ec_bound = objective_bound(settings.objective, x.shape[0], y, settings.base_score)
    settings = await negotiate(link, settings)
    scheme: ActiveScheme
    if settings.phe_algo == "ec_elgamal":
        assert ec_bound is not None
        scheme = EcActive(CURVES[settings.ec_curve], ec_bound, workers)
    else:
        public, private = await asyncio.to_thread(
            generate_keypair, settings.key_bits, allow_insecure=settings.allow_insecure_key_size
        )
        scheme = PaillierActive(public, private, workers)
    await send_all(link, scheme.public_key_message())
    passive = await exchange_shapes(link, x.shape[0], x.shape[1])
    report = TrainReport(x.shape[0], x.shape[1], passive, settings.key_bits, after=after)
    report.settings = {
        "num_round": settings.num_round, "max_depth": settings.max_depth,
        "row_sample_by_tree": settings.row_sample_by_tree,
        "col_sample_by_tree": settings.col_sample_by_tree, "bucket_eps": settings.bucket_eps,
        "use_completely_sgb": settings.use_completely_sgb, "objective": settings.objective,
        "phe_algo": settings.phe_algo,
        **({"ec_curve": settings.ec_curve, "ec_bound": ec_bound} if ec_bound else {}),
    }  # fmt: skip
    trees: list[ActiveTree] = []
    try:
        trainer = _Trainer(link, x, feature_names, y, settings, buckets, scheme, ec_bound)
        margin = np.full(x.shape[0], settings.base_score, dtype=np.float64)
        for index in range(settings.num_round):
            tree_started = time.perf_counter()
            tree = await trainer.tree(margin, index)
            report.tree_seconds.append(time.perf_counter() - tree_started)
            if tree is None:  # SecretFlow's early stop: a tree without splits
                break
            trees.append(tree)
            if len(trees) < settings.num_round:
                await trainer.margin_of(tree, margin, index)
    finally:
        scheme.close()
    model = ActiveModel(
        settings.objective, settings.base_score, tuple(feature_names), link.world_size,
        tuple(trees),
    )  # fmt: skip
    report.trees = len(trees)
    if after != "none":
        scores = await predict_active(link, model, x)
        if settings.objective == "logistic" and 0 < y.sum() < y.size:
            from isthmus.components.builtin.evaluate.metrics import auc

            report.auc = auc(y.astype(bool), scores)
        if after == "reveal":
            await send_all(link, pack_array(scores.astype(np.float32).reshape(-1, 1)))
            plain = y.astype(np.int64) if settings.objective == "logistic" else y
            await send_all(link, pack_array(plain))
    report.train_seconds = time.perf_counter() - started
    return model, report


__all__ = ["TrainReport", "activate", "train_active"]
