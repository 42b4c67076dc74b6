"""SGB training, passive party (rank >= 1: feature holder, handshake requester).

The message sequence is SecretFlow's (docs/protocol.md §13; secretflow-lite 1.10.0b1,
``secretflow.ic`` with ``sgb_v``), so a SecretFlow active party trains with us exactly
as with its own passive party. Per training:

1. handshake (:mod:`.request`): our ``HandshakeRequest``, the active party's answer;
2. the active party's Paillier public key (refused below 2048 bits unless the job
   allows an insecure size, and it must be the negotiated size);
3. ``[rows, features]`` exchanged with every other party (the row counts must agree).

Per tree:

4. our sampled bucket count sent, the others' received (``buckets_counts``: global
   bucket indices are the concatenation of the parties' sampled buckets, rank order);
5. with row sampling, the sampled row indices;
6. per level: which child of each sibling pair the active party chose (``is_lefts``)
   and their sample bitmaps; on the first level the encrypted ``(g, h)`` matrix; we
   answer each node's encrypted cumulative bucket sums (the chosen child computed, its
   sibling by subtraction from the parent's cached sums), shuffled per feature with a
   private permutation that keeps the last bucket (the node total) in place; then the
   split decisions, the best global buckets and (below the root) the node indices; we
   answer the left-child bitmaps of the splits we own (empty arrays for the others),
   keep our split points, and learn whether the next level is empty;
7. the leaf indices and whether the tree is empty (an empty tree ends training);
8. before every tree but the last, our reachable-leaf bitmaps of every row for it.

Completely-SGB (``use_completely_sgb``, claimed by default): the first tree splits on
the active party's features only. As SecretFlow's passive party we still report a
bucket count, of one column drawn from the column sampler (so the sampler moves as
SecretFlow's does and the later trees sample the same columns), and follow every level
(``is_lefts``, decisions, best buckets, node indices, our empty left-child bitmap list,
the next-level flag), but receive no bitmaps and no gradients and send no sums.

Everything received is checked (shapes, counts, ranges, ciphertexts in ``Z*_{n^2}``)
before use: a malformed value is a ``MalformedExchange`` or an ``AlgorithmError``
naming the field, never a wrong model. Homomorphic sums are products modulo ``n^2``
(gmpy2), per node and per feature a product per bucket and a running product for the
cumulative sums; an empty bucket's sum is the noiseless ``c = 1``. With EC-ElGamal
(negotiated between Isthmus parties) the same steps are point additions: the scheme seam
(:mod:`.scheme`, :class:`PaillierSums` here) is all that differs.

Column sampling uses a generator seeded with SecretFlow's default seed (1212), so the
same data and settings give SecretFlow's column choices and the same trees; which
columns a passive party uses is its own business (the active party only learns the
count), so a fixed seed costs no privacy across parties. The bucket shuffle is secret:
it comes from ``secrets``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing
import os
import secrets
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import gmpy2
import numpy as np
import numpy.typing as npt

from isthmus.components.builtin.sgb.bucketing import Bucketing, bucketize
from isthmus.components.builtin.sgb.passive_link import (
    ACTIVE,
    INTS,
    exchange_shapes,
    leaf_bitmaps,
    send_leaf_bitmaps,
)
from isthmus.components.builtin.sgb.passive_model import (
    PassiveModel,
    PassiveSplit,
    PassiveTree,
    RevealedScores,
    check_tree_shape,
)
from isthmus.components.builtin.sgb.predict_passive import predict_passive
from isthmus.components.builtin.sgb.request import (
    AcceptedParams,
    PassiveSupport,
    build_request,
    read_response,
)
from isthmus.components.builtin.sgb.scheme import EC_ELGAMAL, EcPassive, PassiveScheme
from isthmus.components.errors import AlgorithmError
from isthmus.crypto.phe import PaillierPublicKey, check_key_bits
from isthmus.link import LinkContext
from isthmus.wire import exchange as wx
from isthmus.wire import exchange_he as whe
from isthmus.wire.errors import MalformedExchange

__all__ = [
    "SECRETFLOW_SEED",
    "LabelsRevealRefused",
    "SumPool",
    "bucket_sums",
    "leaf_bitmaps",
    "pack_select",
    "train_passive",
    "unpack_select",
]

log = logging.getLogger(__name__)

SECRETFLOW_SEED = 1212
"""SecretFlow SGB's default ``seed`` (``sgb_v/core/params.py``): its column sampler's."""

After = Literal["none", "predict", "reveal"]
Ciphertexts = list[Any]  # gmpy2 mpz values


class LabelsRevealRefused(AlgorithmError):
    """``--after reveal``: the active party sends its labels in plaintext; the job did
    not allow this party to receive them."""


# --- bitmaps -------------------------------------------------------------------------


def pack_select(select: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    """A 0/1 vector as SecretFlow packs it: ``np.packbits``, most significant bit first,
    the last byte padded with zeros."""
    return np.packbits(np.asarray(select, dtype=np.uint8).reshape(-1))


def unpack_select(bits: npt.NDArray[Any], count: int, what: str) -> npt.NDArray[np.bool_]:
    """The inverse of :meth:`pack_select` for ``count`` bits; ``MalformedExchange`` if the
    byte count is not ``ceil(count / 8)`` or a padding bit is set."""
    array = np.asarray(bits)
    if array.dtype != np.uint8 or array.ndim != 1:
        raise MalformedExchange(f"{what}: a bitmap must be a 1-d UINT8 array")
    if array.size != -(-count // 8):
        raise MalformedExchange(
            f"{what}: bitmap of {array.size} bytes for {count} rows (expected {-(-count // 8)})"
        )
    unpacked = np.unpackbits(array)
    if unpacked[count:].any():
        raise MalformedExchange(f"{what}: a padding bit of the bitmap is set")
    return unpacked[:count].astype(bool)


# --- homomorphic bucket sums ---------------------------------------------------------


def _bucket_products(
    n_square: Any, columns: Sequence[Ciphertexts], bins: npt.NDArray[Any], bucket_num: int
) -> list[list[Any]]:
    """Per column, per ``f * bucket_num + b``: the product of the ciphertexts of the rows
    in bucket ``b`` of feature ``f`` (1 when none). Runs in a worker for big sums."""
    n_square = gmpy2.mpz(n_square)
    features = bins.shape[1]
    out: list[list[Any]] = []
    for column in columns:
        acc = [gmpy2.mpz(1)] * (features * bucket_num)
        for f in range(features):
            base = f * bucket_num
            for c, b in zip(column, bins[:, f].tolist(), strict=True):
                acc[base + b] = acc[base + b] * c % n_square
        out.append(acc)
    return out


def _cumulate(products: list[list[Any]], bucket_num: int, n_square: Any) -> list[list[Any]]:
    """Running products per feature: bucket ``b`` becomes buckets ``0..b``."""
    out = []
    for acc in products:
        sums = []
        for start in range(0, len(acc), bucket_num):
            running = gmpy2.mpz(1)
            for b in range(bucket_num):
                running = running * acc[start + b] % n_square
                sums.append(running)
        out.append(sums)
    return out


def bucket_sums(
    gh: Sequence[Ciphertexts],
    select: npt.NDArray[np.bool_],
    bins: npt.NDArray[Any],
    bucket_num: int,
    n_square: Any,
    pool: SumPool | None = None,
) -> list[list[Any]]:
    """Encrypted cumulative bucket sums of one node, per component of ``gh``.

    ``gh[k][r]`` is row ``r``'s ciphertext of component ``k`` (g, h); ``select`` the
    node's rows; ``bins[r, f]`` the bucket of row ``r`` in sampled feature ``f``. The
    result's ``[k][f * bucket_num + b]`` encrypts the sum of component ``k`` over the
    node's rows with ``bins[:, f] <= b``: per bucket a product of its rows' ciphertexts
    modulo ``n^2`` (1 when empty), then a running product. With a ``pool`` and enough
    work, the rows are cut into chunks whose per-bucket products are computed on every
    core and then multiplied together (the same value: multiplication modulo ``n^2`` is
    associative and commutative).
    """
    rows = np.flatnonzero(select)
    columns = [[column[r] for r in rows.tolist()] for column in gh]
    node_bins = bins[rows]
    if pool is not None and pool.worth_it(len(rows) * bins.shape[1]):
        products = pool.products(n_square, columns, node_bins, bucket_num)
    else:
        products = _bucket_products(n_square, columns, node_bins, bucket_num)
    return _cumulate(products, bucket_num, n_square)


PARALLEL_MIN_PRODUCTS = 200_000
"""Below this many (row, feature) products per node the sums run in the calling process:
at 2048-bit keys that is about half a second, more than a chunk's shipping costs."""


