"""Disk-backed bookkeeping that keeps a PSI party's memory flat as its input grows.

Two structures, both split into hash buckets on disk and processed one bucket at a
time, so memory holds one bucket (about N/256 items) rather than N:

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
from array import array
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

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

    def __init__(self, directory: Path, buckets: int = BUCKETS) -> None:
        self.directory = directory
        self.buckets = buckets
        self.rows = 0
        self.unique = 0
        self._consumed = False

    def build(self, keys: Iterable[bytes]) -> None:
        """Take every row's key, in row order."""
        pending: list[list[bytes]] = [[] for _ in range(self.buckets)]
        files = [open(self.directory / f"keys-{b}", "wb") for b in range(self.buckets)]  # noqa: SIM115
        pack, buckets, flush = _ROW.pack, self.buckets, self._FLUSH
        try:
            row = -1
            for row, key in enumerate(keys):
                # Keys are not uniform (user000001, user000002…): a checksum spreads
                # them. Only the split depends on it, never a result.
                bucket = zlib.crc32(key) % buckets
                records = pending[bucket]
                records.append(pack(row, len(key)) + key)
                if len(records) >= flush:
                    files[bucket].write(b"".join(records))
                    records.clear()
            self.rows = row + 1
            for out, records in zip(files, pending, strict=True):
                out.write(b"".join(records))
        finally:
            for f in files:
                f.close()

    def batches(self, size: int) -> Iterator[list[bytes]]:
        """The unique keys in sending order, ``size`` at a time (once: it consumes the
        bucket files as it goes)."""
        if self._consumed:
            raise RuntimeError("ItemSpool.batches() can be read once")
        self._consumed = True
        batch: list[bytes] = []
        position = 0
        with (
            open(self.directory / "positions", "wb") as firsts,
            open(self.directory / "duplicates", "wb") as extras,
        ):
            for b in range(self.buckets):
                path = self.directory / f"keys-{b}"
                data = path.read_bytes()
                path.unlink()
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
                firsts.write(array("Q", first_row.values()).tobytes())
                if duplicate_rows:  # rare: map a duplicate's key to its sending position
                    order = {key: position + i for i, key in enumerate(first_row)}
                    extras.write(b"".join(_PAIR.pack(order[k], r) for k, r in duplicate_rows))
                position += len(first_row)
                for key in first_row:
                    batch.append(key)
                    if len(batch) == size:
                        yield batch
                        batch = []
        self.unique = position
        if batch:
            yield batch

    def matched_rows(self, matched_positions: bytes | bytearray) -> bytearray:
        """The rows (a bitmap) whose key sits at a matched sending position."""
        rows = bytearray((self.rows + 7) // 8)
        chunk_entries = 1 << 16
        with open(self.directory / "positions", "rb") as firsts:
            base = 0
            while data := firsts.read(8 * chunk_entries):
                first = array("Q")
                first.frombytes(data)
                for i, row in enumerate(first):
                    if has_bit(matched_positions, base + i):
                        set_bit(rows, row)
                base += len(first)
        with open(self.directory / "duplicates", "rb") as extras:
            while data := extras.read(_PAIR.size * chunk_entries):
                for position, row in _PAIR.iter_unpack(data):
                    if has_bit(matched_positions, position):
                        set_bit(rows, row)
        return rows


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
        groups: list[list[bytes]] = [[] for _ in range(self.buckets)]
        buckets = self.buckets
        for value in values:
            groups[value[0] % buckets].append(value)
        for out, group in zip(self._peer, groups, strict=True):
            if group:
                out.write(b"".join(group))

    def add_mine(self, first_position: int, values: Sequence[bytes]) -> None:
        groups: list[list[bytes]] = [[] for _ in range(self.buckets)]
        buckets, pack = self.buckets, _POSITION.pack
        for offset, value in enumerate(values):
            groups[value[0] % buckets].append(pack(first_position + offset) + value)
        for out, group in zip(self._mine, groups, strict=True):
            if group:
                out.write(b"".join(group))

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
