"""Disk-backed bookkeeping that keeps a PSI party's memory flat as its input grows.

Two structures, both split into hash buckets on disk and processed one bucket at a
time, so memory holds one bucket (about N/64 items) rather than N:

* ``ItemSpool``: the input's keys, deduplicated, in the order they are sent, each with
  the rows that carry it. Deduplicating matters for privacy too: a repeated key would
  be a repeated masked point, telling the peer the key's multiplicity.
* ``DualTable``: the dual-masked values the peer computed for our items (with their
  position) and those we computed for the peer's; ``matches()`` intersects them bucket
  by bucket.

Results are bitmaps (one bit per position or row): a million rows cost 125 KiB.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

BUCKETS = 64
_ROW = struct.Struct("<QI")  # row index, key length
_POSITION = struct.Struct("<Q")


def set_bit(bitmap: bytearray, index: int) -> None:
    bitmap[index >> 3] |= 1 << (index & 7)


def has_bit(bitmap: bytes | bytearray, index: int) -> bool:
    return bool(bitmap[index >> 3] >> (index & 7) & 1)


def _bucket_of(key: bytes, buckets: int) -> int:
    # Keys are not uniform (user000001, user000002…): spread them by a checksum. Only
    # the split depends on it, never a result.
    return zlib.crc32(key) % buckets


class ItemSpool:
    def __init__(self, directory: Path, buckets: int = BUCKETS) -> None:
        self.directory = directory
        self.buckets = buckets
        self.rows = 0
        self.unique = 0
        self._order = directory / "sent-order"

    def build(self, keys: Iterable[bytes]) -> None:
        """Take every row's key, in row order."""
        files = [open(self.directory / f"keys-{b}", "wb") for b in range(self.buckets)]  # noqa: SIM115
        try:
            for row, key in enumerate(keys):
                out = files[_bucket_of(key, self.buckets)]
                out.write(_ROW.pack(row, len(key)))
                out.write(key)
                self.rows = row + 1
        finally:
            for f in files:
                f.close()
        with open(self._order, "wb") as order:
            for b in range(self.buckets):
                path = self.directory / f"keys-{b}"
                rows_of: dict[bytes, list[int]] = {}
                for row, key in _read_rows(path):
                    rows_of.setdefault(key, []).append(row)
                path.unlink()
                for key, rows in rows_of.items():
                    order.write(struct.pack(f"<II{len(rows)}Q", len(key), len(rows), *rows))
                    order.write(key)
                self.unique += len(rows_of)

    def batches(self, size: int) -> Iterator[list[bytes]]:
        """The unique keys in sending order, ``size`` at a time."""
        batch: list[bytes] = []
        for key, _ in self._entries():
            batch.append(key)
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch

    def matched_rows(self, matched_positions: bytes | bytearray) -> bytearray:
        """The rows (a bitmap) whose key sits at a matched sending position."""
        rows = bytearray((self.rows + 7) // 8)
        for position, (_, row_list) in enumerate(self._entries()):
            if has_bit(matched_positions, position):
                for row in row_list:
                    set_bit(rows, row)
        return rows

    def _entries(self) -> Iterator[tuple[bytes, tuple[int, ...]]]:
        with open(self._order, "rb") as f:
            while header := f.read(8):
                key_length, count = struct.unpack("<II", header)
                rows = struct.unpack(f"<{count}Q", f.read(8 * count))
                yield f.read(key_length), rows


def _read_rows(path: Path) -> Iterator[tuple[int, bytes]]:
    with open(path, "rb") as f:
        while header := f.read(_ROW.size):
            row, length = _ROW.unpack(header)
            yield row, f.read(length)


class DualTable:
    """Both sides' dual-masked values, bucketed by their first byte (they are uniform)."""

    def __init__(self, directory: Path, width: int, buckets: int = BUCKETS) -> None:
        self.directory = directory
        self.width = width
        self.buckets = buckets
        self._peer = [self._open("peer", b) for b in range(buckets)]
        self._mine = [self._open("mine", b) for b in range(buckets)]

    def _open(self, side: str, bucket: int) -> BinaryIO:
        return open(self.directory / f"{side}-{bucket}", "wb")

    def add_peer(self, values: Iterable[bytes]) -> None:
        files, buckets = self._peer, self.buckets
        for value in values:
            files[value[0] % buckets].write(value)

    def add_mine(self, first_position: int, values: Sequence[bytes]) -> None:
        files, buckets, pack = self._mine, self.buckets, _POSITION.pack
        for offset, value in enumerate(values):
            out = files[value[0] % buckets]
            out.write(pack(first_position + offset))
            out.write(value)

    def matches(self, positions: int) -> bytearray:
        """Bitmap of our positions whose value the peer also has."""
        self.close()
        matched = bytearray((positions + 7) // 8)
        width, record = self.width, _POSITION.size + self.width
        for b in range(self.buckets):
            peer = (self.directory / f"peer-{b}").read_bytes()
            theirs = {peer[i : i + width] for i in range(0, len(peer), width)}
            mine = (self.directory / f"mine-{b}").read_bytes()
            for i in range(0, len(mine), record):
                if mine[i + 8 : i + record] in theirs:
                    set_bit(matched, _POSITION.unpack_from(mine, i)[0])
        return matched

    def close(self) -> None:
        for f in (*self._peer, *self._mine):
            f.close()
