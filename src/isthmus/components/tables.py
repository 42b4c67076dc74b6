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
from isthmus.components.errors import StorageError
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
