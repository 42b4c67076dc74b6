"""Vertically split jobs through real nodes: the breast-cancer table of
``../shared/peers/gen_sgb_data.py`` cut into one CSV per party, every node holding the
files, each host offering its own to the initiator, and one job run to success.

Shared by the model tests (``test_he_lr_node``, ``test_sgb_node``,
``test_sgb_ec_elgamal_node``, ``test_ss_lr_node``), which differ only in their model
components, its parameters and what they check."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from isthmus.testing import ProcessNode
from isthmus.testing.jobs import offer_dataset, submit, wait_finished
from tests.scheduler.jobs_support import component
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


def model_job(
    nodes: list[ProcessNode],
    *,
    model: tuple[str, str],
    train_outputs: list[tuple[str, str]],
    predict: tuple[str, str],
    train_params: dict[str, Any],
    predict_params: dict[str, Any],
    file_prefix: str = "party",
) -> dict[str, Any]:
    """The job every model test runs: ``split_0`` (data_split by key) → the model's
    training task → its predict task on the test split → ``eval_0`` (evaluate).
    ``model`` and ``predict`` are (task name, component); the predict task's output is
    named after the predict component's (``result`` or ``predictions``); each party reads
    ``demo/<file_prefix><rank>.csv``."""
    (train_task, train_component), (predict_task, predict_component) = model, predict
    scored = "predictions" if predict_component == "sgb_predict" else "result"
    guest, hosts = nodes[0].node_id, [n.node_id for n in nodes[1:]]
    datasets: dict[str, Any] = {
        "guest": {"0": {"split_0": {"namespace": "demo", "name": f"{file_prefix}0.csv"}}},
        "host": {
            str(i): {"split_0": {"namespace": "demo", "name": f"{file_prefix}{i + 1}.csv"}}
            for i in range(len(hosts))
        },
    }
    return {
        "flow_id": f"flow-{train_component.replace('_', '-')}",
        "dag": {"version": "2.0", "components": [
            component("split_0", "data_split", [],
                      [("train_data", "training_set"), ("test_data", "test_set")]),
            component(train_task, train_component, [("split_0.train_data", "training_set")],
                      train_outputs),
            component(predict_task, predict_component,
                      [(f"{train_task}.model", "model"), ("split_0.test_data", "test_set")],
                      [(scored, "dataset")]),
            component("eval_0", "evaluate", [(f"{predict_task}.{scored}", "dataset")],
                      [("report", "report")]),
        ]},
        "config": {
            "version": "2.0",
            "initiator": {"role": "guest", "node_id": guest},
            "role": {"guest": [guest], "host": hosts},
            "job_params": {"common": {"sync_type": "poll"}},
            "task_params": {
                "common": {
                    "split_0": {"key_field": "id", "test_ratio": 0.25, "seed": 3},
                    train_task: train_params,
                    predict_task: predict_params,
                    "eval_0": {"label_col": "y", "score_col": "score"},
                },
                **datasets,
            },
        },
    }  # fmt: skip
