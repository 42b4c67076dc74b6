"""One way in: outside ``isthmus.transport`` nothing reaches the queue engine; the node
and its faces go through the ``TransportService`` facade.

Checked on the source (AST): the engine's class is named only by the composition root
(``node/context.py`` builds it and hands it to the facade and the forwarder), and no
module outside the package reads the facade's engine (``._queues``) or the engine under
its old public name (``<x>.transport.queues``).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "isthmus"
PACKAGE = SRC / "transport"
#: The composition root: it builds the engine.
BUILDS_THE_ENGINE = {SRC / "node" / "context.py"}


def _outside() -> list[Path]:
    return [p for p in SRC.rglob("*.py") if PACKAGE not in p.parents and "proto" not in p.parts]


def _reaches(path: Path, root: Path = SRC) -> list[str]:
    """Every way ``path`` reaches the engine, as ``file:line what``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        where = f"{path.relative_to(root)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Name | ast.alias) and "QueueEngine" in (
            getattr(node, "id", None),
            getattr(node, "name", None),
        ):
            if path not in BUILDS_THE_ENGINE:
                found.append(f"{where} names QueueEngine")
        elif isinstance(node, ast.Attribute) and node.attr == "_queues":
            found.append(f"{where} reads ._queues")
        elif (
            isinstance(node, ast.Attribute)
            and node.attr == "queues"
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "transport"
        ):
            found.append(f"{where} reads .transport.queues")
    return found


def test_nothing_outside_the_transport_reaches_the_queue_engine() -> None:
    files = _outside()
    assert len(files) > 50  # the walk found the sources
    reaching = [hit for path in files for hit in _reaches(path)]
    assert not reaching, reaching


def test_the_check_sees_a_way_around_the_facade(tmp_path: Path) -> None:
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text(
        "from isthmus.transport.queues import QueueEngine\n"
        "async def f(ctx):\n"
        "    await ctx.transport._queues.start()\n"
        "    await ctx.transport.queues.start()\n"
    )
    assert len(_reaches(sneaky, tmp_path)) == 3
