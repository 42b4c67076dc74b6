"""docs/components.md's walk-through, followed to a custom component's successful job.

The test reads the page: each block marked ``<!-- file: PATH -->`` is either a file of
``examples/custom-component/`` (which must be identical, so the page cannot drift from
the package) or a file the reader writes (tables, the job), and each block marked
``<!-- run -->`` is run line by line, as typed, in a folder where ``bank`` and
``fintech`` are the two nodes' homes. Two things differ from a reader's machine, both
to keep the test fast and offline, neither changing what is tested:

* ``pip install`` gets ``--no-deps --no-build-isolation --target DIR``: the package is
  built by its real build backend and installed with its metadata (so the entry point
  is found exactly as in a venv), into a folder on the nodes' ``PYTHONPATH`` rather than
  into the shared venv, which other tests use. A fresh venv per run would cost a full
  install of Isthmus's dependencies for the same check.
* the partner's grant of its table (prose on the page, an approver's decision) is made
  by the harness's ``offer_dataset``.

Then ``isthmus job template`` for the same component, filled in, must be accepted and
succeed too.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from isthmus.testing import ProcessCluster
from isthmus.testing.jobs import offer_dataset

pytestmark = pytest.mark.multinode

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "components.md"
EXAMPLE = "examples/custom-component/"
_BLOCK = re.compile(r"<!-- (file: (?P<path>\S+)|run) -->\n```[a-z]*\n(?P<body>.*?)```", re.S)


def doc_blocks() -> tuple[dict[str, str], list[str]]:
    """The page's ``file:`` blocks (path -> text) and its ``run`` lines, in order."""
    files: dict[str, str] = {}
    commands: list[str] = []
    for match in _BLOCK.finditer(DOC.read_text(encoding="utf-8")):
        if match["path"]:
            files[match["path"]] = match["body"]
        else:
            commands += [line for line in match["body"].splitlines() if line.strip()]
    return files, commands


def test_the_page_shows_the_example_package_as_it_is() -> None:
    files, commands = doc_blocks()
    shown = {path for path in files if path.startswith(EXAMPLE)}
    assert shown == {EXAMPLE + "pyproject.toml", EXAMPLE + "src/row_filter/__init__.py"}
    for path in shown:
        assert files[path] == (REPO / path).read_text(encoding="utf-8"), path
    assert any(c.startswith("isthmus job submit") for c in commands)


