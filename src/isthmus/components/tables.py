"""CSV tables through ``system.storage``: read row by row, write with their metadata.

Every component that reads or writes a table does it the same way: a header, rows of
the header's width (a short or long row is a ``StorageError`` naming its line), UTF-8,
``\\n`` line ends, and a ``metadata`` document published after the data. Rows stream:
nothing holds a whole table.
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from isthmus.components.env import TableRef
from isthmus.components.errors import AlgorithmError, StorageError
from isthmus.components.storage import Storage, TableMeta


@contextlib.contextmanager
def csv_rows(storage: Storage, ref: TableRef) -> Iterator[tuple[list[str], Iterator[list[str]]]]:
    """``(header, rows)`` of a CSV table; the rows are read as they are iterated."""
    with storage.reader(ref) as raw:
        reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
        header = next(reader, None)
        if header is None:
            raise StorageError(f"input {ref.namespace}/{ref.name} is empty")

        def rows() -> Iterator[list[str]]:
            width = len(header)
            for line, row in enumerate(reader, start=2):
                if len(row) != width:
                    raise StorageError(f"row {line} has {len(row)} fields, not {width}")
                yield row

        yield header, rows()


class TableWriter:
    """Rows to one table; ``count`` so far. Made by ``csv_writer``."""

    def __init__(self, writer: Any) -> None:
        self._writer = writer
        self.count = 0

    def write(self, row: list[str]) -> None:
        self._writer.writerow(row)
        self.count += 1


@contextlib.contextmanager
def csv_writer(storage: Storage, ref: TableRef, header: list[str]) -> Iterator[TableWriter]:
    """A CSV table written row by row, published with its metadata when the block ends
    cleanly (several can be open at once)."""
    with storage.writer(ref) as out:
        text = io.TextIOWrapper(out, encoding="utf-8", newline="")
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(header)
        table = TableWriter(writer)
        yield table
        text.flush()
        text.detach()
    storage.write_meta(
        ref,
        TableMeta(
            name=ref.name,
            namespace=ref.namespace,
            count=table.count,
            column_info=[{"name": name, "type": "string"} for name in header],
        ),
    )


def write_csv(storage: Storage, ref: TableRef, header: list[str], rows: Iterable[list[str]]) -> int:
    """Write a CSV table and then its metadata; returns the number of rows."""
    with csv_writer(storage, ref, header) as table:
        for row in rows:
            table.write(row)
    return table.count


def id_order(ids: list[str], column: str) -> list[int]:
    """The row positions that put ``ids`` in id order, refusing a repeated id.

    Vertical models need the parties' rows aligned: the same customer on the same row
    everywhere. A PSI gives every party the same ids but each in its own input order, so
    each party sorts its rows by id, with no message exchanged. The order is the one
    pandas' ``sort_values`` gives a column (SecretFlow's peers sort that way): numeric
    when every id is an integer, by text otherwise. A repeated id would leave the order
    of its rows to chance, so it is an error naming the column and the id.
    """
    numeric = all(_is_integer(i) for i in ids)
    seen: set[str] = set()
    for value in ids:
        if value in seen:
            raise AlgorithmError(
                f"column {column!r} repeats the id {value!r}: rows cannot be aligned by id"
            )
        seen.add(value)
    if numeric:
        return sorted(range(len(ids)), key=lambda r: int(ids[r]))
    return sorted(range(len(ids)), key=lambda r: ids[r])


def _is_integer(text: str) -> bool:
    stripped = text.strip()
    return stripped.lstrip("-").isdigit() and stripped.count("-") <= 1
