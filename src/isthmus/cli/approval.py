"""CLI of the management plane: datasets, approvals of partners' requests (and ours to
them), and the admin API's tokens."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from isthmus.cli.common import AsJson, Home, _call, _emit, _fail, _table, err

dataset_app = typer.Typer(
    help="Datasets this node offers (metadata only leaves).", no_args_is_help=True
)
approval_app = typer.Typer(
    help="Approvals: ask partners for their resources, decide on their requests.",
    no_args_is_help=True,
)
token_app = typer.Typer(help="Named admin API tokens and their roles.", no_args_is_help=True)

DAY_MS = 86_400_000
Days = Annotated[float | None, typer.Option(help="valid this many days from now")]
Times = Annotated[int | None, typer.Option("--times", help="uses allowed (-1: unlimited)")]


def _deadline(days: float | None) -> int | None:
    return None if days is None else int(time.time() * 1000 + days * DAY_MS)


def _datasets_table(rows: list[dict[str, Any]]) -> None:
    _table(
        "datasets",
        ["dataset", "rows", "columns", "join", "label", "source", "public"],
        [
            [
                r["dataset_id"],
                r["count"],
                ", ".join(f"{c['name']}:{c['data_type']}" for c in r["column_metas"]),
                ", ".join(r.get("join_columns", [])),
                ", ".join(r.get("label_columns", [])),
                r.get("source", ""),
                r.get("public", ""),
            ]
            for r in rows
        ],
    )


@dataset_app.command("register")
def dataset_register(
    home: Home,
    namespace: Annotated[str, typer.Option(help="the dataset's namespace")],
    name: Annotated[str, typer.Option(help="its name; the id is <namespace>#<name>")],
    csv: Annotated[Path | None, typer.Option(help="a CSV file")] = None,
    parquet: Annotated[Path | None, typer.Option(help="a Parquet file")] = None,
    sql: Annotated[str | None, typer.Option(help="a SQLAlchemy database URL")] = None,
    table: Annotated[str, typer.Option(help="the table, with --sql")] = "",
    join: Annotated[list[str] | None, typer.Option(help="a join (key) column")] = None,
    label: Annotated[list[str] | None, typer.Option(help="a label column")] = None,
    description: str = "",
    private: Annotated[bool, typer.Option(help="not listed to partners")] = False,
    as_json: AsJson = False,
) -> None:
    """Register local data as a dataset: its columns, types and row count are read now,
    and checked again each time a job uses it."""
    sources = [(k, v) for k, v in (("csv", csv), ("parquet", parquet), ("sql", sql)) if v]
    if len(sources) != 1:
        raise _fail("give exactly one of --csv, --parquet, --sql", 2)
    source, location = sources[0]
    if isinstance(location, Path):
        location = str(location.resolve())
    body = {
        "namespace": namespace,
        "name": name,
        "source": source,
        "location": location,
        "table": table,
        "join_columns": join or [],
        "label_columns": label or [],
        "description": description,
        "public": not private,
    }
    _emit(_call(home, "POST", "/datasets", body), as_json, lambda r: _datasets_table([r]))


@dataset_app.command("list")
def dataset_list(home: Home, as_json: AsJson = False) -> None:
    """This node's datasets."""
    _emit(_call(home, "GET", "/datasets"), as_json, _datasets_table)


@dataset_app.command("partner")
def dataset_partner(home: Home, peer: str, as_json: AsJson = False) -> None:
    """A partner's public datasets (``dataset/pub/list``): metadata only."""
    data = _call(home, "GET", f"/partners/{peer}/datasets")
    _emit(data["records"], as_json, _datasets_table)


@dataset_app.command("remove")
def dataset_remove(home: Home, dataset_id: str) -> None:
    """Stop offering a dataset (its source is left untouched)."""
    _call(home, "POST", f"/datasets/remove?dataset_id={dataset_id.replace('#', '%23')}")
    err.print(f"dataset {dataset_id} removed")


def _approvals_table(rows: list[dict[str, Any]]) -> None:
    _table(
        "approvals",
        ["audit id", "dir", "peer", "resource", "status", "limits", "by", "decided by"],
        [
            [
                r["audit_id"],
                "in" if r["direction"] == "INBOUND" else "out",
                r["peer_node_id"],
                f"{r['resource_type'].lower()} {r['resource_id']}",
                r["status"],
                _limits(r.get("permit") or r.get("request") or {}),
                r.get("requested_by"),
                r.get("decided_by"),
            ]
            for r in rows
        ],
    )


def _limits(permit: dict[str, Any]) -> str:
    times = permit.get("times_limit", -1)
    until = permit.get("time_limit", -1)
    if times in (-1, None):
        parts = ["any uses"]
    else:
        parts = [f"{times} use" if times == 1 else f"{times} uses"]
    if until not in (-1, None):
        parts.append("until " + time.strftime("%Y-%m-%d %H:%M", time.localtime(until / 1000)))
    return ", ".join(parts)


