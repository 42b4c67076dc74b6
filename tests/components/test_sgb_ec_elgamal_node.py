"""One SGB job over EC-ElGamal (Ed25519) through two Isthmus nodes and the scheduler:
split, ``sgb`` with ``phe_algo=ec_elgamal``, ``sgb_predict``, ``evaluate``; the AUC is the
plaintext booster's (within 0.01) and the guest's report says which scheme ran."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from isthmus.testing import ProcessCluster
from isthmus.testing.jobs import offer_dataset, submit, wait_finished
from tests.components.test_sgb_node import GEN, PARAMS, pipeline, reference_auc

pytestmark = pytest.mark.multinode


def test_sgb_over_ec_elgamal_through_nodes(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(GEN), "--out-dir", str(tmp_path), "--parties", "2"],
        check=True, capture_output=True,
    )  # fmt: skip
    with ProcessCluster() as cluster:
        nodes = cluster.start(2)
        cluster.connect_all()
        for rank, node in enumerate(nodes):
            demo = node.home / "data" / "demo"
            demo.mkdir(parents=True, exist_ok=True)
            for r in range(2):
                (demo / f"party{r}.csv").write_bytes((tmp_path / f"party{r}.csv").read_bytes())
            if rank:
                offer_dataset(node, nodes[0], "demo", f"party{rank}.csv")
        job = pipeline(nodes)
        job["config"]["task_params"]["common"]["sgb_0"] = {
            **PARAMS, "phe_algo": "ec_elgamal", "ec_curve": "ed25519",
        }  # fmt: skip
        job_id = submit(nodes[0], job)
        summary = wait_finished(nodes[0], job_id, timeout_s=300)
        assert summary["result"] == "SUCCESS", json.dumps(summary, indent=1)[-3000:]
        tasks = {t["task_name"]: t["task_id"] for t in summary["tasks"]}
        guest_out = nodes[0].home / "data" / f"{job_id}-guest-0"
        trained = json.loads((guest_out / f"{tasks['sgb_0']}-report" / "data_0").read_text())
        assert trained["settings"]["phe_algo"] == "ec_elgamal"
        assert trained["settings"]["ec_curve"] == "ed25519"
        report = json.loads((guest_out / f"{tasks['eval_0']}-report" / "data_0").read_text())
        reference = reference_auc(nodes[0], job_id, tasks, 2)
        assert abs(report["metrics"]["auc"] - reference) <= 0.01, (report, reference)
