"""Issue #12, item 7: a local user of the machine reads the node's secrets off the disk.

A fresh node, started as operators start it, keeps everything in its home owner-only:
the home, its key and token, the database (permit and session tokens) with its ``-wal``
and ``-shm``, the logs and every folder. ``isthmus doctor`` warns, naming the file and
the ``chmod`` that fixes it, when one of them is made readable by others.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from isthmus.testing import ProcessCluster, ProcessNode

pytestmark = pytest.mark.multinode


@pytest.fixture(scope="module")
def node() -> Iterator[ProcessNode]:
    with ProcessCluster() as cluster:
        (started,) = cluster.start(1)
        yield started


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def doctor(node: ProcessNode) -> tuple[int, dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-m", "isthmus", "doctor", "--home", str(node.home), "--json"],
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
        env=os.environ.copy(),
    )
    return done.returncode, json.loads(done.stdout)


def test_a_fresh_nodes_home_database_and_logs_are_owner_only(node: ProcessNode) -> None:
    home = node.home
    database = home / "isthmus.db"
    for path in (home, home / "keys", home / "logs", home / "run"):
        assert mode(path) == 0o700, f"{path}: {mode(path):04o}"
    for path in (
        database,
        Path(f"{database}-wal"),
        Path(f"{database}-shm"),
        home / "admin.token",
        home / "keys" / "node.key",
        home / "node.toml",
        node.log_path,
    ):
        assert path.exists(), path
        assert mode(path) == 0o600, f"{path}: {mode(path):04o}"
    # And nothing anywhere in the home is open to group or others.
    opened = [
        f"{p} {mode(p):04o}"
        for p in [home, *home.rglob("*")]
        if not p.is_symlink() and mode(p) & 0o077
    ]
    assert not opened, opened


def test_doctor_warns_of_a_private_file_made_readable(node: ProcessNode) -> None:
    code, report = doctor(node)
    assert report["files"] == [] and code == 0, report
    database = node.home / "isthmus.db"
    database.chmod(0o644)
    node.log_path.chmod(0o640)
    try:
        code, report = doctor(node)
    finally:
        database.chmod(0o600)
        node.log_path.chmod(0o600)
    assert code == 1 and report["ok"] is False
    found = {f["path"]: f for f in report["files"]}  # type: ignore[attr-defined]
    assert found[str(database)]["mode"] == "0644"
    assert found[str(database)]["advice"] == f"chmod 600 {database}"
    assert found[str(node.log_path)]["mode"] == "0640"
    code, report = doctor(node)
    assert code == 0 and report["files"] == [], report
