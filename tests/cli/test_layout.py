"""The CLI's rooms stay as they are: one module per command group, ``main`` only
assembles them, and no module spells an HTTP path (they all come from ``wire.paths``)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import isthmus.cli
from isthmus.cli.main import app

GROUPS = (
    "node", "peer", "job", "component", "audit", "dataset", "approval", "token", "operate", "tee",
    "conformance",
)  # fmt: skip
CLI = Path(isthmus.cli.__file__).parent


def test_every_group_is_its_own_module_and_main_adds_it() -> None:
    added = {group.name: group.typer_instance for group in app.registered_groups}
    assert sorted(added) == sorted(GROUPS)
    for group in GROUPS:
        module = importlib.import_module(f"isthmus.cli.{group}")
        assert added[group] is getattr(module, f"{group}_app")


def test_main_only_assembles() -> None:
    tree = ast.parse((CLI / "main.py").read_text(encoding="utf-8"))
    functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert functions == ["main"]
    commands = [c.callback.__module__ for c in app.registered_commands if c.callback]
    assert commands and all(m != "isthmus.cli.main" for m in commands)


def test_no_cli_module_spells_an_http_path() -> None:
    spelled = [
        f"{path.name}:{node.lineno}: {node.value}"
        for path in sorted(CLI.glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.startswith("/")
        and " " not in node.value
    ]
    assert spelled == []
