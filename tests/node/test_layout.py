"""The node package keeps its shape: short functions, and every route in its plane's room.

Issue 13: no function in ``isthmus.node`` longer than about 60 lines (a longer one is
split into named steps), and "where is the route for X" has one answer: the module of
X's plane in ``isthmus.node.api``; the apps only assemble.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

import isthmus.node
from isthmus.node.admin_app import create_admin_app
from isthmus.node.config import load_config
from isthmus.node.context import NodeContext, build_context
from isthmus.node.home import init_home
from isthmus.node.interconn_app import create_interconn_app

MAX_FUNCTION_LINES = 60
NODE = Path(isthmus.node.__file__).parent


def _long_functions() -> list[str]:
    found = []
    for path in sorted(NODE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    where = path.relative_to(NODE.parent)
                    found.append(f"{where}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_function_in_node_is_longer_than_60_lines() -> None:
    assert _long_functions() == []


def _misplaced_routes(app: FastAPI) -> list[str]:
    """Every route of ``app`` whose handler is not in ``isthmus.node.api`` (routers the
    app includes are walked: ``iter_route_contexts`` yields the routes as served)."""
    docs = {app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url}
    misplaced = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            if context.path not in docs:  # FastAPI's own documentation routes
                misplaced.append(f"{context.path}: not an API route")
            continue
        module = route.endpoint.__module__
        if not module.startswith("isthmus.node.api."):
            misplaced.append(f"{sorted(route.methods)} {context.path}: {module}")
    return misplaced


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeContext]:
    home = init_home(tmp_path_factory.mktemp("layout") / "node", node_id="LAY", inst_id="LAY")
    ctx = build_context(load_config(home))
    yield ctx
    ctx.store.dispose()


@pytest.mark.parametrize("create", [create_interconn_app, create_admin_app])
def test_every_route_is_defined_in_its_plane_module(
    node: NodeContext, create: Callable[[NodeContext], FastAPI]
) -> None:
    app = create(node)
    assert len(list(iter_route_contexts(app.routes))) > 20
    assert _misplaced_routes(app) == []
