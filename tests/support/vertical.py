"""Vertically split jobs through real nodes: the breast-cancer table of
``../shared/peers/gen_sgb_data.py`` cut into one CSV per party, every node holding the
files, each host offering its own to the initiator, and one job run to success.

Shared by the model tests (``test_he_lr_node``, ``test_sgb_node``,
``test_sgb_ec_elgamal_node``), which differ only in their DAG and what they check."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from isthmus.testing import ProcessNode
from isthmus.testing.jobs import offer_dataset, submit, wait_finished
from tests.support.shared import shared_root

GEN = shared_root() / "peers" / "gen_sgb_data.py"


def split_table(out_dir: Path, parties: int) -> None:
    """``party0.csv`` (id, y, features) … ``party<n-1>.csv`` in ``out_dir``."""
    subprocess.run(
        [sys.executable, str(GEN), "--out-dir", str(out_dir), "--parties", str(parties)],
        check=True, capture_output=True,
    )  # fmt: skip


def place_parties(nodes: list[ProcessNode], source: Path) -> None:
    """Every node gets every party's file under ``demo/`` (each job reads its own);
    each host offers its own file to the initiator, ``nodes[0]``."""
    for rank, node in enumerate(nodes):
        demo = node.home / "data" / "demo"
        demo.mkdir(parents=True, exist_ok=True)
        for r in range(len(nodes)):
            (demo / f"party{r}.csv").write_bytes((source / f"party{r}.csv").read_bytes())
        if rank:
            offer_dataset(node, nodes[0], "demo", f"party{rank}.csv")


def run_to_success(
    nodes: list[ProcessNode], document: dict[str, Any], timeout_s: float
) -> tuple[str, dict[str, str]]:
    """Submit on ``nodes[0]``, wait, insist on SUCCESS; (job id, task name → task id)."""
    job_id = submit(nodes[0], document)
    summary = wait_finished(nodes[0], job_id, timeout_s=timeout_s)
    assert summary["result"] == "SUCCESS", json.dumps(summary, indent=1)[-3000:]
    return job_id, {t["task_name"]: t["task_id"] for t in summary["tasks"]}