class SumPool:
    """Bucket products on ``workers`` spawned processes (default: every core).

    The workers hold no key and no secret: they multiply public ciphertexts modulo a
    public ``n^2``. Spawned, not forked, for the reason :mod:`isthmus.crypto.phe.batch`
    gives (a forked child of a threaded event-loop process can deadlock).
    """

    def __init__(
        self, workers: int | None = None, *, min_products: int = PARALLEL_MIN_PRODUCTS
    ) -> None:
        self.workers = max(1, workers if workers is not None else (os.cpu_count() or 1))
        self.min_products = min_products
        self._executor: ProcessPoolExecutor | None = None

    def worth_it(self, products: int) -> bool:
        return self.workers > 1 and products >= self.min_products

    def products(
        self, n_square: Any, columns: list[Ciphertexts], bins: npt.NDArray[Any], bucket_num: int
    ) -> list[list[Any]]:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn")
            )
        rows = len(columns[0]) if columns else 0
        size = max(1, -(-rows // self.workers))
        futures = [
            self._executor.submit(
                _bucket_products,
                int(n_square),
                [column[i : i + size] for column in columns],
                bins[i : i + size],
                bucket_num,
            )
            for i in range(0, rows, size)
        ]
        parts = [future.result() for future in futures]
        if not parts:
            return _bucket_products(n_square, columns, bins, bucket_num)
        combined = parts[0]
        for part in parts[1:]:
            combined = [
                [a * b % n_square for a, b in zip(x, y, strict=True)]
                for x, y in zip(combined, part, strict=True)
            ]
        return combined

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None


def _subtract(parent: list[list[Any]], child: list[list[Any]], n_square: Any) -> list[list[Any]]:
    """``parent - child`` item by item: a product with the inverse modulo ``n^2``."""
    return [
        [p * gmpy2.invert(c, n_square) % n_square for p, c in zip(pc, cc, strict=True)]
        for pc, cc in zip(parent, child, strict=True)
    ]


class PaillierSums:
    """The Paillier side of the scheme seam (:mod:`.scheme`): the functions above, the
    HEU dialect SecretFlow speaks, products on every core through a :class:`SumPool`."""

    name = "paillier"

    def __init__(self, key: PaillierPublicKey) -> None:
        self.key = key
        self.n_square = key.n_square
        self.pool = SumPool()

    def read_gh(self, data: bytes, rows: int) -> list[Ciphertexts]:
        wire_key = whe.PaillierPublicKey(self.key.n, self.key.hs)
        matrix = whe.unpack_paillier_ciphertexts(data, wire_key)
        if matrix.shape != (rows, 2):
            raise MalformedExchange(
                f"encrypted g/h: shape {list(matrix.shape)}, expected [{rows}, 2] "
                "(one ciphertext of g and one of h per sampled row)"
            )
        check = self.key.check_ciphertext
        return [[check(c) for c in matrix[:, k]] for k in range(2)]

    def bucket_sums(
        self, gh: list[Ciphertexts], select: npt.NDArray[np.bool_], bins: Any, bucket_num: int
    ) -> list[list[Any]]:
        return bucket_sums(gh, select, bins, bucket_num, self.n_square, self.pool)

    def subtract(self, parent: list[list[Any]], child: list[list[Any]]) -> list[list[Any]]:
        return _subtract(parent, child, self.n_square)

    def pack_sums(self, columns: list[list[Any]], order: npt.NDArray[Any]) -> bytes:
        shuffled = np.empty((len(order), 2), dtype=object)
        for k in range(2):
            shuffled[:, k] = [int(columns[k][m]) for m in order]
        return whe.pack_paillier_ciphertexts(shuffled)

    def close(self) -> None:
        self.pool.close()


def _shuffle_mask(features: int, bucket_num: int) -> npt.NDArray[np.int64]:
    """Per feature a secret permutation of its buckets that keeps the last in place
    (the node total tells nothing the active party does not know)."""
    rng = np.random.default_rng(secrets.randbits(128))
    parts = []
    for f in range(features):
        perm = np.append(rng.permutation(bucket_num - 1), bucket_num - 1)
        parts.append(perm + f * bucket_num)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


# --- prediction bitmaps --------------------------------------------------------------


# --- receiving -----------------------------------------------------------------------


async def _recv(link: LinkContext, what: str) -> wx.Exchange:
    exchange = wx.unpack(await link.recv(ACTIVE), object_order=wx.HEU.object_order)
    log.debug("SGB passive received %s: %s %s", what, exchange.container, exchange.scalar_type)
    return exchange


async def _recv_bool(link: LinkContext, what: str) -> bool:
    value = wx.expect(
        await _recv(link, what), wx.Container.SCALAR, [wx.ScalarType.BOOL], None, what
    )
    return bool(value)


async def _recv_bools(
    link: LinkContext, what: str, container: wx.Container, count: int
) -> list[bool]:
    value = wx.expect(await _recv(link, what), container, [wx.ScalarType.BOOL], None, what)
    array = np.asarray(value).reshape(-1)
    if array.size != count:
        raise MalformedExchange(f"{what}: {array.size} items, expected {count}")
    return [bool(v) for v in array]


async def _recv_ints(
    link: LinkContext, what: str, container: wx.Container, count: int | None = None
) -> list[int]:
    value = wx.expect(await _recv(link, what), container, INTS, None, what)
    array = np.asarray(value)
    if array.ndim != 1:
        raise MalformedExchange(f"{what}: expected a 1-d array, got shape {array.shape}")
    if count is not None and array.size != count:
        raise MalformedExchange(f"{what}: {array.size} items, expected {count}")
    return [int(v) for v in array]


async def _recv_bitmaps(link: LinkContext, what: str, count: int, rows: int) -> list[Any]:
    value = wx.expect(
        await _recv(link, what), wx.Container.F_NDARRAY_LIST, [wx.ScalarType.UINT8], None, what
    )
    if len(value) != count:
        raise MalformedExchange(f"{what}: {len(value)} bitmaps, expected {count}")
    return [unpack_select(v, rows, f"{what}[{i}]") for i, v in enumerate(value)]


# --- training ------------------------------------------------------------------------


@dataclass
class _Tree:
    """One tree's state while it grows."""

    rows: int  # sampled rows
    bins: npt.NDArray[Any]  # (sampled rows, sampled features)
    col_choices: npt.NDArray[np.int64]
    offset: int  # where our buckets start among the global ones
    own_count: int
    total: int
    gh: list[Ciphertexts] | None = None


class _Trainer:
    def __init__(
        self,
        link: LinkContext,
        features: npt.NDArray[np.float64],
        names: list[str],
        params: AcceptedParams,
        scheme: PassiveScheme,
    ) -> None:
        self.link = link
        self.features = features
        self.names = names
        self.params = params
        self.scheme = scheme
        self.bucketing: Bucketing = bucketize(features, params.bucket_eps, names)
        self.rng = np.random.default_rng(SECRETFLOW_SEED)
        self.count_received = False

    def _col_choices(self, rate: float) -> npt.NDArray[np.int64]:
        """SecretFlow's column sample at ``rate`` (a completely-SGB first tree asks for 0:
        then one column is drawn, which moves the generator as SecretFlow's does)."""
        width = self.features.shape[1]
        if rate < 1 and width * self.bucketing.bucket_num > 1:
            count = max(math.ceil(width * rate), 1)
            return np.sort(self.rng.choice(width, count, replace=False)).astype(np.int64)
        return np.arange(width, dtype=np.int64)

    async def _bucket_counts(self, own: int) -> list[int]:
        link = self.link
        for peer in link.peers:
            await link.send(peer, wx.pack_scalar(own))
        counts = [0] * link.world_size
        counts[link.rank] = own
        for peer in link.peers:
            what = f"rank {peer}'s bucket count"
            value = wx.expect(
                wx.unpack(await link.recv(peer)), wx.Container.SCALAR, INTS, None, what
            )
            if int(value) < 0:
                raise MalformedExchange(f"{what}: negative ({int(value)})")
            counts[peer] = int(value)
        return counts

    async def _row_choices(self) -> npt.NDArray[np.int64] | None:
        rows = self.features.shape[0]
        if self.params.row_sample_by_tree >= 1.0:
            # no sampling: the active party reveals its row count instead of indices,
            # once per training (SecretFlow moves an object to a party only once)
            if self.count_received:
                return None
            self.count_received = True
            what = "sample count"
            count = wx.expect(await _recv(self.link, what), wx.Container.SCALAR, INTS, None, what)
            if int(count) != rows:
                raise MalformedExchange(f"{what}: {int(count)} rows, we have {rows}")
            return None
        what = "row-sample indices"
        value = wx.expect(await _recv(self.link, what), wx.Container.F_NDARRAY, INTS, None, what)
        array = np.asarray(value)
        if array.ndim != 1 or not 0 < array.size <= rows:
            raise MalformedExchange(f"{what}: shape {array.shape} for {rows} rows")
        if array.min() < 0 or array.max() >= rows:
            raise MalformedExchange(f"{what}: an index is outside 0..{rows - 1}")
        if np.unique(array).size != array.size:
            raise MalformedExchange(f"{what}: an index is repeated")
        return array.astype(np.int64)

    async def _gh(self, rows: int) -> list[Ciphertexts]:
        return self.scheme.read_gh(await self.link.recv(ACTIVE), rows)

    async def train(self) -> PassiveModel:
        model = PassiveModel(tuple(self.names))
        for index in range(self.params.num_round):
            tree = await self._train_tree(index)
            empty = await _recv_bool(self.link, "tree-is-empty flag")
            if empty:
                log.info("SGB passive: tree %d is empty, training stops", index)
                break
            model.trees.append(tree)
            if len(model.trees) < self.params.num_round:
                await send_leaf_bitmaps(self.link, tree, self.features)
        return model

    async def _setup_tree(self, own_only: bool) -> _Tree:
        choices = self._col_choices(0.0 if own_only else self.params.col_sample_by_tree)
        bucket_num = self.bucketing.bucket_num
        own = len(choices) * bucket_num
        counts = await self._bucket_counts(own)
        sampled = await self._row_choices()
        bins = self.bucketing.bins[:, choices]
        if sampled is not None:
            bins = bins[sampled]
        rank = self.link.rank
        return _Tree(
            rows=int(bins.shape[0]),
            bins=bins,
            col_choices=choices,
            offset=sum(counts[:rank]),
            own_count=own,
            total=sum(counts),
        )

    async def _level_sums(
        self,
        index: int,
        level: int,
        state: _Tree,
        is_lefts: list[bool],
        node_ids: list[int],
        cache: list[list[list[Any]]] | None,
    ) -> tuple[list[list[list[Any]]], list[npt.NDArray[np.int64]]]:
        """One level's encrypted bucket sums: the chosen nodes' bitmaps received (and,
        on the first level, the encrypted g/h), every node's sums sent, shuffled. Returns
        the unshuffled sums (the parents of the next level) and the shuffle masks."""
        bucket_num = self.bucketing.bucket_num
        selects = await _recv_bitmaps(
            self.link, f"tree {index} level {level} node bitmaps", len(is_lefts), state.rows
        )
        if state.gh is None:
            state.gh = await self._gh(state.rows)
        nodes: list[list[list[Any]]] = []
        for i, (is_left, select) in enumerate(zip(is_lefts, selects, strict=True)):
            # off the event loop, so the link keeps receiving while we multiply
            child = await asyncio.to_thread(
                self.scheme.bucket_sums, state.gh, select, state.bins, bucket_num
            )
            if cache is None:
                if not is_left or level:
                    raise MalformedExchange(
                        f"tree {index} level {level}: a right child chosen with no parent sums"
                    )
                nodes.append(child)
                continue
            sibling = self.scheme.subtract(cache[i], child)
            nodes.extend([child, sibling] if is_left else [sibling, child])
        if len(nodes) != len(node_ids):
            raise MalformedExchange(
                f"tree {index} level {level}: {len(nodes)} nodes for {len(node_ids)} indices"
            )
        masks = []
        for sums in nodes:
            mask = _shuffle_mask(len(state.col_choices), bucket_num)
            masks.append(mask)
            await self.link.send(ACTIVE, self.scheme.pack_sums(sums, mask))
        return nodes, masks

    async def _train_tree(self, index: int) -> PassiveTree:
        # completely SGB: the first tree splits on the active party's features only. We
        # still report a bucket count (of one sampled column) and follow every level,
        # but get no bitmaps and no gradients, send no sums and own no split.
        own_only = self.params.use_completely_sgb and index == 0
        state = await self._setup_tree(own_only)
        bucket_num = self.bucketing.bucket_num
        link = self.link
        splits: list[PassiveSplit] = []
        foreign: list[int] = []
        pruned: list[int] = []
        node_ids = [0]
        cache: list[list[list[Any]]] | None = None
        for level in range(self.params.max_depth):
            last = level == self.params.max_depth - 1
            parents = 1 if level == 0 else len(node_ids) // 2
            is_lefts = await _recv_bools(
                link, f"tree {index} level {level} chosen children", wx.Container.F_SCALAR_LIST,
                parents,
            )  # fmt: skip
            nodes: list[list[list[Any]]] = []
            masks: list[npt.NDArray[np.int64]] = []
            if not own_only:
                nodes, masks = await self._level_sums(
                    index, level, state, is_lefts, node_ids, cache
                )
            count = len(node_ids)
            decisions = await _recv_bools(
                link, f"tree {index} level {level} split decisions", wx.Container.F_NDARRAY, count
            )
            best = await _recv_ints(
                link, f"tree {index} level {level} best buckets", wx.Container.F_NDARRAY, count
            )
            for b in best:
                if not 0 <= b < state.total:
                    raise MalformedExchange(
                        f"tree {index} level {level} best buckets: bucket index {b} is outside "
                        f"0..{state.total - 1}"
                    )
            if level:
                got = await _recv_ints(
                    link, f"tree {index} level {level} node indices", wx.Container.F_SCALAR_LIST,
                    count,
                )  # fmt: skip
                if got != node_ids:
                    raise MalformedExchange(
                        f"tree {index} level {level} node indices: {got} are not the nodes of "
                        f"this level ({node_ids}): node index unknown"
                    )
            lefts: list[npt.NDArray[np.uint8]] = []
            next_ids: list[int] = []
            for j, node in enumerate(node_ids):
                if not decisions[j]:
                    pruned.append(node)
                    continue
                next_ids.extend([2 * node + 1, 2 * node + 2])
                local = best[j] - state.offset
                if not 0 <= local < state.own_count:
                    foreign.append(node)
                    lefts.append(np.zeros(0, dtype=np.uint8))
                    continue
                if own_only:
                    raise MalformedExchange(
                        f"tree {index} node {node}: the active party chose our bucket {local} "
                        "in a completely-SGB first tree, where we sent no bucket sums"
                    )
                position = int(masks[j][local])
                f, bucket = divmod(position, bucket_num)
                feature = int(state.col_choices[f])
                threshold = self.bucketing.threshold(feature, bucket)
                if not math.isfinite(threshold):
                    raise AlgorithmError(
                        f"tree {index} node {node}: the active party chose bucket {bucket} of "
                        f"feature {self.names[feature]!r}, which has no split point"
                    )
                splits.append(PassiveSplit(node, feature, self.names[feature], threshold))
                lefts.append(pack_select(state.bins[:, f] <= bucket))
            await link.send(ACTIVE, wx.pack_array_list(lefts, wx.ScalarType.UINT8))
            if own_only or last or not any(decisions):
                cache = None
            else:
                cache = [nodes[j] for j in range(count) if decisions[j]]
            node_ids = next_ids
            empty = await _recv_bool(link, f"tree {index} level {level} next-level-empty flag")
            if empty != (not node_ids):
                raise MalformedExchange(
                    f"tree {index} level {level}: the next-level-empty flag is {empty} but "
                    f"{len(node_ids)} nodes split"
                )
            if empty:
                break
        leaves = await _recv_ints(link, f"tree {index} leaf indices", wx.Container.F_SCALAR_LIST)
        tree = PassiveTree(tuple(splits), tuple(foreign), tuple(leaves))
        expected = set(pruned) | set(node_ids)
        if set(leaves) != expected or len(leaves) != len(expected):
            raise MalformedExchange(
                f"tree {index} leaf indices: {leaves} are not the tree's leaves "
                f"{sorted(expected)}: node index unknown"
            )
        check_tree_shape(tree, f"tree {index}")
        return tree


async def _receive_key(
    link: LinkContext, params: AcceptedParams, allow_insecure: bool
) -> PassiveScheme:
    data = await link.recv(ACTIVE)
    if params.phe_algo == EC_ELGAMAL:
        return EcPassive.from_message(data, params.ec_curve)
    wire_key = whe.unpack_paillier_public_key(data)
    bits = wire_key.n.bit_length()
    check_key_bits(bits, allow_insecure=allow_insecure)
    if bits != params.key_size:
        raise AlgorithmError(
            f"the active party's Paillier key has {bits} bits, the handshake agreed on "
            f"{params.key_size}"
        )
    key = PaillierPublicKey.from_parts(wire_key.n, wire_key.hs, allow_insecure=allow_insecure)
    return PaillierSums(key)


def _check_features(features: Any, names: list[str]) -> npt.NDArray[np.float64]:
    array = np.asarray(features, dtype=np.float64)
    if array.ndim != 2:
        raise AlgorithmError(f"features must be a 2-d table, got shape {array.shape}")
    if array.shape[1] != len(names):
        raise AlgorithmError(f"{len(names)} feature names for {array.shape[1]} columns")
    if array.shape[1] == 0:
        raise AlgorithmError("the passive party has no feature column")
    return array


async def train_passive(
    link: LinkContext,
    features: npt.NDArray[np.float64],
    feature_names: list[str],
    *,
    after: str,
    allow_reveal: bool,
    support: PassiveSupport | None = None,
    allow_insecure_key_size: bool = False,
) -> PassiveModel:
    """Train SGB as a passive party against the active party at rank 0 on ``link``.

    ``after`` is what follows training, the same on every party: ``"none"``,
    ``"predict"`` (the joint prediction on the training rows: we send our leaf
    bitmaps), or ``"reveal"`` (then the active party sends predictions and its labels in
    plaintext: received only with ``allow_reveal``, otherwise
    :class:`LabelsRevealRefused`). Returns this party's model (its own split points).
    """
    if after not in ("none", "predict", "reveal"):
        raise AlgorithmError(f"after must be none, predict or reveal, got {after!r}")
    if link.rank == ACTIVE:
        raise AlgorithmError("the passive party cannot be rank 0 (the active party's rank)")
    array = _check_features(features, feature_names)
    support = support or PassiveSupport()
    await link.send(
        ACTIVE,
        build_request(support, rank=link.rank, allow_insecure_key_size=allow_insecure_key_size),
    )
    params = read_response(
        await link.recv(ACTIVE), support, allow_insecure_key_size=allow_insecure_key_size
    )
    scheme = await _receive_key(link, params, allow_insecure_key_size)
    await exchange_shapes(link, array.shape[0], array.shape[1])
    trainer = _Trainer(link, array, list(feature_names), params, scheme)
    try:
        model = await trainer.train()
    finally:
        scheme.close()
    if after == "none":
        return model
    await predict_passive(link, model, array)
    if after == "reveal":
        model.revealed = await receive_revealed(link, array.shape[0], allow_reveal=allow_reveal)
    return model


async def receive_revealed(link: LinkContext, rows: int, *, allow_reveal: bool) -> RevealedScores:
    """SecretFlow's runner's last step: predictions and labels in plaintext."""
    if not allow_reveal:
        raise LabelsRevealRefused(
            "after=reveal: the active party sends the predictions and its LABELS to this "
            "party in plaintext, and the job did not allow receiving them (allow_reveal); "
            "use after=predict, or allow it explicitly"
        )
    predictions = wx.expect(
        await _recv(link, "revealed predictions"),
        wx.Container.F_NDARRAY,
        [wx.ScalarType.FLOAT32, wx.ScalarType.FLOAT64],
        None,
        "revealed predictions",
    )
    labels = wx.expect(
        await _recv(link, "revealed labels"), wx.Container.F_NDARRAY, None, None, "revealed labels"
    )
    if np.asarray(predictions).reshape(-1).size != rows or np.asarray(labels).size != rows:
        raise MalformedExchange(f"revealed predictions/labels: not {rows} rows")
    return RevealedScores(np.asarray(predictions).reshape(-1), np.asarray(labels).reshape(-1))
