"""The PSI's fast passes over a plain CSV give exactly what the ``csv`` module gives:
the same keys in the same order, the same output bytes, the same errors."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.components.builtin.ecdh_psi import rows
from isthmus.components.env import TableRef
from isthmus.components.errors import StorageError
from isthmus.components.storage import FileStorage
from isthmus.components.tables import csv_rows, write_csv

SOURCE, TARGET = TableRef("in", "data"), TableRef("out", "rows")
#: Plain characters, and those that make csv.writer quote a field (it leaves a lone
#: ``\r`` unquoted with ``\n`` line ends, writing a table it cannot read back).
FIELD = st.text(alphabet=st.sampled_from(list('ab1é_ ,"\n')), max_size=5)


def _table(header: list[str], body: list[list[str]]) -> bytes:
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows([header, *body])
    return text.getvalue().encode("utf-8")


def _storage(work: Path, data: bytes) -> FileStorage:
    (work / "in").mkdir()
    (work / "in" / "data").write_bytes(data)
    return FileStorage(f"file://{work}")


def _reference_keys(storage: FileStorage, fields: list[str]) -> list[bytes]:
    with csv_rows(storage, SOURCE) as (header, table):
        positions = [header.index(f) for f in fields]
        return [",".join(row[i] for i in positions).encode() for row in table]


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 3).flatmap(
        lambda width: st.tuples(
            st.just(width),
            st.lists(st.lists(FIELD, min_size=width, max_size=width), max_size=30),
            st.lists(st.booleans(), min_size=30, max_size=30),
        )
    ),
    st.booleans(),
)
def test_fast_passes_equal_the_csv_module(
    case: tuple[int, list[list[str]], list[bool]], last_newline: bool
) -> None:
    width, body, keep = case
    if width == 1:  # csv.writer writes a lone empty field as "": keep those rows out
        body = [row for row in body if row[0]]
    header = [f"c{i}" for i in range(width)]
    data = _table(header, body)
    if not last_newline:
        data = data.removesuffix(b"\n")
    fields = header[::-1][:2]
    with tempfile.TemporaryDirectory() as work:
        storage = _storage(Path(work), data)
        assert list(rows.read_keys(storage, SOURCE, fields)) == _reference_keys(storage, fields)
        bitmap = bytearray((len(body) + 7) // 8)
        for index, kept in enumerate(keep[: len(body)]):
            if kept:
                bitmap[index >> 3] |= 1 << (index & 7)
        count = rows.copy_matched(storage, SOURCE, TARGET, bitmap)
        got = (Path(work) / "out" / "rows").glob("data_*")
        output = b"".join(p.read_bytes() for p in sorted(got))
        chosen = [row for row, kept in zip(body, keep, strict=False) if kept]
        write_csv(storage, TableRef("out", "expected"), header, chosen)
        expected = b"".join(
            p.read_bytes() for p in sorted((Path(work) / "out" / "expected").glob("data_*"))
        )
        assert (count, output) == (len(chosen), expected)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"id\nu1\n\nu2\n", "row 3"),
        (b"id\nu1\nu2,x\n", "row 3"),
        (b"a,b\n1,2\n3\n", "row 3 has 1 fields, not 2"),
        (b"id\n\xff\n", "not UTF-8"),
        (b"", "empty"),
    ],
)
def test_plain_inputs_are_checked_as_the_csv_path_checks_them(data: bytes, message: str) -> None:
    with tempfile.TemporaryDirectory() as work:
        storage = _storage(Path(work), data)
        fields = ["a"] if data.startswith(b"a,b") else ["id"]
        with pytest.raises(StorageError, match=message):
            list(rows.read_keys(storage, SOURCE, fields))


@pytest.mark.parametrize("data", [b"id\r\nu1\r\nu2\r\n", b'id,x\n"u,1",2\nu2,3\n', b"id\nu1\nu2"])
def test_inputs_that_are_not_plain_take_the_csv_path(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as work:
        storage = _storage(Path(work), data)
        assert list(rows.read_keys(storage, SOURCE, ["id"])) == _reference_keys(storage, ["id"])
