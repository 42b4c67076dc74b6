"""``isthmus dataset``: the datasets this node offers (only their metadata ever leaves),
and a partner's public ones."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from isthmus.cli.common import AsJson, Home, call, emit, err, fail, print_table
from isthmus.wire.paths import ADMIN_DATASET_REMOVE, ADMIN_DATASETS, ADMIN_PARTNER_DATASETS

dataset_app = typer.Typer(
    help="Datasets this node offers (metadata only leaves).", no_args_is_help=True
)


def _datasets_table(rows: list[dict[str, Any]]) -> None:
    print_table(
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
        ids=("dataset",),
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
        raise fail("give exactly one of --csv, --parquet, --sql", 2)
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
    emit(call(home, "POST", ADMIN_DATASETS, body), as_json, lambda r: _datasets_table([r]))


@dataset_app.command("list")
def dataset_list(home: Home, as_json: AsJson = False) -> None:
    """This node's datasets."""
    emit(call(home, "GET", ADMIN_DATASETS), as_json, _datasets_table)


@dataset_app.command("partner")
def dataset_partner(home: Home, peer: str, as_json: AsJson = False) -> None:
    """A partner's public datasets (``dataset/pub/list``): metadata only."""
    data = call(home, "GET", ADMIN_PARTNER_DATASETS.format(peer=peer))
    emit(data["records"], as_json, _datasets_table)


@dataset_app.command("remove")
def dataset_remove(home: Home, dataset_id: str) -> None:
    """Stop offering a dataset (its source is left untouched)."""
    call(home, "POST", f"{ADMIN_DATASET_REMOVE}?dataset_id={dataset_id.replace('#', '%23')}")
    err.print(f"dataset {dataset_id} removed")
