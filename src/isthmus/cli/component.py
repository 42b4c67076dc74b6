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


def _components_table(rows: list[dict[str, Any]], *, with_created: bool = False) -> None:
    columns = ["component", "provider", "version", "state", "image", "runner"]
    print_table(
        "components",
        [*columns, "new"] if with_created else columns,
        [
            [
                r["componentName"],
                r["provider"],
                r["version"],
                r["state"],
                r["imageUrl"],
                r["runner"],
                *(["yes" if r.get("created") else "no"] if with_created else []),
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
    description: Annotated[
        Path,
        typer.Argument(
            help="self-description JSON: one object, or the array that "
            "'python -m isthmus.components --describe' prints"
        ),
    ],
    image_url: Annotated[str, typer.Option("--image", help="image URL to run it")] = "",
    runner: Annotated[str, typer.Option(help="process, docker or kubernetes")] = "process",
    as_json: AsJson = False,
) -> None:
    """Register self-descriptions (a new version sits beside the old; one already
    registered is left as it is). Takes exactly what ``--describe`` prints."""
    documents, single = _read_descriptions(description)
    registered = [
        call(
            home,
            "POST",
            ADMIN_COMPONENTS,
            {"component_info": document, "imageUrl": image_url, "runner": runner},
        )
        for document in documents
    ]
    emit(
        registered[0] if single else registered,
        as_json,
        lambda _: _components_table(registered, with_created=True),
    )


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise fail(f"cannot read {path}: {exc}", 2) from exc


def _read_descriptions(path: Path) -> tuple[list[dict[str, Any]], bool]:
    """The self-descriptions in ``path`` (one JSON object, or an array of them), and
    whether it held a single object (answered, with --json, by one object)."""
    loaded = _load_json(path)
    documents = loaded if isinstance(loaded, list) else [loaded]
    for i, document in enumerate(documents):
        if not isinstance(document, dict):
            where = f"{path}[{i}]" if isinstance(loaded, list) else str(path)
            raise fail(
                f"{where}: a self-description is a JSON object with componentName, "
                f"provider, version, roleList (got {type(document).__name__})",
                2,
            )
    if not documents:
        raise fail(f"{path}: the array holds no self-description", 2)
    return documents, not isinstance(loaded, list)


@component_app.command("show")
def component_show(
    home: Home,
    name: Annotated[str, typer.Argument(help="the componentName")],
    version: Annotated[str | None, typer.Option(help="this version (default: newest)")] = None,
    provider: Annotated[str | None, typer.Option(help="this provider, if several")] = None,
    as_json: AsJson = False,
) -> None:
    """One registered component: its roles, parameters (type, default, range, choices),
    inputs and outputs — what a job must give it."""
    rows = call(home, "GET", ADMIN_COMPONENTS, name=name, describe=True)
    chosen = _choose(rows, name, version, provider)
    emit(chosen, as_json, _show_component)


def _choose(
    rows: list[dict[str, Any]], name: str, version: str | None, provider: str | None
) -> dict[str, Any]:
    """The one registered row the options name: the newest registration when no
    version is given, and an error naming the candidates when the choice is ambiguous."""
    rows = [
        r
        for r in rows
        if (version is None or r["version"] == version)
        and (provider is None or r["provider"] == provider)
    ]
    if not rows:
        wanted = " ".join(x for x in (name, version, provider and f"from {provider}") if x)
        raise fail(f"no component {wanted} is registered ('isthmus component list' shows them)")
    providers = sorted({r["provider"] for r in rows})
    if len(providers) > 1:
        raise fail(f"{name} comes from several providers ({', '.join(providers)}): add --provider")
    newest: dict[str, Any] = max(rows, key=lambda r: (r.get("registeredAt") or 0, r["version"]))
    return newest


def _show_component(row: dict[str, Any]) -> None:
    info = row["component_info"]
    out.print(
        f"{row['componentName']} {row['version']} ({row['provider']}) {row['state']}, "
        f"runner {row['runner']}, image {row['imageUrl'] or '-'}",
        highlight=False,
        markup=False,
    )
    if info.get("description"):
        out.print(f"  {info['description']}", highlight=False, markup=False)
    out.print(f"  roles: {', '.join(info.get('roleList', []))}", highlight=False, markup=False)
    print_table(
        "parameters",
        ["name", "type", "required", "default", "range", "description"],
        [
            [
                p["name"],
                p.get("type", "string"),
                "no" if str(p.get("optional", "true")).lower() == "true" else "yes",
                p.get("defaultValue", ""),
                _range_text(p),
                p.get("description", ""),
            ]
            for p in info.get("inputParam", [])
        ],
    )
    for title, key in (("inputs", "inputData"), ("outputs", "outputData")):
        print_table(
            title,
            ["name", "category", "formats", "description"],
            [
                [d["name"], d.get("category", ""), ", ".join(d.get("dataFormat", [])),
                 d.get("description", "")]
                for d in info.get(key, [])
            ],
        )  # fmt: skip


def _range_text(param: dict[str, Any]) -> str:
    """The validator as written, or the choices (``bindingData``)."""
    if isinstance(param.get("bindingData"), list):
        return "one of " + ", ".join(str(b.get("value")) for b in param["bindingData"])
    return str(param.get("validator") or "")


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
