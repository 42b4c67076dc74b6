"""``isthmus component``: the algorithm components this node runs, every version of each,
and whether jobs may use it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from isthmus.cli.common import AsJson, Home, call, emit, fail, out, print_table
from isthmus.wire.paths import ADMIN_COMPONENT_STATE, ADMIN_COMPONENTS

component_app = typer.Typer(help="The algorithm components this node runs.", no_args_is_help=True)


def _components_table(rows: list[dict[str, Any]]) -> None:
    print_table(
        "components",
        ["component", "provider", "version", "state", "image", "runner"],
        [
            [
                r["componentName"],
                r["provider"],
                r["version"],
                r["state"],
                r["imageUrl"],
                r["runner"],
            ]
            for r in rows
        ],
    )


@component_app.command("list")
def component_list(
    home: Home,
    name: Annotated[str | None, typer.Option(help="only this componentName")] = None,
    as_json: AsJson = False,
) -> None:
    """Registered components, every version, with their state."""
    emit(call(home, "GET", ADMIN_COMPONENTS, name=name), as_json, _components_table)


@component_app.command("register")
def component_register(
    home: Home,
    description: Annotated[Path, typer.Argument(help="self-description JSON file")],
    image_url: Annotated[str, typer.Option("--image", help="image URL to run it")] = "",
    runner: Annotated[str, typer.Option(help="process, docker or kubernetes")] = "process",
    as_json: AsJson = False,
) -> None:
    """Register a component's self-description (a new version sits beside the old)."""
    try:
        document = json.loads(description.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise fail(f"cannot read {description}: {exc}", 2) from exc
    body = {"component_info": document, "imageUrl": image_url, "runner": runner}
    emit(call(home, "POST", ADMIN_COMPONENTS, body), as_json, lambda r: _components_table([r]))


@component_app.command("enable")
def component_enable(home: Home, name: str, provider: str, version: str) -> None:
    """Let jobs use this component version."""
    call(home, "POST", ADMIN_COMPONENT_STATE, _component_key(name, provider, version, "ENABLED"))
    out.print(f"{name} {version} ({provider}) ENABLED")


@component_app.command("disable")
def component_disable(home: Home, name: str, provider: str, version: str) -> None:
    """Refuse jobs that use this component version."""
    call(home, "POST", ADMIN_COMPONENT_STATE, _component_key(name, provider, version, "DISABLED"))
    out.print(f"{name} {version} ({provider}) DISABLED")


def _component_key(name: str, provider: str, version: str, state: str) -> dict[str, str]:
    return {"componentName": name, "provider": provider, "version": version, "state": state}
