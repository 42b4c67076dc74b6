"""The kit as a pytest plugin in another platform's CI: one item per check; a FAIL is a
failure with the reason, NOT_APPLICABLE a skip with the reason, ``-k`` selects checks,
``--conformance-out`` writes the signed reports. Run in a subprocess, as a CI would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from isthmus.conformance.signing import verify_report

CHECKS = """
from isthmus.conformance.model import Part
from isthmus.conformance.registry import Registry

registry = Registry()


@registry.check("lab.passes", title="Passes", part=Part.MANAGEMENT, section="§1.2", plan=["-"])
async def passes(ctx):
    ctx.note("fine")


@registry.check("lab.fails", title="Fails", part=Part.MANAGEMENT, section="§1.4", plan=["-"])
async def fails(ctx):
    ctx.fail("the envelope has no code field")


@registry.check("lab.na", title="N/A", part=Part.MANAGEMENT, section="§8", plan=["-"])
async def na(ctx):
    ctx.not_applicable("another signature scheme")


@registry.check("lab.psi", title="PSI", part=Part.PSI_LINK, section="§5.2", plan=["-"])
async def psi(ctx):
    raise AssertionError("not claimed, never run")


@registry.check("lab.broken", title="Broken", part=Part.MANAGEMENT, section="§1", plan=["-"])
async def broken(ctx):
    raise RuntimeError("kit bug")
"""

SRC = Path(__file__).resolve().parents[2] / "src"
#: Only our plugin: a CI's own plugins are not ours to load, and this keeps start-up short.
_ENV = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}


def _pytest(
    tmp_path: Path, *args: str, contract_id: str | None = "given-by-operator"
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "labchecks.py").write_text(CHECKS, encoding="utf-8")
    target = {
        "node_id": "PLATFORM_X",
        "address": "http://127.0.0.1:9",
        "claims": ["management"],
        **({"contract_id": contract_id} if contract_id else {}),
    }
    (tmp_path / "target.json").write_text(json.dumps(target), encoding="utf-8")
    env = {**_ENV, "PYTHONPATH": os.pathsep.join([str(SRC), str(tmp_path)])}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "isthmus.conformance.pytest_plugin",
            "-p",
            "no:cacheprovider",
            "--conformance-target",
            "target.json",
            "--conformance-checks",
            "labchecks:registry",
            "-rsfE",
            "-q",
            *args,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_one_item_per_check_with_the_reason(tmp_path: Path) -> None:
    result = _pytest(tmp_path, "--conformance-out", "out")
    output = result.stdout
    assert result.returncode == 1, output + result.stderr
    assert "2 failed, 1 passed, 2 skipped" in output
    assert "FAIL: §1.4 Fails: the envelope has no code field" in output
    assert "KIT ERROR: §1 Broken: the check raised RuntimeError: kit bug" in output
    assert "§8: another signature scheme" in output and "not claimed" in output
    verified = verify_report(tmp_path / "out" / "report.json")
    assert {r.check_id for r in verified.report.results} == {
        "lab.passes",
        "lab.fails",
        "lab.na",
        "lab.psi",
        "lab.broken",
    }


def test_k_selects_checks_and_only_those_run(tmp_path: Path) -> None:
    result = _pytest(tmp_path, "-k", "passes or na", "--conformance-out", "out")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed, 1 skipped, 3 deselected" in result.stdout
    report = verify_report(tmp_path / "out" / "report.json").report
    assert [r.check_id for r in report.results] == ["lab.passes", "lab.na"]


def test_a_failed_set_up_fails_the_checks_that_needed_it(tmp_path: Path) -> None:
    """No contract given and nobody answers the apply: the checks that passed or did not
    apply without it are kit errors naming the set-up, and the session fails."""
    result = _pytest(tmp_path, "-k", "passes or na", contract_id=None)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "2 failed, 3 deselected" in result.stdout
    assert "KIT ERROR: §1.2 Passes: the run's set-up failed (the target did not answer" in (
        result.stdout
    )
    assert "without it: not-applicable: another signature scheme" in result.stdout


def test_without_a_target_the_plugin_adds_nothing(tmp_path: Path) -> None:
    (tmp_path / "test_plain.py").write_text("def test_ok():\n    pass\n", encoding="utf-8")
    env = {**_ENV, "PYTHONPATH": str(SRC)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "isthmus.conformance.pytest_plugin",
            "-p",
            "no:cacheprovider",
            "-q",
            "test_plain.py",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 0 and "1 passed" in result.stdout, result.stdout
