"""The PSI's two passes over its input CSV, fast where the CSV is plain.

A CSV without a double quote or a carriage return anywhere is *plain*: each line is one
row and its fields are the line split on ``,``, which is exactly what ``csv.reader``
reads, and ``csv.writer`` writes such a row back as the very same line. For a plain
input both passes work on whole lines of bytes (``read_keys``: the key columns, joined with
``,``; ``copy_matched``: the kept lines copied verbatim, chosen with
``itertools.compress``), with no decoding and re-encoding per field; UTF-8 is still
checked, a chunk at a time, and so is every row's width. Any other input takes the
``csv`` module's path (``isthmus.components.tables``), which gives the same results.
Deciding costs one extra read of the file (a byte search, not a parse).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np

from isthmus.components.env import TableRef
from isthmus.components.errors import ParameterError, StorageError
from isthmus.components.storage import Storage, TableMeta
from isthmus.components.tables import csv_rows, write_csv

#: Bytes read at a time.
CHUNK = 1 << 20


def is_plain(storage: Storage, source: TableRef) -> bool:
    """No ``"`` and no ``\\r`` anywhere in the table."""
    with storage.reader(source) as raw:
        while chunk := raw.read(CHUNK):
            if b'"' in chunk or b"\r" in chunk:
                return False
    return True


def _lines(storage: Storage, source: TableRef) -> Iterator[list[bytes]]:
    """The table's lines (without ``\\n``), a chunk's worth at a time; UTF-8 checked."""
    with storage.reader(source) as raw:
        rest = b""
        while chunk := raw.read(CHUNK):
            data = rest + chunk
            cut = data.rfind(b"\n") + 1
            rest = data[cut:]
            if cut:
                _check_utf8(data[:cut])
                lines = data[: cut - 1].split(b"\n")
                yield lines
        if rest:
            _check_utf8(rest)
            yield [rest]


def _check_utf8(data: bytes) -> None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StorageError(f"the input is not UTF-8: {exc.reason}") from None


def _rows_of(storage: Storage, source: TableRef) -> Iterator[list[bytes]]:
    """The data lines, chunk by chunk, the header line first on its own."""
    started = False
    for lines in _lines(storage, source):
        rows = lines
        if not started:
            started = True
            yield lines[:1]
            rows = lines[1:]
        if rows:
            yield rows


def read_keys(storage: Storage, source: TableRef, fields: list[str]) -> Iterator[bytes]:
    """Each row's item: its key columns joined with ``,``, UTF-8, in row order."""
    for chunk in read_key_chunks(storage, source, fields):
        yield from chunk


def read_key_chunks(storage: Storage, source: TableRef, fields: list[str]) -> Iterator[list[bytes]]:
    """``read_keys`` a chunk of rows at a time (for a plain one-column table, the lines
    as split: no Python work per row)."""
    if not is_plain(storage, source):
        batch: list[bytes] = []
        for key in _csv_keys(storage, source, fields):
            batch.append(key)
            if len(batch) == 1 << 16:
                yield batch
                batch = []
        if batch:
            yield batch
        return
    chunks = _rows_of(storage, source)
    first = next(chunks, None)
    if first is None:
        raise StorageError(f"input {source.namespace}/{source.name} is empty")
    header = first[0].decode("utf-8").split(",")
    positions = _positions(header, fields)
    width = len(header)
    line = 1
    for lines in chunks:
        if width == 1:  # the usual case: one id column, the line is the key
            if b"" in lines or b"," in b"\n".join(lines):  # checked for the chunk at once
                bad = next(i for i, row in enumerate(lines) if not row or b"," in row)
                raise StorageError(f"row {line + bad + 1} does not have 1 field")
            yield lines
        else:
            keys: list[bytes] = []
            for offset, row in enumerate(lines):
                parts = row.split(b",")
                if len(parts) != width:
                    raise StorageError(
                        f"row {line + offset + 1} has {len(parts)} fields, not {width}"
                    )
                keys.append(b",".join([parts[i] for i in positions]))
            yield keys
        line += len(lines)


def _positions(header: list[str], fields: list[str]) -> list[int]:
    missing = [f for f in fields if f not in header]
    if missing:
        raise ParameterError("field_names", f"not in the input: {', '.join(missing)}")
    return [header.index(f) for f in fields]


def _csv_keys(storage: Storage, source: TableRef, fields: list[str]) -> Iterator[bytes]:
    with csv_rows(storage, source) as (header, rows):
        positions = _positions(header, fields)
        for row in rows:
            yield ",".join([row[i] for i in positions]).encode("utf-8")


def copy_matched(storage: Storage, source: TableRef, target: TableRef, rows: bytearray) -> int:
    """Copy the input rows whose bit is set in ``rows`` to ``target``, in input order,
    then publish its metadata; how many rows were copied."""
    if not is_plain(storage, source):
        with csv_rows(storage, source) as (header, table):
            kept = (row for index, row in enumerate(table) if rows[index >> 3] >> (index & 7) & 1)
            return write_csv(storage, target, header, kept)
    chunks = _rows_of(storage, source)
    header_line = next(chunks)[0]
    header = header_line.decode("utf-8").split(",")
    count = 0
    row = 0
    with storage.writer(target) as out:
        out.write(header_line + b"\n")
        for lines in chunks:
            chosen = list(itertools.compress(lines, _bits(rows, row, len(lines))))
            if chosen:
                out.write(b"\n".join(chosen) + b"\n")
            count += len(chosen)
            row += len(lines)
    storage.write_meta(
        target,
        TableMeta(
            name=target.name,
            namespace=target.namespace,
            count=count,
            column_info=[{"name": name, "type": "string"} for name in header],
        ),
    )
    return count


def _bits(bitmap: bytearray, start: int, count: int) -> list[int]:
    """Bits ``start`` … ``start + count - 1`` of the bitmap (bit i: byte i >> 3, bit i & 7)."""
    window = np.frombuffer(bitmap, dtype=np.uint8)[start >> 3 : (start + count + 7 >> 3) + 1]
    skip = start & 7
    bits: list[int] = np.unpackbits(window, bitorder="little")[skip : skip + count].tolist()
    return bits
