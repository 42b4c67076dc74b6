"""What every CLI command group shares: the consoles, the --home and --json options, the
admin API client (the node's root token, or the caller's own in ``ISTHMUS_TOKEN``), and
the printing of results (a table, or one JSON document with ``--json``).

Exit codes are decided here for every group: ``fail`` gives 1 when the node or a partner
refused or failed, 2 for bad usage."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from isthmus.node.admin_client import AdminClient
from isthmus.node.config import CONFIG_FILE
from isthmus.wire.errors import IsthmusError

#: Messages are never wrapped by us (``soft_wrap``): an id in one is pasted whole.
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
_UNBOUNDED = 100_000
#: The width below which a wrapping column is not squeezed to keep the ids whole.
_NARROWEST = 4

#: Only ``init`` makes a home; every other command needs one that exists.
MAKES_A_HOME = frozenset({"init"})


def existing_home(ctx: typer.Context, home: Path) -> Path:
    """Refuse (exit 2) a ``--home`` with no node in it before anything else runs: a
    mistyped path must not read as "this node has no identity yet", so the message says
    to check the path and that ``init`` would make a NEW node, with a new identity."""
    if ctx.resilient_parsing or ctx.info_name in MAKES_A_HOME:
        return home
    if not (home.expanduser() / CONFIG_FILE).is_file():
        shown = home.expanduser()
        raise fail(
            f"no node home at {shown} (no {CONFIG_FILE} there): check the path, or "
            f"ISTHMUS_HOME. `isthmus init --home {shown}` would create a NEW node with a new "
            "identity, which partners do not know; it does not find an existing one.",
            2,
        )
    return home


Home = Annotated[
    Path,
    typer.Option(
        "--home",
        "-H",
        envvar="ISTHMUS_HOME",
        help="The node's home directory.",
        callback=existing_home,
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


#: How every error line starts (``node start --detach`` finds its child's by it).
ERROR_PREFIX = "error: "


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: MESSAGE`` on stderr as one line (never wrapped at the terminal's
    width, never read as markup) and return the exit to raise."""
    err.print(f"[bold red]{ERROR_PREFIX.strip()}[/] ", end="")
    err.print(message, highlight=False, markup=False, soft_wrap=True)
    return typer.Exit(code)


def emit(data: Any, as_json: bool, render: Any = None) -> None:
    if as_json or render is None:
        out.print_json(json.dumps(data, default=str))
    else:
        render(data)


def open_client(home: Path) -> AdminClient:
    """Root by default; a person or automation with a token of its own sets
    ``ISTHMUS_TOKEN``, and the node knows who acted."""
    try:
        client = AdminClient.for_home(home)
    except IsthmusError as exc:
        raise fail(exc.message, 2) from exc
    token = os.environ.get("ISTHMUS_TOKEN")
    if token:
        base = client.base_url
        client.close()
        return AdminClient(base, token)
    return client


def call(
    home: Path, method: str, path: str, body: dict[str, Any] | None = None, **params: Any
) -> Any:
    """One admin call: a GET with ``params`` or a POST of ``body``. A refusal or failure
    is printed and exits 1; the node's answer (its envelope's data) is returned."""
    with open_client(home) as client:
        try:
            if method == "GET":
                return client.get(path, **params)
            return client.post(path, body)
        except IsthmusError as exc:
            raise fail(exc.message) from exc


def print_table(
    title: str, columns: list[str], rows: list[list[Any]], *, ids: tuple[str, ...] = ()
) -> None:
    """A titled table on stdout; ``None`` cells print empty.

    Nothing is ever cut short with an ellipsis or cropped: an id is only useful whole (it
    is pasted into the next command). On a terminal the table fits its width: the columns
    named in ``ids`` keep their values on one line while the others wrap around them,
    and fold only if the terminal cannot fit even them. Into a pipe or a file, where
    there is no width to fit, the table is printed at its natural width."""
    cells = [["" if v is None else str(v) for v in row] for row in rows]
    whole = {
        index: max([len(column), *(len(row[index]) for row in cells)])
        for index, column in enumerate(columns)
        if column in ids
    }
    # Room for the ids whole, a few characters for every other cell, and the borders?
    needed = sum(whole.values()) + _NARROWEST * (len(columns) - len(whole)) + 3 * len(columns)
    keep = not out.is_terminal or needed < out.width
    table = Table(title=title, show_lines=False)
    for index, column in enumerate(columns):
        kept = keep and index in whole  # never collapsed by rich, so never cropped either
        table.add_column(
            column, overflow="fold", no_wrap=kept, min_width=whole[index] if kept else None
        )
    for row in cells:
        table.add_row(*row)
    if out.is_terminal:
        out.print(table)
        return
    natural = Measurement.get(out, out.options.update_width(_UNBOUNDED), table).maximum
    Console(file=out.file, width=natural, soft_wrap=True).print(table)


def print_ids(ids: Iterable[str]) -> None:
    """``--ids``: one id a line and nothing else, for ``$(…)`` in a shell (as in the
    README's quick start: approve what ``list --ids`` printed)."""
    for value in ids:
        typer.echo(value)


def fingerprint(value: str | None) -> str:
    """A key fingerprint whole, in groups of eight hex digits: read aloud and compared
    out of band, and wrapped at the spaces in a narrow table rather than cut."""
    text = value or ""
    return " ".join(text[i : i + 8] for i in range(0, len(text), 8))


def utc_minute(ms: int | None) -> str:
    """A BFIA millisecond timestamp as ``YYYY-MM-DD HH:MMZ`` (empty for none or 0)."""
    return "" if not ms else time.strftime("%Y-%m-%d %H:%M", time.gmtime(ms / 1000)) + "Z"
