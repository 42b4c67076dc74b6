"""HE-LR through real Isthmus nodes and the scheduler: a job of 2 parties and one of 3
(the label holder and one or two feature holders, each holding its columns of the breast
cancer table, the hosts offering theirs to the initiator): data_split by key, he_lr,
he_lr_predict, then evaluate on the label holder, whose report's AUC is checked against
scikit-learn's plaintext logistic regression on the same split."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from isthmus.testing import ProcessCluster, ProcessNode
from tests.support.vertical import model_job, place_parties, run_to_success, split_table

pytestmark = pytest.mark.multinode
PARAMS = {"learning_rate": 0.1, "epochs": 8, "batch_size": 64, "l2": 0.01, "tol": 0.0,
          "key_bits": 1024, "allow_insecure_key_size": True, "seed": 7, "workers": 1,
          "recv_timeout_s": 120}  # fmt: skip


def pipeline(nodes: list[ProcessNode]) -> dict[str, Any]:
    return model_job(
        nodes, model=("lr_0", "he_lr"), train_outputs=[("model", "model")],
        predict=("predict_0", "he_lr_predict"), train_params=PARAMS,
        predict_params={"recv_timeout_s": 120},
    )  # fmt: skip


def read(path: Path) -> tuple[list[str], Any, Any]:
    with path.open() as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    cols = [i for i, c in enumerate(header) if c.startswith("f")]
    ids = [r[0] for r in rows[1:]]
    x = np.array([[float(r[i]) for i in cols] for r in rows[1:]])
    y = np.array([float(r[1]) for r in rows[1:]]) if "y" in header else None
    return ids, x, y


def sklearn_auc(node: ProcessNode, job_id: str, tasks: dict[str, str], parties: int) -> float:
    """scikit-learn on the same split (the guest's split outputs give the ids)."""
    base = node.home / "data" / f"{job_id}-guest-0"
    train_ids, _, _ = read(base / f"{tasks['split_0']}-train_data" / "data_0")
    test_ids, _, _ = read(base / f"{tasks['split_0']}-test_data" / "data_0")
    tables = [read(node.home / "data" / "demo" / f"party{r}.csv") for r in range(parties)]
    ids = tables[0][0]
    x = np.hstack([t[1] for t in tables])
    y = tables[0][2]
    where = {key: i for i, key in enumerate(ids)}
    train = np.array([where[i] for i in train_ids])
    test = np.array([where[i] for i in test_ids])
    mean, std = x[train].mean(axis=0), x[train].std(axis=0)
    xs = (x - mean) / std
    l2 = float(PARAMS["l2"])
    model = LogisticRegression(C=1 / (len(train) * l2), max_iter=1000).fit(xs[train], y[train])
    return float(roc_auc_score(y[test], model.predict_proba(xs[test])[:, 1]))


@pytest.mark.parametrize("parties", [2, 3])
def test_he_lr_job_through_nodes_and_the_scheduler(tmp_path: Path, parties: int) -> None:
    split_table(tmp_path, parties)
    with ProcessCluster() as cluster:
        nodes = cluster.start(parties)
        cluster.connect_all()
        place_parties(nodes, tmp_path)
        job_id, tasks = run_to_success(nodes, pipeline(nodes), timeout_s=240)
        report_path = (
            nodes[0].home / "data" / f"{job_id}-guest-0" / f"{tasks['eval_0']}-report" / "data_0"
        )
        report = json.loads(report_path.read_text())
        auc = report["metrics"]["auc"]
        reference = sklearn_auc(nodes[0], job_id, tasks, parties)
        assert abs(auc - reference) <= 0.01, (auc, reference)
        # each party's model holds its own columns only; the intercept stays with the guest
        for rank, node in enumerate(nodes):
            role = "guest-0" if rank == 0 else f"host-{rank - 1}"
            path = node.home / "data" / f"{job_id}-{role}" / f"{tasks['lr_0']}-model" / "data_0"
            model = json.loads(path.read_text())
            expected = read(node.home / "data" / "demo" / f"party{rank}.csv")[1].shape[1]
            assert len(model["weights"]) == expected
            assert ("intercept" in model) == (rank == 0)
