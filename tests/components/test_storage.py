"""Tables through ``system.storage``: the spec's layout, atomic writes, safe names."""

from __future__ import annotations

from pathlib import Path

import pytest

from isthmus.components import StorageError, TableMeta, TableRef, open_storage


def test_tables_are_written_atomically_with_their_metadata(tmp_path: Path) -> None:
    storage = open_storage(f"file://{tmp_path}")
    ref = TableRef("job-1", "out")
    with storage.writer(ref) as f:
        f.write(b"a,b\n1,2\n")
    storage.write_meta(ref, TableMeta(name="out", namespace="job-1", count=1))
    assert (tmp_path / "job-1" / "out" / "data_0").read_bytes() == b"a,b\n1,2\n"
    meta = storage.read_meta(ref)
    assert meta is not None and meta.count == 1 and meta.create_time > 0
    with storage.reader(ref) as f:
        assert f.read() == b"a,b\n1,2\n"
    with pytest.raises(RuntimeError), storage.writer(ref) as f:  # a failed write ...
        f.write(b"half")
        raise RuntimeError("component crashed")
    assert (tmp_path / "job-1" / "out" / "data_0").read_bytes() == b"a,b\n1,2\n"  # ... is not seen
    assert sorted(p.name for p in (tmp_path / "job-1" / "out").iterdir()) == ["data_0", "metadata"]


def test_inputs_may_be_plain_files_or_partitioned(tmp_path: Path) -> None:
    storage = open_storage(f"file://{tmp_path}")
    (tmp_path / "ns").mkdir()
    (tmp_path / "ns" / "plain.csv").write_bytes(b"x\n")
    with storage.reader(TableRef("ns", "plain.csv")) as f:
        assert f.read() == b"x\n"
    parts = tmp_path / "ns" / "parts"
    parts.mkdir()
    for i, chunk in ((10, b"c"), (2, b"b"), (0, b"a")):
        (parts / f"data_{i}").write_bytes(chunk)
    with storage.reader(TableRef("ns", "parts")) as f:
        assert f.read() == b"abc"  # partitions in numeric order
    assert storage.read_meta(TableRef("ns", "plain.csv")) is None
    with pytest.raises(StorageError, match="not found"), storage.reader(TableRef("ns", "none")):
        pass


@pytest.mark.parametrize(("namespace", "name"), [("..", "x"), ("ns", "../../etc"), ("", "x")])
def test_names_cannot_leave_the_storage_root(tmp_path: Path, namespace: str, name: str) -> None:
    storage = open_storage(f"file://{tmp_path}")
    with pytest.raises(StorageError, match="unsafe"), storage.reader(TableRef(namespace, name)):
        pass


def test_unsupported_schemes_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="s3:// is not supported"):
        open_storage("s3://minio:9000?bucket=b")
    with pytest.raises(StorageError, match="not a directory"):
        open_storage(f"file://{tmp_path}/missing")
