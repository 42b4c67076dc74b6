"""A task's own storage directory: inputs copied in read-only, only declared outputs
published, never a link, everything removed at the end."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from isthmus.scheduler.task_storage import StorageRefused, TaskStorage, local_root
from isthmus.wire.ids import PathOutsideRoot

ENV = {
    "runtime.component.input.data": json.dumps({"namespace": "demo", "name": "t.csv"}),
    "runtime.component.input.more": json.dumps({"namespace": "job-1-guest-0", "name": "up-x"}),
    "runtime.component.output.data": json.dumps({"namespace": "job-1-guest-0", "name": "me-x"}),
}


def shared_root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "demo").mkdir(parents=True)
    (root / "demo" / "t.csv").write_text("id\n1\n")
    (root / "job-1-guest-0" / "up-x").mkdir(parents=True)
    (root / "job-1-guest-0" / "up-x" / "data_0").write_text("id\n2\n")
    return root


def test_inputs_are_read_only_copies_and_only_outputs_are_published(tmp_path: Path) -> None:
    root = shared_root(tmp_path)
    storage = TaskStorage.of(root, "job-1", "me", "guest.0")
    assert storage.root == root / ".tasks" / "job-1" / "me" / "guest.0"
    storage.prepare(ENV)
    copy = storage.root / "demo" / "t.csv"
    assert copy.read_text() == "id\n1\n" and stat.S_IMODE(copy.stat().st_mode) == 0o444
    assert copy.stat().st_ino != (root / "demo" / "t.csv").stat().st_ino
    table = storage.root / "job-1-guest-0" / "up-x"
    assert stat.S_IMODE(table.stat().st_mode) == 0o555
    made = storage.root / "job-1-guest-0" / "me-x"
    made.mkdir()
    (made / "data_0").write_text("id\n3\n")
    (storage.root / "job-1-guest-0" / "undeclared").mkdir()
    outputs = TaskStorage.from_json(storage.to_json(ENV))[1]
    storage.publish(outputs)
    assert (root / "job-1-guest-0" / "me-x" / "data_0").read_text() == "id\n3\n"
    assert not (root / "job-1-guest-0" / "undeclared").exists()
    storage.discard()
    assert not (root / ".tasks" / "job-1").exists()


def test_an_output_that_is_a_link_is_refused(tmp_path: Path) -> None:
    root = shared_root(tmp_path)
    secret = tmp_path / "admin.token"
    secret.write_text("root token")
    storage = TaskStorage.of(root, "job-1", "me", "guest.0")
    storage.prepare(ENV)
    made = storage.root / "job-1-guest-0" / "me-x"
    made.mkdir()
    (made / "data_0").symlink_to(secret)
    with pytest.raises(StorageRefused, match="not a plain file"):
        storage.publish([("job-1-guest-0", "me-x")])
    made.joinpath("data_0").unlink()
    made.rmdir()
    made.symlink_to(tmp_path)  # the output table itself a link out
    with pytest.raises(PathOutsideRoot):
        storage.publish([("job-1-guest-0", "me-x")])
    made.unlink()
    made.symlink_to(storage.root / "demo")  # or a link within: refused, not followed
    with pytest.raises(StorageRefused, match="not a plain file"):
        storage.publish([("job-1-guest-0", "me-x")])
    assert not (root / "job-1-guest-0" / "me-x").exists()
    storage.discard()
    assert secret.read_text() == "root token"


def test_ids_and_storage_urls(tmp_path: Path) -> None:
    with pytest.raises(PathOutsideRoot):
        TaskStorage.of(tmp_path, "..", "t", "guest.0")
    assert local_root("file:///srv/data") == Path("/srv/data")
    assert local_root("s3://bucket/x") is None
