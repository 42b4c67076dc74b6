"""An ``ItemSpool`` that hashes the keys to points as it reads them, for suites whose
hash-to-curve is a plain hash (Curve25519: the point is SHA-256 of the item).

The point is then the only thing the protocol needs of a key, and it has a fixed width,
so the spool keeps (point, row) records of fixed size and does all its bookkeeping with
numpy: bucketing by a tag of the point under a secret of ours (``SendingOrder``: the
bucket and the order within it are a pseudo-random function of the key, not a public
one, so a peer that learns the result learns nothing of the keys it does not hold from
where its matches sit), deduplicating a bucket by sorting its points, and handing the
protocol batches of packed points (no Python object per key). Two keys are the same key
exactly when their points are the same (SHA-256 is collision resistant), so
deduplicating on points is deduplicating on keys; within a bucket the unique points go
in the order of their tags, as ``ItemSpool``'s keys do. ``matched_rows`` is
``ItemSpool``'s: the two files it reads have the same layout.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from isthmus.components.builtin.ecdh_psi.profile import PROFILE
from isthmus.components.builtin.ecdh_psi.sending_order import SendingOrder
from isthmus.components.builtin.ecdh_psi.spool import BUCKETS, ItemSpool, file_by_bucket

#: Keys hashed and scattered at a time.
CHUNK = 1 << 16
_ROW = np.dtype("<u8")


class HashedSpool(ItemSpool):
    def __init__(
        self,
        directory: Path,
        hash_packed: Callable[[Sequence[bytes]], bytes | None],
        width: int,
        buckets: int = BUCKETS,
        order: SendingOrder | None = None,
    ) -> None:
        super().__init__(directory, buckets, order)
        self._hash = hash_packed
        self.width = width

    def build(self, keys: Iterable[bytes]) -> None:
        """Take every row's key, in row order: hash it and file (point, row)."""
        self.build_chunks(_chunked(keys))

    def build_chunks(self, chunks: Iterable[list[bytes]]) -> None:
        """``build`` with the keys a chunk at a time: no Python work per key."""
        files = [open(self.directory / f"keys-{b}", "wb") for b in range(self.buckets)]  # noqa: SIM115
        try:
            for chunk in chunks:
                if chunk:
                    self._file(files, chunk)
        finally:
            for f in files:
                f.close()

    def _file(self, files: list, chunk: list[bytes]) -> None:  # type: ignore[type-arg]
        started, cpu = time.perf_counter(), time.thread_time()
        packed = self._hash(chunk)
        if packed is None:
            raise TypeError("HashedSpool needs a suite whose hashing is a step of its own")
        width = self.width
        points = np.frombuffer(packed, dtype=np.uint8).reshape(-1, width)
        records = np.empty((len(chunk), width + _ROW.itemsize), dtype=np.uint8)
        records[:, :width] = points
        rows = np.arange(self.rows, self.rows + len(chunk), dtype=_ROW)
        records[:, width:] = rows.view(np.uint8).reshape(-1, _ROW.itemsize)
        self.rows += len(chunk)
        file_by_bucket(
            files, records, self.order.bucket(self.order.tag_blocks(points), self.buckets)
        )
        PROFILE.add("spool.hash_and_file", time.perf_counter() - started, time.thread_time() - cpu)

    def batches(self, size: int) -> Iterator[bytes]:  # type: ignore[override]
        """The unique points in sending order, packed, ``size`` at a time (once)."""
        width = self.width
        pending = b""
        position = 0
        for data, firsts, extras in self._buckets_once():
            started, cpu = time.perf_counter(), time.thread_time()
            records = np.frombuffer(data, dtype=np.uint8).reshape(-1, width + _ROW.itemsize)
            points = np.ascontiguousarray(records[:, :width])
            rows = np.ascontiguousarray(records[:, width:]).view(_ROW).ravel()
            first, inverse = _unique(points)
            tags = self.order.tag_blocks(points[first])
            order = np.argsort(self.order.rank(tags))  # unique points by their tag
            sending = first[order]
            firsts.write(rows[sending].astype(_ROW).tobytes())
            if len(sending) < len(rows):  # rare: map a duplicate row to its position
                rank = np.empty(len(order), dtype=np.int64)
                rank[order] = np.arange(len(order))
                extra = np.ones(len(rows), dtype=bool)
                extra[sending] = False
                pairs = np.empty((int(extra.sum()), 2), dtype=_ROW)
                pairs[:, 0] = position + rank[inverse[extra]]
                pairs[:, 1] = rows[extra]
                extras.write(pairs.tobytes())
            position += len(sending)
            pending += points[sending].tobytes()
            PROFILE.add("spool.dedupe", time.perf_counter() - started, time.thread_time() - cpu)
            while len(pending) >= size * width:
                yield pending[: size * width]
                pending = pending[size * width :]
        self.unique = position
        if pending:
            yield pending


def _unique(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(points, return_index=True, return_inverse=True)[1:]`` for rows of
    uniform bytes: (the first row of each distinct point, each row's distinct point).
    Sorts 8 bytes of each point as one integer (a stable sort, so a run of equal points
    starts at its first row); only if two different points share those 8 bytes (about
    never) does it sort the points whole."""
    width = points.shape[1]
    if not len(points):
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
    if width >= 16:
        keys = np.ascontiguousarray(points[:, 8:16]).view("<u8").ravel()
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        same = ordered[1:] == ordered[:-1]
        if not same.any() or bool(np.all(points[order[1:]][same] == points[order[:-1]][same])):
            starts = np.concatenate(([True], ~same))
            group = np.cumsum(starts) - 1
            inverse = np.empty(len(points), dtype=np.intp)
            inverse[order] = group
            return order[starts], inverse
    _, first, inverse = np.unique(
        np.ascontiguousarray(points).view(f"S{width}").ravel(),
        return_index=True,
        return_inverse=True,
    )
    return first, inverse.ravel()


def _chunked(keys: Iterable[bytes]) -> Iterator[list[bytes]]:
    chunk: list[bytes] = []
    for key in keys:
        chunk.append(key)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    yield chunk
