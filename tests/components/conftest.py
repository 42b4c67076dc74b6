"""A container environment as a BFIA platform would set it (digest §2.7)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def container_env(storage: Path, **overrides: str) -> dict[str, str]:
    env = {
        "system.storage": f"file://{storage}",
        "system.transport": "127.0.0.1:9",
        "config.self_role": "guest.0",
        "config.task_id": "job-1_column_select_1",
        "config.node_id.guest.0": "NODE_A",
        "config.node_id.host.0": "NODE_B",
        "config.inst_id.guest.0": "INST_A",
        "config.inst_id.host.0": "INST_B",
        "config.session_id": "session_job-1",
        "config.trace_id": "trace_job-1",
        "config.token": "secret-token",
        "config.log.path": str(storage / "logs"),
        "runtime.component.name": "column_select",
        "runtime.component.parameter.columns": "id,age",
        "runtime.component.input.data": json.dumps({"namespace": "ns", "name": "people"}),
        "runtime.component.output.data": json.dumps({"namespace": "job-1", "name": "selected"}),
    }
    env.update(overrides)
    return env


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    root = tmp_path / "storage"
    (root / "ns").mkdir(parents=True)
    (root / "ns" / "people").write_text("id,name,age\n1,ann,30\n2,bob,41\n", encoding="utf-8")
    return root
