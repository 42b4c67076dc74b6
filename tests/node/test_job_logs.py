"""A job's log lines, as a bank's log pipeline reads them, on a real node.

Every line the node writes while handling a job names the job (and its task, ``null``
for a line about the job as a whole); the task's own log (the component container's)
names both on every line; at INFO there is no per-request client chatter, no terminal
colour and no line written twice.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from isthmus.testing import ProcessCluster
from isthmus.testing.jobs import status, submit, wait_finished
from isthmus.wire import paths

pytestmark = pytest.mark.multinode

CHATTY = ("httpx", "httpcore", "uvicorn.access")


def one_party_job(node_id: str) -> dict[str, Any]:
    return {
        "dag": {"components": [
            {"name": "select_0", "componentName": "column_select", "provider": "isthmus",
             "version": "0.1.0", "input": [], "output": [{"key": "data", "type": "dataset"}]},
        ]},
        "config": {
            "initiator": {"role": "guest", "node_id": node_id},
            "role": {"guest": [node_id]},
            "task_params": {
                "common": {"select_0": {"columns": "balance"}},
                "guest": {"0": {"select_0": {"namespace": "demo", "name": "accounts.csv"}}},
            },
        },
    }  # fmt: skip


def test_every_line_of_a_job_names_it_and_the_log_is_clean(tmp_path: Path) -> None:
    with ProcessCluster(tmp_path) as cluster:
        node = cluster.add_node("BANK")
        (node.home / "data" / "demo").mkdir(parents=True, exist_ok=True)
        (node.home / "data" / "demo" / "accounts.csv").write_text("id,balance\n1,10\n2,20\n")
        job_id = submit(node, one_party_job(node.node_id))
        assert wait_finished(node, job_id)["result"] == "SUCCESS"
        task_id = status(node, job_id)["tasks"][0]["task_id"]
        task_log = str(node.admin.get(paths.PLATFORM_TASK_LOG, task_id=task_id, log_level="info"))
        node.stop()
        raw = node.log_path.read_bytes()

    assert b"\x1b" not in raw, "terminal colour codes in the log file"
    lines = raw.decode("utf-8").splitlines()
    twice = [line for line, n in Counter(lines).items() if n > 1]
    assert not twice, twice[:3]
    entries = [json.loads(line) for line in lines if line.startswith("{")]
    assert entries and len(entries) == len([line for line in lines if line.strip()])
    assert not [e for e in entries if e["logger"].startswith(CHATTY) and e["level"] == "INFO"]
    assert not [e for e in entries if "/readyz" in e["msg"]], "a probe poll logged at INFO"
    about_job = [e for e in entries if job_id in e["msg"] or task_id in e["msg"]]
    assert len(about_job) >= 3  # created, the task started and ended, the job finished
    for entry in about_job:
        assert entry.get("job_id") == job_id, entry
        assert "task_id" in entry, entry
    about_task = [e for e in about_job if task_id in e["msg"]]
    assert about_task and all(e["task_id"] == task_id for e in about_task)

    container = [line for line in task_log.splitlines() if " INFO " in line]
    assert container, task_log
    for line in container:
        assert f"job_id={job_id} task_id={task_id} " in line, line