def run(command: str, cwd: Path, env: dict[str, str], target: Path) -> str:
    """One line of a ``run`` block, as a shell would run it (``> FILE`` included)."""
    words = shlex.split(command)
    redirect = None
    if ">" in words:
        at = words.index(">")
        words, redirect = words[:at], words[at + 1]
    where = cwd
    if words[:2] == ["pip", "install"]:
        words = [sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                 "--no-build-isolation", "--target", str(target), *words[2:]]  # fmt: skip
        where = REPO  # the page's paths are the repository's
    elif words[0] == "python":
        words = [sys.executable, *words[1:]]
    elif words[0] == "isthmus":
        words = [sys.executable, "-m", "isthmus", *words[1:]]
    result = subprocess.run(
        words, cwd=where, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, f"{command} -> {result.returncode}\n{result.stderr}"
    if redirect is not None:
        (cwd / redirect).write_text(result.stdout, encoding="utf-8")
    return result.stdout + result.stderr


def output_rows(home: Path, job_id: str, role: str, task_id: str) -> list[str]:
    return (
        (home / "data" / f"{job_id}-{role}-0" / f"{task_id}-data" / "data_0")
        .read_text(encoding="utf-8")
        .splitlines()
    )


def job_id_of(printed: str) -> str:
    found = re.search(r"job (\S+) submitted", printed)
    assert found, printed
    return found.group(1)


def task_id_of(home: Path, env: dict[str, str], job_id: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "isthmus", "job", "status", "--home", str(home), job_id, "--json"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    tasks: list[dict[str, Any]] = json.loads(result.stdout)["tasks"]
    assert [t["status"] for t in tasks] == ["SUCCESS"], tasks
    return str(tasks[0]["task_id"])


def test_the_walkthrough_runs_a_custom_component_on_two_nodes(tmp_path: Path) -> None:
    files, commands = doc_blocks()
    target = tmp_path / "site"  # where `pip install` puts the package (see the docstring)
    target.mkdir()
    paths = [str(target), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    # COLUMNS: a wide terminal's, so rich prints table cells unwrapped for the asserts.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "COLUMNS": "200"}
    work = tmp_path / "work"
    work.mkdir()
    with ProcessCluster(tmp_path / "homes", env={"PYTHONPATH": env["PYTHONPATH"]}) as cluster:
        with cluster.together():
            bank, fintech = cluster.add_node("BANK"), cluster.add_node("FINTECH")
        (work / "bank").symlink_to(bank.home)
        (work / "fintech").symlink_to(fintech.home)
        cluster.connect(bank, fintech)
        for path, text in files.items():
            if not path.startswith(EXAMPLE):
                (work / path).parent.mkdir(parents=True, exist_ok=True)
                (work / path).write_text(text, encoding="utf-8")
        offer_dataset(fintech, bank, "demo", "loans.csv")

        printed = {command: run(command, work, env, target) for command in commands}

        described = json.loads((work / "components.json").read_text(encoding="utf-8"))
        assert "row_filter" in [d["componentName"] for d in described]
        shown = printed["isthmus component show --home bank row_filter"]
        for expected in ("row_filter 1.0.0 (my-bank) ENABLED", "guest, host", "threshold",
                         "(-inf,inf)", "one of above, below", "the rows kept"):  # fmt: skip
            assert expected in shown, expected
        submitted = printed["isthmus job submit --home bank row-filter-job.json"]
        job_id = job_id_of(submitted)
        task_id = task_id_of(bank.home, env, job_id)
        assert output_rows(bank.home, job_id, "guest", task_id) == ["id,balance", "2,150", "3,100"]
        assert output_rows(fintech.home, job_id, "host", task_id) == ["id,balance", "7,400"]

        # `job template`, filled in, is a job the node accepts and runs.
        run("isthmus job template --home bank --component row_filter -o job.json", work, env,
            target)  # fmt: skip
        template = json.loads((work / "job.json").read_text(encoding="utf-8"))
        assert any(
            "row_filter_0.threshold (float, required" in line for line in template["_comment"]
        )
        job = json.dumps({k: v for k, v in template.items() if k != "_comment"})
        fills = sorted(set(re.findall(r"<fill: [^>]*>", job)))
        text = json.dumps(template)  # with its _comment, which the node must ignore
        values = {
            "the partner's node id": "FINTECH",
            "the folder of the table": "demo",
            "the guest's table": "accounts.csv",
            "the host's table": "loans.csv",
            "the numeric column": "balance",
            "the value compared with": "120",
        }
        for fill in fills:
            value = next((v for k, v in values.items() if fill.startswith(f"<fill: {k}")), None)
            assert value is not None, f"unexpected placeholder {fill}"
            text = text.replace(json.dumps(fill)[1:-1], value)
        (work / "job.json").write_text(text, encoding="utf-8")
        done = run("isthmus job submit --home bank job.json", work, env, target)
        second = job_id_of(done)
        task = task_id_of(bank.home, env, second)
        assert output_rows(bank.home, second, "guest", task) == ["id,balance", "2,150"]


def test_register_refuses_what_is_not_a_self_description_before_calling(tmp_path: Path) -> None:
    """Checked on the operator's machine, naming the element: the node is never called
    (its home exists, the node is not running)."""
    bad = tmp_path / "bad.json"
    bad.write_text('[{"componentName": "x"}, 3]', encoding="utf-8")
    home = tmp_path / "idle"
    subprocess.run(
        [sys.executable, "-m", "isthmus", "init", "--home", str(home), "--node-id", "IDLE",
         "--inst-id", "X"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "isthmus", "component", "register", "--home", str(home),
         str(bad)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    said = " ".join(result.stderr.split())  # rich wraps long lines
    assert f"{bad}[1]: a self-description is a JSON object" in said
