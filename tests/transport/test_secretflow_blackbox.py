"""Acceptance: two real SecretFlow ECDH-PSI parties talk only through Isthmus nodes.

Every message travels SecretFlow rank 0 → node A (south-north push) → east-west, signed →
node B → SecretFlow rank 1 (south-north pop), and back. Both parties must report the
known intersection and write the same matched rows.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from isthmus.testing import ProcessCluster
from tests.support.secretflow import peer_python, psi_script, write_ids

pytestmark = pytest.mark.multinode
ROWS = 10_000


def test_secretflow_psi_through_two_isthmus_nodes(tmp_path: Path) -> None:
    python = peer_python()
    shared_ids = [f"user{i:07d}" for i in range(ROWS // 2)]
    write_ids(tmp_path / "a.csv", shared_ids + [f"a-only{i}" for i in range(ROWS // 2)])
    write_ids(tmp_path / "b.csv", [f"b-only{i}" for i in range(ROWS // 2)] + shared_ids)
    session = "session_job-sf-blackbox"
    with ProcessCluster() as cluster:
        a, b = cluster.start(2)
        cluster.connect(a, b)
        for node, other in ((a, b), (b, a)):
            node.admin.post(
                "/transport/sessions",
                {"session_id": session, "token": "token-peer", "parties": [other.node_id]},
            )
        parties = []
        for rank, node in ((0, a), (1, b)):
            parties.append(
                subprocess.Popen(
                    [
                        str(python),
                        str(psi_script()),
                        "--rank",
                        str(rank),
                        "--link",
                        "blackbox",
                        "--transport",
                        node.config.transport_address,
                        "--node-ids",
                        f"{a.node_id},{b.node_id}",
                        "--session",
                        session,
                        "--input",
                        str(tmp_path / ("a.csv" if rank == 0 else "b.csv")),
                        "--output",
                        str(tmp_path / f"out{rank}.csv"),
                        "--timeout-s",
                        "120",
                    ],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        results = []
        for party in parties:
            out, err = party.communicate(timeout=300)
            assert party.returncode == 0, f"SecretFlow party failed:\n{err[-3000:]}"
            reports = [line for line in out.splitlines() if line.startswith('{"rank"')]
            assert reports, f"no report from SecretFlow:\n{out[-2000:]}"
            results.append(json.loads(reports[-1]))
    assert [r["intersection"] for r in results] == [ROWS // 2, ROWS // 2]
    matched = [set((tmp_path / f"out{rank}.csv").read_text().split()[1:]) for rank in (0, 1)]
    assert matched[0] == matched[1] == set(shared_ids)
