"""Issue #12, item 5: an operator registers as a dataset what the node must never read.

Against real node processes, each attempt is refused with a clear error, nothing is
registered or audited as registered, and the error carries nothing of the file: the
node's own ``admin.token`` and database, a system file, a link under the data root that
leads out, a SQLite URL to the node's own database. A file swapped for a link after it
was registered is refused at use: the job fails and nothing is copied to task storage.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from isthmus.node.admin_client import AdminApiError
from isthmus.testing import ProcessCluster, ProcessNode
from isthmus.testing.jobs import offer_dataset, submit, wait_finished
from isthmus.wire.errors import ErrorCode
from tests.scheduler.jobs_support import psi_pipeline, write_dataset
from tests.security.files_support import audit_actions, healthy

pytestmark = pytest.mark.multinode

Pair = tuple[ProcessNode, ProcessNode]


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    with ProcessCluster() as cluster:
        a, b = cluster.start(2)
        cluster.connect(a, b)
        yield a, b


def refused(node: ProcessNode, source: str, location: str, table: str = "") -> str:
    """Register ``location`` as dataset ``attack#<n>``; assert it is refused and leaves no
    trace; return the refusal's message."""
    name = f"t{len(audit_actions(node))}"
    body = {"namespace": "attack", "name": name, "source": source, "location": location}
    if table:
        body["table"] = table
    with pytest.raises(AdminApiError) as caught:
        node.admin.post("/datasets", body)
    assert caught.value.node_code == ErrorCode.VALIDATION_FAILED, caught.value.message
    assert all(d["dataset_id"] != f"attack#{name}" for d in node.admin.get("/datasets"))
    assert "dataset.registered" not in audit_actions(node, f"attack#{name}")
    return caught.value.message


def test_the_nodes_own_token_key_and_database_are_not_sources(pair: Pair) -> None:
    _, b = pair
    token = (b.home / "admin.token").read_text().strip()
    for source, location in (
        ("csv", b.home / "admin.token"),
        ("csv", b.home / "keys" / "node.key"),
        ("csv", b.home / "node.toml"),
        ("csv", b.home / "isthmus.db"),
        ("parquet", b.home / "isthmus.db"),
        ("csv", b.home / "data" / ".." / "admin.token"),
    ):
        message = refused(b, source, str(location))
        assert token not in message and "BEGIN" not in message
        assert "data root" in message or "own files" in message, message
    message = refused(b, "sql", f"sqlite:///{b.home / 'isthmus.db'}", table="contracts")
    assert "data root" in message or "own files" in message, message
    assert healthy(b)


def test_system_files_and_links_out_of_the_data_root_are_refused(pair: Pair) -> None:
    _, b = pair
    message = refused(b, "csv", "/etc/passwd")
    assert "root:" not in message
    data = b.home / "data"
    data.mkdir(exist_ok=True)
    link = data / "innocent.csv"
    link.symlink_to("/etc/passwd")
    inner = data / "token.csv"
    inner.symlink_to(b.home / "admin.token")
    try:
        assert "root:" not in refused(b, "csv", str(link))
        assert "root:" not in refused(b, "csv", "innocent.csv")  # relative to the storage
        assert "own files" in refused(b, "csv", str(inner))
        assert "data root" in refused(b, "sql", f"sqlite:///{link}", table="t")
    finally:
        link.unlink()
        inner.unlink()
    assert healthy(b)


def test_a_source_swapped_for_a_link_after_registration_is_refused_at_use(pair: Pair) -> None:
    a, b = pair
    write_dataset(a, "guest.csv", list(range(0, 200)), "x")
    source = b.home / "data" / "sources" / "host.csv"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text("id,y\n" + "".join(f"{i},{i % 7}\n" for i in range(100, 300)))
    b.admin.post(
        "/datasets",
        {"namespace": "swap", "name": "host.csv", "source": "csv", "location": str(source)},
    )
    offer_dataset(b, a, "swap", "host.csv")
    # Then someone with write access to the data root swaps the file for a link to a
    # file of the same shape outside it: the registration's checks passed long ago.
    secret = b.home / "secret.csv"
    secret.write_text("id,y\n" + "".join(f"{i},424242\n" for i in range(100, 300)))
    source.unlink()
    source.symlink_to(secret)
    job = psi_pipeline(a.node_id, b.node_id)
    job["config"]["task_params"]["host"]["0"]["psi_0"] = {"dataset_id": "swap#host.csv"}
    try:  # B refuses at job/create (its gate checks the source) or when the task starts
        summary = wait_finished(a, submit(a, job))
        assert summary["result"] != "SUCCESS", json.dumps(summary)
    except AdminApiError as exc:
        assert "data root" in exc.message, exc.message
        assert str(b.home) not in exc.message  # B's paths are not A's business
    # Nothing of the secret reached task storage or any task output on B.
    assert not (b.home / "data" / "swap" / "host.csv").exists()
    for root, _dirs, files in os.walk(b.home / "data"):
        for name in files:
            path = Path(root) / name
            if not path.is_symlink():
                assert "424242" not in path.read_text(errors="replace"), path
    assert healthy(b)
