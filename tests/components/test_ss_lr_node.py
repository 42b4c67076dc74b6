"""SS-LR through real Isthmus nodes and the scheduler, Isthmus<->Isthmus: one cluster of
three nodes for the whole module; a 2-party and a 3-party job (200 synthetic rows, six
features split over the parties): data_split by key, ss_lr with the dealer-free HE
triples or with the Beaver service of the third node (2 and 3 parties each),
ss_lr_predict, evaluate. The label owner's AUC equals that of the plaintext
fixed-point schedule (``train.plaintext_reference``) on the same split; each party's
model holds only its own features' weights, the bias only on the label owner."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from isthmus.components.builtin.ss_lr.plan import TrainPlan
from isthmus.components.builtin.ss_lr.train import plaintext_reference
from isthmus.testing import ProcessCluster, ProcessNode, free_port
from isthmus.testing.jobs import offer_dataset
from tests.support.vertical import GEN, model_job, run_to_success

pytestmark = pytest.mark.multinode
PARAMS = {"label_owner": "guest.0", "label_col": "y", "num_epoch": 2, "batch_size": 50,
          "learning_rate": 0.5, "l2_norm": 0.01, "key_bits": 1024,
          "allow_insecure_key_size": True, "recv_timeout_s": 120}  # fmt: skip


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ProcessNode]]:
    source = tmp_path_factory.mktemp("ss_lr")
    for parties in (2, 3):
        subprocess.run(
            [sys.executable, str(GEN), "--out-dir", str(source), "--parties", str(parties),
             "--source", "synthetic", "--rows", "200", "--features", "6", "--seed", "5",
             "--prefix", f"p{parties}_party"],
            check=True, capture_output=True,
        )  # fmt: skip
    # Every node serves the Beaver service (on its east-west gRPC port); the TTP jobs use
    # NODE_C's: a node that computes nothing in the 2-party job, and a party of the 3-party
    # one (in a test the third party may be trusted; in production it is another operator).
    with ProcessCluster(env={"ISTHMUS_BEAVER__ENABLED": "true"}) as running:
        nodes = [running.add_node(interconn_grpc_port=free_port()) for _ in range(3)]
        running.connect_all()
        for rank, node in enumerate(nodes):
            demo = node.home / "data" / "demo"
            demo.mkdir(parents=True, exist_ok=True)
            for path in source.glob("p*_party*.csv"):
                (demo / path.name).write_bytes(path.read_bytes())
            for parties in (2, 3):
                if 0 < rank < parties:
                    offer_dataset(node, nodes[0], "demo", f"p{parties}_party{rank}.csv")
        yield nodes


def pipeline(nodes: list[ProcessNode], lr_params: dict[str, Any]) -> dict[str, Any]:
    return model_job(
        nodes, model=("lr_0", "ss_lr"),
        train_outputs=[("model", "model"), ("weights_share", "model")],
        predict=("predict_0", "ss_lr_predict"), train_params=lr_params,
        predict_params={"recv_timeout_s": 120}, file_prefix=f"p{len(nodes)}_party",
    )  # fmt: skip


def table(path: Path) -> tuple[list[str], np.ndarray, np.ndarray | None]:
    with path.open() as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    cols = [i for i, c in enumerate(header) if c.startswith("f")]
    ids = [r[0] for r in rows[1:]]
    x = np.array([[float(r[i]) for i in cols] for r in rows[1:]])
    y = np.array([float(r[1]) for r in rows[1:]]) if "y" in header else None
    return ids, x, y


def reference_auc(node: ProcessNode, job_id: str, tasks: dict[str, str], n: int) -> float:
    base = node.home / "data" / f"{job_id}-guest-0"
    train_ids = sorted(table(base / f"{tasks['split_0']}-train_data" / "data_0")[0])
    test_ids = table(base / f"{tasks['split_0']}-test_data" / "data_0")[0]
    parts = [table(node.home / "data" / "demo" / f"p{n}_party{r}.csv") for r in range(n)]
    where = {key: i for i, key in enumerate(parts[0][0])}
    x = np.hstack([p[1] for p in parts])
    y = parts[0][2]
    assert y is not None
    train = np.array([where[i] for i in train_ids])  # id order, as every party sorts
    test = np.array([where[i] for i in test_ids])
    plan = TrainPlan(2, 50, 0.5, 0.01, tuple(p[1].shape[1] for p in parts), 0)
    w = plaintext_reference(x[train], y[train], plan, 18).reshape(-1)
    return float(roc_auc_score(y[test], x[test] @ w[:-1] + w[-1]))


@pytest.mark.parametrize(("parties", "triples"), [(2, "he"), (3, "he"), (2, "ttp"), (3, "ttp")])
def test_ss_lr_job_through_nodes_and_the_scheduler(
    cluster: list[ProcessNode], parties: int, triples: str
) -> None:
    nodes = cluster[:parties]
    params = dict(PARAMS)
    if triples == "ttp":
        beaver = cluster[2].config.interconn
        params.update(use_ttp=True, ttp_server_host=f"{beaver.host}:{beaver.grpc_port}",
                      ttp_adjust_rank=1)  # fmt: skip
    job_id, tasks = run_to_success(nodes, pipeline(nodes, params), timeout_s=300)
    report_path = (
        nodes[0].home / "data" / f"{job_id}-guest-0" / f"{tasks['eval_0']}-report" / "data_0"
    )
    auc = json.loads(report_path.read_text())["metrics"]["auc"]
    reference = reference_auc(nodes[0], job_id, tasks, parties)
    assert auc > 0.7 and abs(auc - reference) <= 0.01, (auc, reference)
    for rank, node in enumerate(nodes):
        role = "guest-0" if rank == 0 else f"host-{rank - 1}"
        out = node.home / "data" / f"{job_id}-{role}"
        model = json.loads((out / f"{tasks['lr_0']}-model" / "data_0").read_text())
        own = table(node.home / "data" / "demo" / f"p{parties}_party{rank}.csv")[1].shape[1]
        assert len(model["weights"]) == own and model["all_weights"] is None
        assert (model["bias"] is not None) == (rank == 0)
        share = (out / f"{tasks['lr_0']}-weights_share" / "data_0").read_text().split()
        assert len(share) == sum(model["feature_nums"]) + 1
        assert model["plan"]["triples"] == triples
