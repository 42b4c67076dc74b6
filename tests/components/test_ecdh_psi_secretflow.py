"""Acceptance: Isthmus ``ecdh_psi`` against the real SecretFlow party (spu 0.9.1b0,
interconnection mode), Isthmus as rank 0 and as rank 1, over the direct gRPC link (MONO
and CHUNKED) and over the BFIA transport through two Isthmus nodes. Our side runs as a
plain process from a container environment; both sides must report the known
intersection and write the same rows."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from isthmus.testing import ProcessCluster, ProcessNode, free_port
from tests.support.components import psi_report, start_psi_party
from tests.support.secretflow import peer_python, psi_script, write_ids

pytestmark = pytest.mark.multinode
ROWS = 3_000
SHARED = [f"user{i:07d}" for i in range(ROWS // 2)]
SESSION, TOKEN = "session_job-psi", "token-psi"


def inputs(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    write_ids(a, SHARED + [f"a-only{i}" for i in range(ROWS // 2)])
    write_ids(b, [f"b-only{i}" for i in range(ROWS // 2)] + SHARED)
    return a, b


def isthmus_party(
    tmp_path: Path, rank: int, data: Path, extra: dict[str, str], session: str = SESSION
) -> subprocess.Popen[str]:
    storage = tmp_path / "storage"
    (storage / "in").mkdir(parents=True, exist_ok=True)
    (storage / "in" / "data").write_bytes(data.read_bytes())
    nodes = {"guest.0": "NODE_A", "host.0": "NODE_B"}
    return start_psi_party(storage, list(nodes)[rank], nodes, (session, TOKEN), extra)


def secretflow_party(rank: int, data: Path, output: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(peer_python()), str(psi_script()), "--rank", str(rank), "--input", str(data),
         "--output", str(output), "--timeout-s", "120", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def finish(tmp_path: Path, ours: subprocess.Popen[str], theirs: subprocess.Popen[str]) -> None:
    try:
        our_log, _ = ours.communicate(timeout=240)
        their_out, their_err = theirs.communicate(timeout=240)
    finally:
        for process in (ours, theirs):
            if process.poll() is None:
                process.kill()
    assert ours.returncode == 0, f"Isthmus party failed:\n{our_log[-3000:]}"
    assert theirs.returncode == 0, f"SecretFlow party failed:\n{their_err[-3000:]}"
    report = psi_report(our_log)
    theirs_report = json.loads(
        [line for line in their_out.splitlines() if line.startswith('{"rank"')][-1]
    )
    assert report["intersection"] == theirs_report["intersection"] == ROWS // 2
    ours_rows = (tmp_path / "storage" / "out" / "rows" / "data_0").read_text().split()
    theirs_rows = (tmp_path / "sf_out.csv").read_text().split()
    assert set(ours_rows[1:]) == set(theirs_rows[1:]) == set(SHARED)


@pytest.mark.parametrize(
    ("curve", "chunked"),
    [("CURVE_25519", False), ("CURVE_25519", True), ("CURVE_SM2", False), ("CURVE_SM2", True)],
    ids=["x25519-mono", "x25519-chunked", "sm2-mono", "sm2-chunked"],
)
@pytest.mark.parametrize("our_rank", [0, 1])
def test_direct_grpc_link_with_secretflow(
    tmp_path: Path, our_rank: int, curve: str, chunked: bool
) -> None:
    a, b = inputs(tmp_path)
    addresses = f"127.0.0.1:{free_port()},127.0.0.1:{free_port()}"
    theirs = secretflow_party(
        1 - our_rank,
        b if our_rank == 0 else a,
        tmp_path / "sf_out.csv",
        "--link", "grpc", "--addrs", addresses, "--curve", curve,
        *(["--max-payload", "16384"] if chunked else []),
    )  # fmt: skip
    extra = {
        "runtime.component.parameter.link_addresses": addresses,
        "runtime.component.parameter.curve_type": "sm2" if curve == "CURVE_SM2" else "curve25519",
    }
    if chunked:
        extra["runtime.component.parameter.link_max_chunk_bytes"] = "16384"
    ours = isthmus_party(tmp_path, our_rank, a if our_rank == 0 else b, extra)
    finish(tmp_path, ours, theirs)


@pytest.fixture(scope="module")
def two_nodes() -> Iterator[tuple[ProcessNode, ProcessNode]]:
    """Two contracted nodes shared by the blackbox cases: each case is its own job on
    its own transport session, as independent jobs on a pair of nodes are."""
    with ProcessCluster() as cluster:
        node_a, node_b = cluster.start(2)
        cluster.connect(node_a, node_b)
        yield node_a, node_b


@pytest.mark.parametrize(
    ("curve", "chunked"),
    [("CURVE_25519", False), ("CURVE_25519", True), ("CURVE_SM2", False), ("CURVE_SM2", True)],
    ids=["x25519-mono", "x25519-chunked", "sm2-mono", "sm2-chunked"],
)
@pytest.mark.parametrize("our_rank", [0, 1])
def test_blackbox_link_through_two_isthmus_nodes(
    tmp_path: Path,
    two_nodes: tuple[ProcessNode, ProcessNode],
    our_rank: int,
    curve: str,
    chunked: bool,
) -> None:
    """SecretFlow's blackbox link cannot be told to chunk (its payload limit is the
    ContextDesc default); ours sends CHUNKED pieces, which SecretFlow reassembles."""
    a, b = inputs(tmp_path)
    node_a, node_b = nodes = two_nodes
    session = f"{SESSION}-{our_rank}-{curve.lower()}-{'chunked' if chunked else 'mono'}"
    for node, other in ((node_a, node_b), (node_b, node_a)):
        node.admin.post(
            "/transport/sessions",
            {"session_id": session, "token": TOKEN, "parties": [other.node_id]},
        )
    theirs = secretflow_party(
        1 - our_rank,
        b if our_rank == 0 else a,
        tmp_path / "sf_out.csv",
        "--link", "blackbox", "--transport", nodes[1 - our_rank].config.transport_address,
        "--node-ids", f"{node_a.node_id},{node_b.node_id}", "--session", session,
        "--token", TOKEN, "--curve", curve,
    )  # fmt: skip
    extra = {
        "system.transport": nodes[our_rank].config.transport_address,
        "config.node_id.guest.0": node_a.node_id,
        "config.node_id.host.0": node_b.node_id,
        "runtime.component.parameter.curve_type": "sm2" if curve == "CURVE_SM2" else "curve25519",
    }
    if chunked:
        extra["runtime.component.parameter.link_max_chunk_bytes"] = "16384"
    ours = isthmus_party(tmp_path, our_rank, a if our_rank == 0 else b, extra, session)
    finish(tmp_path, ours, theirs)
