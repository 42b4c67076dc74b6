"""Tests that read ``../shared/`` skip loudly when it is absent and run when it is there.

Each case runs the capture-reading tests in a child pytest with ``ISTHMUS_SHARED_DIR``
pointed at an empty folder or at the real directory, and reads its report: an absent
capture is a skip that names the file and the override (a failure in CI), never an error
about a missing file, and a present one is read, not skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.shared import REPO, SHARED_ENV, SKIP_PREFIX, shared_root, wire_capture

#: Every test that reads a wire capture (the FATE-Flow module starts nodes only if its
#: capture is there, so running it whole is cheap when the capture is absent).
READERS = [
    "tests/scheduler/test_fate_flow.py",
    "tests/wire/test_dag.py::test_fates_recorded_job_parses",
    "tests/link/test_keys_and_chunks.py::test_every_captured_secretflow_key_parses",
    "tests/link/test_keys_and_chunks.py::test_captured_chunks_describe_consistent_messages",
]
#: The readers that start no node, run for real when the captures are present.
LIGHT_READERS = READERS[1:]


def run_pytest(targets: list[str], shared: Path, *, ci: bool = False) -> str:
    """A child pytest over ``targets`` with the shared directory at ``shared``."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env[SHARED_ENV] = str(shared)
    if ci:
        env["CI"] = "1"
    command = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *targets]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    return result.stdout + result.stderr


def test_without_shared_every_capture_reader_skips_with_the_reason(tmp_path: Path) -> None:
    report = run_pytest(READERS, tmp_path / "no-shared")
    summary = report.strip().splitlines()[-1]
    assert "skipped" in summary, report
    assert "passed" not in summary and "failed" not in summary and "error" not in summary
    assert "FileNotFoundError" not in report
    assert SKIP_PREFIX in report and SHARED_ENV in report
    for capture in ("fate_flow_as_scheduler_calls_to_partner.json", "ecdh_psi_1k_rank0"):
        assert f"wire-captures/{capture}" in report, report


def test_without_shared_in_ci_a_capture_reader_fails(tmp_path: Path) -> None:
    report = run_pytest(READERS[1:2], tmp_path / "no-shared", ci=True)
    assert "1 failed" in report and "required in CI" in report, report


def test_with_shared_the_capture_readers_run() -> None:
    wire_capture("bfia_job_submitted_to_fate.json")  # skips loudly without ../shared
    report = run_pytest(LIGHT_READERS, shared_root())
    summary = report.strip().splitlines()[-1]
    assert "passed" in summary and "skipped" not in summary and "failed" not in summary, report


def test_the_override_names_the_shared_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SHARED_ENV, "/elsewhere/shared")
    assert shared_root() == Path("/elsewhere/shared")
    monkeypatch.delenv(SHARED_ENV)
    assert shared_root() == REPO.parent / "shared"
