"""The evaluate component in a job on a real node: the label holder alone runs it on its
scored table, the report and the plots land in the job's outputs, and ``isthmus job
output`` shows the report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from isthmus.testing import ProcessCluster, ProcessNode
from tests.components.test_evaluate import PLOTS, png_size

pytestmark = pytest.mark.multinode


def isthmus(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ISTHMUS_TOKEN", "ISTHMUS_HOME")}
    env["COLUMNS"] = "200"
    return subprocess.run(  # noqa: PLW1510 - the caller checks
        [sys.executable, "-m", "isthmus", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessNode]:
    with ProcessCluster(tmp_path_factory.mktemp("evaluate")) as cluster:
        yield cluster.add_node("BANK")


def test_a_job_evaluates_where_the_labels_are_and_shows_the_report(bank: ProcessNode) -> None:
    (bank.home / "data" / "demo").mkdir(parents=True, exist_ok=True)
    rows = [(i % 2, round(0.1 + 0.08 * i + 0.3 * (i % 2), 4)) for i in range(10)]
    (bank.home / "data" / "demo" / "scored.csv").write_text(
        "id,label,p\n" + "".join(f"u{i},{y},{p}\n" for i, (y, p) in enumerate(rows))
    )
    outputs = [{"key": "report", "type": "report"}] + [
        {"key": slot.removesuffix("_plot"), "type": "report"} for slot in PLOTS
    ]
    job: dict[str, Any] = {
        "dag": {"components": [
            {"name": "evaluate_0", "componentName": "evaluate", "provider": "isthmus",
             "version": "0.1.0", "input": [], "output": outputs},
        ]},
        "config": {
            "initiator": {"role": "guest", "node_id": "BANK"},
            "role": {"guest": ["BANK"]},
            "task_params": {
                "common": {"evaluate_0": {"label_col": "label", "score_col": "p"}},
                "guest": {"0": {"evaluate_0": {"namespace": "demo", "name": "scored.csv"}}},
            },
        },
    }  # fmt: skip
    path = bank.home / "evaluate-job.json"
    path.write_text(json.dumps(job))
    done = isthmus("job", "submit", "--home", str(bank.home), str(path))
    assert done.returncode == 0, done.stderr
    job_id = done.stderr.split("job ", 1)[1].split()[0]

    listed = isthmus("job", "output", "--home", str(bank.home), job_id, "--json")
    assert listed.returncode == 0, listed.stderr
    by_key = {o["key"]: o for o in json.loads(listed.stdout)}
    assert set(by_key) == {"report", "roc", "ks", "lift", "score"}
    report = by_key["report"]["preview"]
    assert report["kind"] == "json"
    document = report["document"]
    assert (document["rows"], document["positives"], document["negatives"]) == (10, 5, 5)
    assert document["metrics"]["auc"] == 0.88  # 22 of the 25 pairs in order, by hand
    assert document["metrics"]["log_loss"] is None  # a score above 1 is no probability
    assert document["plots"] == list(PLOTS)
    for key in ("roc", "ks", "lift", "score"):
        assert by_key[key]["published"], key
        assert png_size(Path(by_key[key]["path"], "data_0").read_bytes()) == (640, 480)

    shown = isthmus("job", "output", "--home", str(bank.home), job_id, "evaluate_0")
    assert shown.returncode == 0, shown.stderr
    assert '"auc": 0.88' in shown.stdout and '"ks_threshold"' in shown.stdout
    assert "png file" in shown.stdout  # each plot by its size and path
