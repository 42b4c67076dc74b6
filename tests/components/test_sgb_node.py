"""SGB through real Isthmus nodes and the scheduler, Isthmus on every side: a job of 2
parties and one of 3 (the label holder and one or two feature holders, each with its
columns of the breast-cancer table, the hosts offering theirs to the initiator):
data_split by key, ``sgb``, ``sgb_predict``, then ``evaluate`` on the label holder.

The evaluate report's test AUC must be within 0.01 of the plaintext booster of
``tests/components/sgb_reference.py`` trained on the same training rows with the same
bucketing and settings (issue 15's acceptance), and every party's model must hold its
own split points only."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from isthmus.components.builtin.sgb.bucketing import bucketize
from isthmus.testing import ProcessCluster, ProcessNode
from tests.components import sgb_reference as ref
from tests.support.vertical import model_job, place_parties, run_to_success, split_table

pytestmark = pytest.mark.multinode
SETTINGS = {"num_round": 2, "max_depth": 3, "bucket_eps": 0.1, "learning_rate": 0.3,
            "reg_lambda": 1.0, "gamma": 0.0}  # fmt: skip
PARAMS = {**SETTINGS, "key_bits": 1024, "allow_insecure_key_size": True, "label_col": "y",
          "recv_timeout_s": 120}  # fmt: skip


def pipeline(nodes: list[ProcessNode]) -> dict[str, Any]:
    return model_job(
        nodes, model=("sgb_0", "sgb"), train_outputs=[("model", "model"), ("report", "report")],
        predict=("predict_0", "sgb_predict"), train_params=PARAMS,
        predict_params={"recv_timeout_s": 120, "label_col": "y"},
    )  # fmt: skip


def features(path: Path) -> tuple[list[str], Any, Any]:
    """(ids, feature matrix, labels or None) of one party's CSV."""
    with path.open() as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    cols = [i for i, c in enumerate(header) if c not in ("id", "y")]
    ids = [r[0] for r in rows[1:]]
    x = np.array([[float(r[i]) for i in cols] for r in rows[1:]])
    y = np.array([float(r[header.index("y")]) for r in rows[1:]]) if "y" in header else None
    return ids, x, y


def reference_auc(node: ProcessNode, job_id: str, tasks: dict[str, str], parties: int) -> float:
    """The plaintext booster on the job's own split (the guest's split outputs), all
    parties' columns side by side, bucketed on the training rows as each party does."""
    base = node.home / "data" / f"{job_id}-guest-0"
    train_ids, _, _ = features(base / f"{tasks['split_0']}-train_data" / "data_0")
    test_ids, _, _ = features(base / f"{tasks['split_0']}-test_data" / "data_0")
    tables = [features(node.home / "data" / "demo" / f"party{r}.csv") for r in range(parties)]
    where = {key: i for i, key in enumerate(tables[0][0])}
    train = np.array([where[i] for i in train_ids])
    test = np.array([where[i] for i in test_ids])
    x = np.hstack([t[1] for t in tables])
    y = tables[0][2]
    bucketing = bucketize(x[train], float(SETTINGS["bucket_eps"]))
    test_bins = np.column_stack(
        [np.digitize(x[test, f], bucketing.split_points[f]) for f in range(x.shape[1])]
    ).astype(bucketing.bins.dtype)
    booster = ref.train(
        bucketing.bins,
        y[train],
        bucketing.bucket_num,
        num_round=int(SETTINGS["num_round"]),
        max_depth=int(SETTINGS["max_depth"]),
        reg_lambda=float(SETTINGS["reg_lambda"]),
        gamma=float(SETTINGS["gamma"]),
        learning_rate=float(SETTINGS["learning_rate"]),
    )
    return float(roc_auc_score(y[test], booster.predict(test_bins)))


@pytest.mark.parametrize("parties", [2, 3])
def test_sgb_job_through_nodes_and_the_scheduler(tmp_path: Path, parties: int) -> None:
    split_table(tmp_path, parties)
    with ProcessCluster() as cluster:
        nodes = cluster.start(parties)
        cluster.connect_all()
        place_parties(nodes, tmp_path)
        job_id, tasks = run_to_success(nodes, pipeline(nodes), timeout_s=300)
        guest_out = nodes[0].home / "data" / f"{job_id}-guest-0"
        report = json.loads((guest_out / f"{tasks['eval_0']}-report" / "data_0").read_text())
        auc = report["metrics"]["auc"]
        reference = reference_auc(nodes[0], job_id, tasks, parties)
        assert abs(auc - reference) <= 0.01, (auc, reference)
        assert (
            report["rows"]
            == len(
                (guest_out / f"{tasks['split_0']}-test_data" / "data_0").read_text().splitlines()
            )
            - 1
        )
        for rank, node in enumerate(nodes):
            role = "guest-0" if rank == 0 else f"host-{rank - 1}"
            path = node.home / "data" / f"{job_id}-{role}" / f"{tasks['sgb_0']}-model" / "data_0"
            text = path.read_text()
            own = features(node.home / "data" / "demo" / f"party{rank}.csv")[1].shape[1]
            others = [
                c
                for r in range(parties)
                if r != rank
                for c in next(csv.reader((tmp_path / f"party{r}.csv").open()))
                if c not in ("id", "y")
            ]
            assert others and not any(f'"{c}"' in text for c in others), (rank, text[:500])
            assert own > 0
