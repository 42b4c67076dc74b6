"""A job's outputs as ``isthmus job output`` previews them: only under the node's storage
root, a table's first rows (never a row cut in half), a report's JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from isthmus.scheduler import outputs
from isthmus.wire.ids import PathOutsideRoot


def test_a_table_preview_is_its_header_and_first_rows(tmp_path: Path) -> None:
    table = tmp_path / "ns" / "t-data"
    table.mkdir(parents=True)
    (table / "data_0").write_text("id,x\n1,a\n2,b\n3,c\n")
    (table / "metadata").write_text(json.dumps({"count": 3, "file_type": "csv"}))
    shown = outputs._published(tmp_path, "ns", "t-data", 2, tmp_path.as_uri())
    assert shown["published"] and shown["count"] == 3
    assert shown["preview"] == {
        "kind": "table", "header": ["id", "x"], "rows": [["1", "a"], ["2", "b"]], "more": True
    }  # fmt: skip
    everything = outputs._published(tmp_path, "ns", "t-data", 5, tmp_path.as_uri())
    assert everything["preview"]["more"] is False and len(everything["preview"]["rows"]) == 3


def test_a_report_preview_is_its_json(tmp_path: Path) -> None:
    report = tmp_path / "ns" / "t-report"
    report.mkdir(parents=True)
    (report / "data_0").write_text(json.dumps({"columns": {"balance": {"mean": 40}}}))
    shown = outputs._published(tmp_path, "ns", "t-report", 5, tmp_path.as_uri())
    assert shown["preview"] == {"kind": "json", "document": {"columns": {"balance": {"mean": 40}}}}


def test_a_big_table_is_read_only_so_far_and_no_row_is_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outputs, "MAX_PREVIEW_BYTES", 20)
    data = tmp_path / "big.csv"
    data.write_text("id,name\n1,aaaa\n2,bbbb\n3,cccc\n")  # the cap falls inside row 2
    assert outputs.preview(data, "csv", 100) == {
        "kind": "table", "header": ["id", "name"], "rows": [["1", "aaaa"]], "more": True
    }  # fmt: skip


def test_nothing_outside_the_storage_root_is_read(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "admin.token").write_text("isk_secret")
    (root / "ns").symlink_to(tmp_path / "secret")  # a link planted inside the root
    with pytest.raises(PathOutsideRoot):
        outputs._published(root, "ns", "admin.token", 5, root.as_uri())
    with pytest.raises(PathOutsideRoot):
        outputs._published(root, "..", "secret", 5, root.as_uri())


def test_unpublished_and_remote_outputs_say_so(tmp_path: Path) -> None:
    assert outputs._published(tmp_path, "ns", "gone", 5, tmp_path.as_uri())["published"] is False
    remote = outputs._published(None, "ns", "t", 5, "s3://bucket/x")
    assert remote["published"] is None and "s3://bucket/x" in remote["note"]


def test_a_picture_is_shown_as_a_file_and_unreadable_csv_as_text(tmp_path: Path) -> None:
    plot = tmp_path / "ns" / "t-roc"
    plot.mkdir(parents=True)
    (plot / "data_0").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(40))
    (plot / "metadata").write_text(json.dumps({"count": 1, "file_type": "png"}))
    shown = outputs._published(tmp_path, "ns", "t-roc", 5, tmp_path.as_uri())["preview"]
    assert shown["kind"] == "file" and shown["file_type"] == "png" and shown["bytes"] == 56
    assert str(plot / "data_0") in shown["text"]
    untyped = tmp_path / "blob"
    untyped.write_bytes(b"a,b\n\0\1\2")
    assert outputs.preview(untyped, "", 5)["kind"] == "file"
    broken = tmp_path / "broken.csv"
    broken.write_bytes(b"id,x\n1,a\rb\n")  # a bare carriage return: the csv module refuses it
    assert outputs.preview(broken, "csv", 5) == {
        "kind": "text",
        "text": "id,x\n1,a\rb\n",
        "truncated": False,
    }
