"""The evaluate component through the container contract (``python -m
isthmus.components`` with a one-party task's environment): the JSON report, the PNGs a
job asks for, a report without plots when matplotlib is absent, and clear refusals."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

import isthmus
from tests.components.conftest import container_env

SRC = str(Path(isthmus.__file__).resolve().parents[1])
PLOTS = ("roc_plot", "ks_plot", "lift_plot", "score_plot")
SCORED = "id,y,score\n1,1,0.9\n2,0,0.8\n3,1,0.4\n4,0,0.1\n"


def run(env: dict[str, str], *extra_path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "isthmus.components"],
        env={**env, "PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join([*extra_path, SRC])},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def evaluate_env(
    storage: Path, outputs: tuple[str, ...] = ("report", *PLOTS), **params: str
) -> dict[str, str]:
    env = container_env(
        storage,
        **{
            "runtime.component.name": "evaluate",
            "config.task_id": "job-1_evaluate_0",
            "runtime.component.input.data": json.dumps({"namespace": "ns", "name": "scored"}),
            **{
                f"runtime.component.output.{slot}": json.dumps({"namespace": "o", "name": slot})
                for slot in outputs
            },
            **{f"runtime.component.parameter.{k}": v for k, v in params.items()},
        },
    )
    del env["runtime.component.output.data"], env["runtime.component.parameter.columns"]
    return env


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR, after checking the signature, the IHDR's
    CRC and that the file ends with IEND."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    body = data[16 : 16 + length]
    (crc,) = struct.unpack(">I", data[16 + length : 20 + length])
    assert crc == zlib.crc32(kind + body)
    assert data[-12:] == struct.pack(">I4sI", 0, b"IEND", zlib.crc32(b"IEND"))
    width, height = struct.unpack(">II", body[:8])
    return width, height


def test_a_binary_evaluation_writes_the_report_and_four_plots(storage: Path) -> None:
    (storage / "ns" / "scored").write_text(SCORED)
    done = run(evaluate_env(storage))
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((storage / "o" / "report" / "data_0").read_text())
    assert (report["rows"], report["positives"], report["negatives"]) == (4, 2, 2)
    assert report["threshold"] == 0.5 and report["positive_label"] == "1"
    assert report["metrics"]["auc"] == 0.75 and report["metrics"]["ks"] == 0.5
    assert report["metrics"]["f1"] == 0.5
    assert report["curves"]["roc"]["tpr"] == [0.0, 0.5, 0.5, 1.0, 1.0]
    assert report["plots"] == list(PLOTS)
    assert json.loads((storage / "o" / "report" / "metadata").read_text())["file_type"] == "json"
    for slot in PLOTS:
        image = (storage / "o" / slot / "data_0").read_bytes()
        assert png_size(image) == (640, 480), slot
        assert 10_000 < len(image) < 500_000, slot  # a drawn picture, not an empty canvas
        assert json.loads((storage / "o" / slot / "metadata").read_text())["file_type"] == "png"
    assert "0.8" not in done.stdout + done.stderr  # no row's score in the log


def test_only_the_outputs_a_job_declares_are_written(storage: Path) -> None:
    (storage / "ns" / "scored").write_text("y,p\n1.0,0.7\n0.0,0.2\n0.0,0.6\n")
    env = evaluate_env(storage, ("report", "roc_plot"), label_col="y", score_col="p")
    done = run(env)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((storage / "o" / "report" / "data_0").read_text())
    assert report["plots"] == ["roc_plot"] and report["metrics"]["auc"] == 1.0
    assert report["positives"] == 1  # "1.0" is the positive label 1
    assert not (storage / "o" / "ks_plot").exists()


def test_without_matplotlib_the_report_is_written_with_a_warning(
    storage: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "no-matplotlib" / "matplotlib"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('not in this image')\n")
    (storage / "ns" / "scored").write_text(SCORED)
    done = run(evaluate_env(storage), str(blocker.parent))
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((storage / "o" / "report" / "data_0").read_text())
    assert report["plots"] == [] and "isthmus[plots]" in report["plots_skipped"]
    assert report["metrics"]["auc"] == 0.75
    assert "no plots" in done.stdout + done.stderr
    assert not (storage / "o" / "roc_plot").exists()


def test_a_regression_evaluation_reports_its_metrics_and_draws_nothing(storage: Path) -> None:
    (storage / "ns" / "scored").write_text("y,score\n1,1\n2,2\n3,5\n")
    done = run(evaluate_env(storage, task_type="regression"))
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((storage / "o" / "report" / "data_0").read_text())
    assert report["metrics"]["mse"] == pytest.approx(4 / 3) and report["metrics"]["r2"] == -1.0
    assert report["plots"] == [] and not (storage / "o" / "roc_plot").exists()


@pytest.mark.parametrize(
    ("table", "params", "message"),
    [
        ("y,score\n1,0.9\n1,0.3\n", {}, "parameter 'label_col': column 'y': every one of the 2"),
        ("y,score\n1,0.9\n0,nan\n", {}, "parameter 'score_col': column 'score': 1 values are NaN"),
        ("y,score\n1,0.9\n0,\n", {}, "parameter 'score_col': column 'score': row 2 is not a"),
        (
            "y,score\n1,0.9\n0,0.1\n2,0.5\n",
            {},
            "column 'y' has more than 2 distinct values (a third at row 3)",
        ),
        ("y,s\n1,0.9\n0,0.1\n", {}, "parameter 'score_col': 'score' is not a column"),
        ("y,score\n1,0.9\n0,0.1\n", {"task_type": "multi"}, "parameter 'task_type'"),
    ],
)
def test_data_that_cannot_be_evaluated_is_refused_naming_the_field(
    storage: Path, table: str, params: dict[str, str], message: str
) -> None:
    (storage / "ns" / "scored").write_text(table)
    done = run(evaluate_env(storage, **params))
    assert done.returncode == 65, done.stdout + done.stderr
    assert message in done.stdout
    assert not (storage / "o" / "report").exists()