@approval_app.command("apply")
def approval_apply(
    home: Home,
    peer: str,
    resource_id: Annotated[str, typer.Argument(help="e.g. a dataset id <namespace>#<name>")],
    kind: Annotated[
        str, typer.Option("--type", help="dataset, project, flow, job or model")
    ] = "dataset",
    times: Times = None,
    days: Days = None,
    name: Annotated[str, typer.Option(help="a project's name")] = "",
    dataset: Annotated[
        list[str] | None, typer.Option(help="a partner dataset a project uses (repeat)")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Ask a partner for one of its resources; its operator decides."""
    field = {"dataset": "dataset_id", "project": "project_id", "flow": "flow_id",
             "job": "job_id", "model": "model_id"}.get(kind)  # fmt: skip
    if field is None:
        raise _fail(f"--type {kind}: not one of dataset, project, flow, job, model", 2)
    fields: dict[str, Any] = {field: resource_id}
    if kind == "project":
        fields["name"] = name or resource_id
        fields["datasets"] = [{"dataset_id": d, "owner": peer} for d in dataset or []]
    if times is not None:
        fields["times_limit"] = times
    if days is not None:
        fields["time_limit"] = _deadline(days)
    body = {"resource_type": kind.upper(), "peer_node_id": peer, "fields": fields}
    _emit(_call(home, "POST", "/audits/apply", body), as_json, lambda r: _approvals_table([r]))


@approval_app.command("list")
def approval_list(
    home: Home,
    pending: Annotated[bool, typer.Option(help="only requests awaiting a decision here")] = False,
    as_json: AsJson = False,
) -> None:
    """Requests to and from partners, with their state and limits."""
    if pending:
        rows = _call(home, "GET", "/audits", direction="INBOUND", status="APPLIED")
    else:
        rows = _call(home, "GET", "/audits")
    _emit(rows, as_json, _approvals_table)


@approval_app.command("approve")
def approval_approve(
    home: Home, peer: str, audit_id: str, times: Times = None, days: Days = None,
    reason: str = "", as_json: AsJson = False,
) -> None:  # fmt: skip
    """Approve a partner's request (limits may only narrow what was asked)."""
    body = {"times_limit": times, "time_limit": _deadline(days), "reason": reason}
    view = _call(home, "POST", f"/audits/{peer}/{audit_id}/approve", body)
    _emit(view, as_json, lambda r: _approvals_table([r]))


@approval_app.command("reject")
def approval_reject(
    home: Home, peer: str, audit_id: str,
    reason: Annotated[str, typer.Option(help="why; the partner's operator sees it")],
) -> None:  # fmt: skip
    """Reject a partner's request, saying why."""
    _call(home, "POST", f"/audits/{peer}/{audit_id}/reject", {"reason": reason})
    err.print(f"request {audit_id} of {peer} rejected")


@approval_app.command("revoke")
def approval_revoke(
    home: Home, peer: str, audit_id: str,
    outbound: Annotated[bool, typer.Option(help="end a grant we hold, not one we gave")] = False,
    reason: str = "",
) -> None:  # fmt: skip
    """End an approval at once: its permit stops working, and the partner is told."""
    body = {"direction": "OUTBOUND" if outbound else "INBOUND", "reason": reason}
    _call(home, "POST", f"/audits/{peer}/{audit_id}/terminate", body)
    err.print(f"approval {audit_id} with {peer} ended")


@approval_app.command("grant")
def approval_grant(
    home: Home, peer: str, dataset_id: str, times: Times = None, days: Days = None,
    as_json: AsJson = False,
) -> None:  # fmt: skip
    """Ask for a standing grant of a dataset to a partner that cannot present permits
    (FATE-Flow); another approver decides it."""
    body = {"peer_node_id": peer, "resource_type": "DATASET", "resource_id": dataset_id,
            "times_limit": -1 if times is None else times,
            "time_limit": _deadline(days) or -1}  # fmt: skip
    _emit(_call(home, "POST", "/audits/grant", body), as_json, lambda r: _approvals_table([r]))


@token_app.command("create")
def token_create(
    home: Home,
    name: str,
    role: Annotated[list[str], typer.Option(help="admin, operator, approver, auditor")],
    service: Annotated[bool, typer.Option(help="for automation, not a person")] = False,
) -> None:
    """Create a token; it is printed once (give it to its holder as ISTHMUS_TOKEN)."""
    made = _call(home, "POST", "/tokens", {"name": name, "roles": role, "service": service})
    err.print(f"token {made['name']} ({', '.join(made['roles'])}); shown once:")
    typer.echo(made["token"])


@token_app.command("list")
def token_list(home: Home, as_json: AsJson = False) -> None:
    """Tokens, their roles and last use (never the tokens themselves)."""

    def render(rows: list[dict[str, Any]]) -> None:
        _table(
            "tokens",
            ["name", "roles", "service", "created by", "revoked"],
            [[r["name"], ", ".join(r["roles"]), r["service"], r["created_by"], r["revoked_at"]]
             for r in rows],
        )  # fmt: skip

    _emit(_call(home, "GET", "/tokens"), as_json, render)


@token_app.command("revoke")
def token_revoke(home: Home, name: str) -> None:
    """Revoke a token at once."""
    _call(home, "POST", f"/tokens/{name}/revoke", {})
    err.print(f"token {name} revoked")
