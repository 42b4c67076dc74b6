"""Isthmus-to-Isthmus ECDH-PSI with 2, 3 and 5 parties, each party a plain process
started from a container environment: 2 and 3 parties through real Isthmus nodes (the
BFIA transport), 5 over the direct gRPC link."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from isthmus.testing import ProcessCluster, free_port
from tests.support.components import psi_report, start_psi_party

pytestmark = pytest.mark.multinode
SESSION, TOKEN = "session_job-mpsi", "token-mpsi"
COMMON = [f"user{i:05d}" for i in range(300)]


def party_roles(n: int) -> list[str]:
    return ["guest.0"] + [f"host.{i}" for i in range(n - 1)]


def start_party(
    tmp_path: Path, rank: int, n: int, node_ids: list[str], extra: dict[str, str]
) -> subprocess.Popen[str]:
    roles = party_roles(n)
    storage = tmp_path / f"party{rank}"
    (storage / "in").mkdir(parents=True)
    own = [f"p{rank}-only{i}" for i in range(200)]
    rows = own[:100] + COMMON + own[100:]
    (storage / "in" / "data").write_text("id,value\n" + "".join(f"{r},{rank}\n" for r in rows))
    nodes = dict(zip(roles, node_ids, strict=True))
    return start_psi_party(storage, roles[rank], nodes, (SESSION, TOKEN), extra)


def check(tmp_path: Path, parties: list[subprocess.Popen[str]]) -> None:
    try:
        logs = [p.communicate(timeout=300)[0] for p in parties]
    finally:
        for p in parties:
            if p.poll() is None:
                p.kill()
    for rank, (party, log) in enumerate(zip(parties, logs, strict=True)):
        assert party.returncode == 0, f"party {rank} failed:\n{log[-3000:]}"
        report = psi_report(log)
        assert report["intersection"] == len(COMMON)
        rows = (tmp_path / f"party{rank}" / "out" / "rows" / "data_0").read_text().split()
        assert [r.split(",")[0] for r in rows[1:]] == COMMON  # input order kept


@pytest.mark.parametrize("n", [2, 3])
def test_parties_through_isthmus_nodes(tmp_path: Path, n: int) -> None:
    with ProcessCluster() as cluster:
        nodes = cluster.start(n)
        cluster.connect_all()
        for node in nodes:
            others = [other.node_id for other in nodes if other is not node]
            node.admin.post(
                "/transport/sessions",
                {"session_id": SESSION, "token": TOKEN, "parties": others},
            )
        node_ids = [node.node_id for node in nodes]
        parties = [
            start_party(
                tmp_path, rank, n, node_ids, {"system.transport": node.config.transport_address}
            )
            for rank, node in enumerate(nodes)
        ]
        check(tmp_path, parties)


def test_five_parties_over_the_direct_link(tmp_path: Path) -> None:
    n = 5
    addresses = ",".join(f"127.0.0.1:{free_port()}" for _ in range(n))
    node_ids = [f"NODE_{chr(65 + i)}" for i in range(n)]
    extra = {"runtime.component.parameter.link_addresses": addresses}
    check(tmp_path, [start_party(tmp_path, rank, n, node_ids, extra) for rank in range(n)])


def test_ppca_handshake_mode_between_two_isthmus_processes(tmp_path: Path) -> None:
    """Each side asks for another curve; with ``handshake`` on, rank 0's choice wins."""
    addresses = f"127.0.0.1:{free_port()},127.0.0.1:{free_port()}"
    common = {"runtime.component.parameter.link_addresses": addresses,
              "runtime.component.parameter.handshake": "true"}  # fmt: skip
    parties = [
        start_party(
            tmp_path,
            rank,
            2,
            ["NODE_A", "NODE_B"],
            {**common, "runtime.component.parameter.curve_type": curve},
        )
        for rank, curve in enumerate(["sm2", "curve25519"])
    ]
    check(tmp_path, parties)
