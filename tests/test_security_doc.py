"""docs/security.md stays true: every file it names exists, every function or class it
names is defined in that file, and every attack test in tests/security is listed."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "security.md").read_text()
SRC = ROOT / "src" / "isthmus"

# `file.py: name, Class.method` or `tests/x.py::test_name` inside backticks; a
# reference may wrap over lines.
REFERENCE = re.compile(r"`((?:tests/)?[\w/]+\.py)(?::\s*|::\s*)?([^`]*)`")


def resolve(path: str) -> Path:
    if path.startswith("tests/"):
        return ROOT / path
    return SRC / path


def references() -> list[tuple[str, list[str]]]:
    found = []
    for path, names in REFERENCE.findall(DOC):
        cleaned = [n.strip() for n in re.split(r"[,\s]+", names) if n.strip()]
        found.append((path, cleaned))
    return found


def test_every_named_file_exists() -> None:
    missing = sorted({p for p, _ in references() if not resolve(p).is_file()})
    assert not missing, missing


def test_every_named_function_is_defined_in_its_file() -> None:
    missing = []
    for path, names in references():
        file = resolve(path)
        if not file.is_file():
            continue
        text = file.read_text()
        for named in names:
            name = re.sub(r"\(.*", "", named).split("[")[0]
            if not re.fullmatch(r"[A-Za-z_][\w.]*", name):
                continue  # prose in backticks, e.g. a parenthesised note
            leaf = name.split(".")[-1]
            if not re.search(
                rf"(def|class)\s+{re.escape(leaf)}\b|^{re.escape(leaf)}\s*[:=]", text, re.M
            ):
                missing.append(f"{path}: {name}")
    assert not missing, missing


def test_every_attack_test_file_is_in_the_threat_model() -> None:
    files = sorted(p.name for p in (ROOT / "tests" / "security").glob("test_*.py"))
    assert files
    unlisted = [f for f in files if f"tests/security/{f}" not in DOC]
    assert not unlisted, unlisted
