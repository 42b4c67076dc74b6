"""What every CLI command shares: the consoles, the --home and --json options, and the
admin API client (the node's root token, or the caller's own in ``ISTHMUS_TOKEN``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from isthmus.node.admin_client import AdminClient
from isthmus.wire.errors import IsthmusError

out = Console()
err = Console(stderr=True)

Home = Annotated[
    Path, typer.Option("--home", "-H", envvar="ISTHMUS_HOME", help="The node's home directory.")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def _emit(data: Any, as_json: bool, render: Any = None) -> None:
    if as_json or render is None:
        out.print_json(json.dumps(data, default=str))
    else:
        render(data)


def _client(home: Path) -> AdminClient:
    """Root by default; a person or automation with a token of its own sets
    ``ISTHMUS_TOKEN``, and the node knows who acted."""
    try:
        client = AdminClient.for_home(home)
    except IsthmusError as exc:
        raise _fail(exc.message, 2) from exc
    token = os.environ.get("ISTHMUS_TOKEN")
    if token:
        base = client.base_url
        client.close()
        return AdminClient(base, token)
    return client


def _call(
    home: Path, method: str, path: str, body: dict[str, Any] | None = None, **params: Any
) -> Any:
    with _client(home) as client:
        try:
            if method == "GET":
                return client.get(path, **params)
            return client.post(path, body)
        except IsthmusError as exc:
            raise _fail(exc.message) from exc


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    out.print(table)
