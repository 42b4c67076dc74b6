"""Jobs the scheduler tests run: a PSI then data components, with parallel branches."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from isthmus.testing import ProcessNode
from isthmus.testing.jobs import offer_dataset


def write_dataset(node: ProcessNode, name: str, ids: list[int], extra: str) -> None:
    """A CSV in the node's task storage: ``id`` plus one column, rows in random order."""
    root = node.home / "data" / "demo"
    root.mkdir(parents=True, exist_ok=True)
    rows = [f"{i},{(i * 7) % 100}" for i in ids]
    random.Random(len(ids)).shuffle(rows)
    (root / name).write_text(f"id,{extra}\n" + "\n".join(rows) + "\n")


def offer(owner: ProcessNode, partner: ProcessNode, name: str) -> None:
    """``owner`` offers its ``demo/<name>`` to ``partner``'s jobs (a standing grant)."""
    offer_dataset(owner, partner, "demo", name)


def component(
    name: str, kind: str, inputs: list[tuple[str, str]], outputs: list[tuple[str, str]]
) -> dict[str, Any]:
    return {
        "name": name,
        "componentName": kind,
        "provider": "isthmus",
        "version": "0.1.0",
        "input": [{"key": k, "type": t} for k, t in inputs],
        "output": [{"key": k, "type": t} for k, t in outputs],
    }


def psi_pipeline(
    guest: str, host: str, *, sync_type: str = "poll", **common: Any
) -> dict[str, Any]:
    """psi_0 → (stats_0 ∥ split_0 → select_0): two branches after the PSI."""
    return {
        "flow_id": "flow-test",
        "dag": {
            "version": "2.0",
            "components": [
                component("psi_0", "ecdh_psi", [], [("train_data", "dataset")]),
                component("stats_0", "summary_stats", [("psi_0.train_data", "dataset")],
                          [("report", "report")]),
                component("split_0", "data_split", [("psi_0.train_data", "dataset")],
                          [("train_data", "training_set"), ("test_data", "test_set")]),
                component("select_0", "column_select", [("split_0.train_data", "training_set")],
                          [("data", "dataset")]),
            ],
        },
        "config": {
            "version": "2.0",
            "initiator": {"role": "guest", "node_id": guest},
            "role": {"guest": [guest], "host": [host]},
            "job_params": {"common": {"sync_type": sync_type, **common}},
            "task_params": {
                "common": {
                    "psi_0": {"field_names": "id", "recv_timeout_s": 60},
                    "split_0": {"key_field": "id", "test_ratio": 0.25},
                    "select_0": {"columns": "id"},
                },
                "guest": {"0": {"psi_0": {"namespace": "demo", "name": "guest.csv"}}},
                "host": {"0": {"psi_0": {"namespace": "demo", "name": "host.csv"}}},
            },
        },
    }  # fmt: skip


def output_rows(node: ProcessNode, job_id: str, role: str, task_id: str, key: str) -> list[str]:
    path = node.home / "data" / f"{job_id}-{role}-0" / f"{task_id}-{key}" / "data_0"
    return Path(path).read_text().splitlines()
