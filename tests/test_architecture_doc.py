"""docs/architecture.md stays true (issue 13): its "where things live" table names every
package of ``src/isthmus`` and nothing that is not there; every ``isthmus.…`` name and
every source file the page mentions (pictures included) exists; and the test folders it
lists are exactly the folders of ``tests/``."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "architecture.md").read_text()
SRC = ROOT / "src"
PACKAGE_ROOT = SRC / "isthmus"


def section(title: str) -> str:
    """The text under ``## <title>`` up to the next second-level heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", DOC, re.M | re.S)
    assert match, f"docs/architecture.md has no section '## {title}'"
    return match.group(1)


def packages() -> set[str]:
    return {
        ".".join(init.parent.relative_to(SRC).parts)
        for init in PACKAGE_ROOT.rglob("__init__.py")
        if "__pycache__" not in init.parts
    }


def module_file(dotted: str) -> Path | None:
    base = SRC.joinpath(*dotted.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def resolves(dotted: str) -> bool:
    """A module or package, or a name defined (or re-exported) in the longest module
    prefix of ``dotted``."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        found = module_file(".".join(parts[:cut]))
        if found is None:
            continue
        rest = parts[cut:]
        if not rest:
            return True
        leaf = rest[-1]
        text = found.read_text()
        defined = rf"(def|class)\s+{re.escape(leaf)}\b|^\s*{re.escape(leaf)}\s*[:=]"
        return bool(re.search(defined, text, re.M) or re.search(rf"\b{leaf}\b", text))
    return False


def test_the_table_names_every_package() -> None:
    named = set(re.findall(r"`(isthmus(?:\.\w+)*)`", section("Where things live")))
    missing = sorted(packages() - named)
    assert not missing, f"packages absent from 'Where things live': {missing}"


def test_every_isthmus_name_on_the_page_exists() -> None:
    names = set(re.findall(r"`(isthmus(?:\.\w+)+)`", DOC))
    missing = sorted(n for n in names if not resolves(n))
    assert not missing, f"docs/architecture.md names what does not exist: {missing}"


def test_every_source_file_on_the_page_exists() -> None:
    # `pkg/module.py` in prose and tables, and in the pictures (code blocks).
    paths = set(re.findall(r"(?<![\w/.-])((?:[a-z_]+/)+[a-z_0-9]+\.py)\b", DOC))
    assert paths, "the page names no source file: the pattern is broken"
    missing = sorted(
        p for p in paths if not (PACKAGE_ROOT / p).is_file() and not (ROOT / p).is_file()
    )
    assert not missing, f"docs/architecture.md names files that do not exist: {missing}"


def test_the_pictures_show_a_job_and_a_message() -> None:
    for title in ("One job's path", "One message's path"):
        picture = re.search(r"```\n(.*?)```", section(title), re.S)
        assert picture, f"'{title}' has no picture"
        assert len(re.findall(r"\w+/\w+\.py", picture.group(1))) >= 5, title


def test_the_listed_test_folders_are_the_test_folders() -> None:
    listed = set(re.findall(r"`tests/(\w+)`", section("Testing architecture")))
    actual = {
        d.name
        for d in (ROOT / "tests").iterdir()
        if d.is_dir() and d.name != "__pycache__" and any(d.glob("*.py"))
    }
    assert listed == actual, {"not listed": actual - listed, "not there": listed - actual}
