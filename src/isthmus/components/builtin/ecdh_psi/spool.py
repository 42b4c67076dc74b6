"""Disk-backed bookkeeping that keeps a PSI party's memory flat as its input grows.

Two structures, both split into hash buckets on disk and processed one bucket at a
time, so memory holds one bucket (about N/256 items) rather than N:

* ``ItemSpool``: the input's keys, deduplicated, in the order they are sent, each with
  the rows that carry it. Deduplicating matters for privacy too: a repeated key would
  be a repeated masked point, telling the peer the key's multiplicity. The sending
  order (bucket, then place in the bucket) is a pseudo-random function of the key under
  a secret of ours (``SendingOrder``), not of the input order nor of a public hash: a
  peer that learns where its matches sit learns nothing of our other keys.
* ``DualTable``: the dual-masked values the peer computed for our items (with their
  position) and those we computed for the peer's; ``matches()`` intersects them bucket
  by bucket.

Results are bitmaps (one bit per position or row): a million rows cost 125 KiB.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

from isthmus.components.builtin.ecdh_psi.profile import PROFILE
from isthmus.components.builtin.ecdh_psi.sending_order import SendingOrder

#: Buckets on each side: a bucket holds about N/256 items in memory while it is
#: processed (40 000 at 10 million rows), and 2 x 256 files stay well below the usual
#: limit of open files. Dual values are uniform bytes, so their first byte is the bucket.
BUCKETS = 256
_ROW = struct.Struct("<QI")  # row index, key length
_POSITION = struct.Struct("<Q")
_PAIR = struct.Struct("<QQ")  # sending position, row


def set_bit(bitmap: bytearray, index: int) -> None:
    bitmap[index >> 3] |= 1 << (index & 7)


def has_bit(bitmap: bytes | bytearray, index: int) -> bool:
    return bool(bitmap[index >> 3] >> (index & 7) & 1)


class ItemSpool:
    """Keys in, deduplicated batches out, matched rows back.

    ``build`` splits the keys into bucket files (buffered, one write per thousands of
    keys); ``batches`` reads one bucket at a time, deduplicates it, yields its keys and
    records, for each sending position, the first row carrying the key (``positions``,
    8 bytes each) and any further rows (``duplicates``); ``matched_rows`` turns the
    matched positions back into rows from those two files, reading them in chunks."""

    #: Records a bucket buffers before one write: 256 x 256 small records stay ~4 MiB.
    _FLUSH = 256

    #: Keys tagged at a time in ``build`` (one AES call each).
    _CHUNK = 1 << 16

    def __init__(
        self, directory: Path, buckets: int = BUCKETS, order: SendingOrder | None = None
    ) -> None:
        self.directory = directory
        self.buckets = buckets
        self.order = order or SendingOrder()
        self.rows = 0
        self.unique = 0
        self._consumed = False

    def build(self, keys: Iterable[bytes]) -> None:
        """Take every row's key, in row order."""
        pending: list[list[bytes]] = [[] for _ in range(self.buckets)]
        files = [open(self.directory / f"keys-{b}", "wb") for b in range(self.buckets)]  # noqa: SIM115
        pack, buckets, flush = _ROW.pack, self.buckets, self._FLUSH
        try:
            row = 0
            for chunk in _chunked(keys, self._CHUNK):
                # The bucket is secret-keyed (module docstring); only the split and the
                # sending order depend on it, never a result.
                tags = self.order.tag_keys(chunk)
                for key, bucket in zip(
                    chunk, self.order.bucket(tags, buckets).tolist(), strict=True
                ):
                    records = pending[bucket]
                    records.append(pack(row, len(key)) + key)
                    row += 1
                    if len(records) >= flush:
                        files[bucket].write(b"".join(records))
                        records.clear()
            self.rows = row
            for out, records in zip(files, pending, strict=True):
                out.write(b"".join(records))
        finally:
            for f in files:
                f.close()

    def build_chunks(self, chunks: Iterable[list[bytes]]) -> None:
        """``build`` with the keys a chunk at a time."""
        self.build(key for chunk in chunks for key in chunk)

    def _buckets_once(self) -> Iterator[tuple[bytes, BinaryIO, BinaryIO]]:
        """Each bucket file's bytes in turn, deleted once read, beside the ``positions``
        and ``duplicates`` files ``batches`` writes as it goes; a spool is read once."""
        if self._consumed:
            raise RuntimeError(f"{type(self).__name__}.batches() can be read once")
        self._consumed = True
        with (
            open(self.directory / "positions", "wb") as firsts,
            open(self.directory / "duplicates", "wb") as extras,
        ):
            for b in range(self.buckets):
                path = self.directory / f"keys-{b}"
                data = path.read_bytes()
                path.unlink()
                yield data, firsts, extras

    def batches(self, size: int) -> Iterator[list[bytes]]:
        """The unique keys in sending order, ``size`` at a time (once: it consumes the
        bucket files as it goes)."""
        batch: list[bytes] = []
        position = 0
        for data, firsts, extras in self._buckets_once():
            started, cpu = time.perf_counter(), time.thread_time()
            first_row: dict[bytes, int] = {}
            duplicate_rows: list[tuple[bytes, int]] = []
            offset, end = 0, len(data)
            while offset < end:
                row, length = _ROW.unpack_from(data, offset)
                offset += _ROW.size
                key = data[offset : offset + length]
                offset += length
                if key in first_row:
                    duplicate_rows.append((key, row))
                else:
                    first_row[key] = row
            unique = list(first_row)  # the bucket's keys, in the order of their tags:
            order = np.argsort(self.order.rank(self.order.tag_keys(unique)))
            sending = [unique[i] for i in order.tolist()]
            rows = np.fromiter(first_row.values(), dtype="<u8", count=len(unique))
            firsts.write(rows[order].tobytes())
            if duplicate_rows:  # rare: map a duplicate's key to its sending position
                place = {key: position + i for i, key in enumerate(sending)}
                extras.write(b"".join(_PAIR.pack(place[k], r) for k, r in duplicate_rows))
            position += len(sending)
            PROFILE.add("spool.dedupe", time.perf_counter() - started, time.thread_time() - cpu)
            for key in sending:
                batch.append(key)
                if len(batch) == size:
                    yield batch
                    batch = []
        self.unique = position
        if batch:
            yield batch

    def matched_rows(self, matched_positions: bytes | bytearray) -> bytearray:
        """The rows (a bitmap) whose key sits at a matched sending position."""
        rows = np.zeros((self.rows + 7) // 8, dtype=np.uint8)
        matched = np.frombuffer(bytes(matched_positions), dtype=np.uint8)
        chunk_entries = 1 << 16
        with open(self.directory / "positions", "rb") as firsts:
            base = 0
            while data := firsts.read(8 * chunk_entries):
                first = np.frombuffer(data, dtype="<u8")
                hit = _bits_at(matched, np.arange(base, base + len(first), dtype=np.uint64))
                _set_bits(rows, first[hit])
                base += len(first)
        with open(self.directory / "duplicates", "rb") as extras:
            while data := extras.read(_PAIR.size * chunk_entries):
                pairs = np.frombuffer(data, dtype="<u8").reshape(-1, 2)
                _set_bits(rows, pairs[_bits_at(matched, pairs[:, 0]), 1])
        return bytearray(rows.tobytes())


def _chunked(keys: Iterable[bytes], size: int) -> Iterator[list[bytes]]:
    chunk: list[bytes] = []
    for key in keys:
        chunk.append(key)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _bits_at(bitmap: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Whether each index's bit is set (bit i: byte i >> 3, bit i & 7)."""
    set_: np.ndarray = (bitmap[indices >> 3] >> (indices & 7).astype(np.uint8)) & 1 == 1
    return set_


def _set_bits(bitmap: np.ndarray, indices: np.ndarray) -> None:
    np.bitwise_or.at(bitmap, indices >> 3, np.left_shift(1, indices & 7).astype(np.uint8))


class DualTable:
    """Both sides' dual-masked values, bucketed by their first byte (they are uniform).

    Values arrive packed (a batch's values end to end, ``width`` bytes each); they are
    gathered until ``_PENDING`` of them wait, then split into buckets with numpy, one
    write per bucket. ``matches`` loads one bucket of each side at a time and intersects
    them with a sort on the values' first eight bytes, then compares the candidates'
    every byte: no Python object is made per value."""

    #: Values gathered before one scatter to the bucket files (about 1 MiB of them).
    _PENDING = 1 << 16

    def __init__(self, directory: Path, width: int, buckets: int = BUCKETS) -> None:
        self.directory = directory
        self.width = width
        self.buckets = buckets
        self._peer = [self._open("peer", b) for b in range(buckets)]
        self._mine = [self._open("mine", b) for b in range(buckets)]
        self._pending_peer: list[bytes] = []
        self._pending_mine: list[bytes] = []
        self._pending_count = [0, 0]  # peer, mine

    def _open(self, side: str, bucket: int) -> BinaryIO:
        return open(self.directory / f"{side}-{bucket}", "wb")

    def add_peer(self, values: bytes | Iterable[bytes]) -> None:
        """The peer's values for its own items (order does not matter)."""
        packed = values if isinstance(values, bytes) else b"".join(values)
        self._pending_peer.append(packed)
        self._pending_count[0] += len(packed) // self.width
        if self._pending_count[0] >= self._PENDING:
            self._flush_peer()

    def add_mine(self, first_position: int, values: bytes | Iterable[bytes]) -> None:
        """The values the peer returned for our items at positions ``first_position``…"""
        packed = values if isinstance(values, bytes) else b"".join(values)
        count = len(packed) // self.width
        positions = np.arange(first_position, first_position + count, dtype="<u8")
        self._pending_mine.append(positions.tobytes())
        self._pending_mine.append(packed)
        self._pending_count[1] += count
        if self._pending_count[1] >= self._PENDING:
            self._flush_mine()

    def _flush_peer(self) -> None:
        table = _rows(b"".join(self._pending_peer), self.width)
        self._pending_peer.clear()
        self._pending_count[0] = 0
        self._scatter(self._peer, table, table[:, 0])

    def _flush_mine(self) -> None:
        parts, width = self._pending_mine, self.width
        count = self._pending_count[1]
        records = np.empty((count, _POSITION.size + width), dtype=np.uint8)
        row = 0
        for positions, packed in zip(parts[::2], parts[1::2], strict=True):
            n = len(packed) // width
            records[row : row + n, : _POSITION.size] = _rows(positions, _POSITION.size)
            records[row : row + n, _POSITION.size :] = _rows(packed, width)
            row += n
        parts.clear()
        self._pending_count[1] = 0
        self._scatter(self._mine, records, records[:, _POSITION.size])

    def _scatter(self, files: list[BinaryIO], records: np.ndarray, keys: np.ndarray) -> None:
        """Write each record (a row of ``records``) to the file of its key's bucket."""
        file_by_bucket(files, records, keys.astype(np.intp) % self.buckets)

    def matches(self, positions: int) -> bytearray:
        """Bitmap of our positions whose value the peer also has."""
        self.close()
        matched = np.zeros((positions + 7) // 8, dtype=np.uint8)
        width, record = self.width, _POSITION.size + self.width
        for b in range(self.buckets):
            theirs = _rows((self.directory / f"peer-{b}").read_bytes(), width)
            mine = _rows((self.directory / f"mine-{b}").read_bytes(), record)
            if not len(theirs) or not len(mine):
                continue
            hit = _isin_rows(mine[:, _POSITION.size :], theirs)
            found = mine[hit, : _POSITION.size].copy().view("<u8").ravel()
            _set_bits(matched, found)
        return bytearray(matched.tobytes())

    def close(self) -> None:
        if self._pending_count[0] or self._pending_peer:
            self._flush_peer()
        if self._pending_count[1] or self._pending_mine:
            self._flush_mine()
        for f in (*self._peer, *self._mine):
            f.close()


def file_by_bucket(files: Sequence[BinaryIO], records: np.ndarray, bucket: np.ndarray) -> None:
    """Append each record (a row of ``records``) to ``files[bucket of the record]``, in
    their order within a bucket: one stable sort, one write per bucket. There are at most
    256 buckets, so the sort runs on bytes, where numpy's stable sort is a radix sort (on
    wider integers it is a merge sort, 30 times slower for a scatter of 65 536)."""
    if len(files) > 256:
        raise ValueError(f"{len(files)} buckets: a bucket must fit a byte")
    if not len(records):
        return
    small = bucket.astype(np.uint8)
    order = np.argsort(small, kind="stable")
    grouped = records[order]
    ends = np.cumsum(np.bincount(small, minlength=len(files)))
    start = 0
    for b in np.flatnonzero(np.diff(ends, prepend=0)):
        end = int(ends[b])
        files[int(b)].write(grouped[start:end].tobytes())
        start = end


def _rows(packed: bytes, width: int) -> np.ndarray:
    """``packed`` as a (n, width) array of bytes (no copy)."""
    return np.frombuffer(packed, dtype=np.uint8).reshape(-1, width)


def _prefix(rows: np.ndarray) -> np.ndarray:
    """Each row's first eight bytes (zero-padded if narrower) as one uint64."""
    head = np.zeros((len(rows), 8), dtype=np.uint8)
    head[:, : min(8, rows.shape[1])] = rows[:, :8]
    return head.view("<u8").ravel()


def _isin_rows(mine: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    """For each row of ``mine``, whether ``theirs`` holds the same bytes: a sort and a
    binary search on the 8-byte prefixes, then every byte of the candidate compared.
    Where two of ``theirs`` share a prefix (about never for uniform values) the rows are
    compared whole as strings instead."""
    prefixes = _prefix(theirs)
    order = np.argsort(prefixes)
    ordered = prefixes[order]
    if len(ordered) > 1 and bool(np.any(ordered[1:] == ordered[:-1])):
        kind = f"S{mine.shape[1]}"  # one fixed width: string equality is byte equality
        return np.isin(
            np.ascontiguousarray(mine).view(kind).ravel(),
            np.ascontiguousarray(theirs).view(kind).ravel(),
        )
    mine_prefixes = _prefix(mine)
    at = np.minimum(np.searchsorted(ordered, mine_prefixes), len(ordered) - 1)
    candidate = ordered[at] == mine_prefixes
    exact: np.ndarray = candidate & np.all(theirs[order[at]] == mine, axis=1)
    return exact
