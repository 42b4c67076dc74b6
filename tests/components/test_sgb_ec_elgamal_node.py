"""One SGB job over EC-ElGamal (Ed25519) through two Isthmus nodes and the scheduler:
split, ``sgb`` with ``phe_algo=ec_elgamal``, ``sgb_predict``, ``evaluate``; the AUC is the
plaintext booster's (within 0.01) and the guest's report says which scheme ran."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from isthmus.testing import ProcessCluster
from tests.components.test_sgb_node import PARAMS, pipeline, reference_auc
from tests.support.vertical import place_parties, run_to_success, split_table

pytestmark = pytest.mark.multinode


def test_sgb_over_ec_elgamal_through_nodes(tmp_path: Path) -> None:
    split_table(tmp_path, 2)
    with ProcessCluster() as cluster:
        nodes = cluster.start(2)
        cluster.connect_all()
        place_parties(nodes, tmp_path)
        job = pipeline(nodes)
        job["config"]["task_params"]["common"]["sgb_0"] = {
            **PARAMS, "phe_algo": "ec_elgamal", "ec_curve": "ed25519",
        }  # fmt: skip
        job_id, tasks = run_to_success(nodes, job, timeout_s=300)
        guest_out = nodes[0].home / "data" / f"{job_id}-guest-0"
        trained = json.loads((guest_out / f"{tasks['sgb_0']}-report" / "data_0").read_text())
        assert trained["settings"]["phe_algo"] == "ec_elgamal"
        assert trained["settings"]["ec_curve"] == "ed25519"
        report = json.loads((guest_out / f"{tasks['eval_0']}-report" / "data_0").read_text())
        reference = reference_auc(nodes[0], job_id, tasks, 2)
        assert abs(report["metrics"]["auc"] - reference) <= 0.01, (report, reference)
