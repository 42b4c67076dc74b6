"""``isthmus token``: named admin API tokens and their roles. A token is shown once, when
it is made; the node keeps only its digest."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from isthmus.cli.common import AsJson, Home, call, emit, err, print_table
from isthmus.wire.paths import ADMIN_TOKEN_REVOKE, ADMIN_TOKENS

token_app = typer.Typer(help="Named admin API tokens and their roles.", no_args_is_help=True)


@token_app.command("create")
def token_create(
    home: Home,
    name: str,
    role: Annotated[list[str], typer.Option(help="admin, operator, approver, auditor")],
    service: Annotated[bool, typer.Option(help="for automation, not a person")] = False,
) -> None:
    """Create a token; it is printed once (give it to its holder as ISTHMUS_TOKEN)."""
    made = call(home, "POST", ADMIN_TOKENS, {"name": name, "roles": role, "service": service})
    err.print(f"token {made['name']} ({', '.join(made['roles'])}); shown once:")
    typer.echo(made["token"])


@token_app.command("list")
def token_list(home: Home, as_json: AsJson = False) -> None:
    """Tokens, their roles and last use (never the tokens themselves)."""

    def render(rows: list[dict[str, Any]]) -> None:
        print_table(
            "tokens",
            ["name", "roles", "service", "created by", "revoked"],
            [[r["name"], ", ".join(r["roles"]), r["service"], r["created_by"], r["revoked_at"]]
             for r in rows],
            ids=("name",),
        )  # fmt: skip

    emit(call(home, "GET", ADMIN_TOKENS), as_json, render)


@token_app.command("revoke")
def token_revoke(home: Home, name: str) -> None:
    """Revoke a token at once."""
    call(home, "POST", ADMIN_TOKEN_REVOKE.format(name=name), {})
    err.print(f"token {name} revoked")
