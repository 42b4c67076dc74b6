"""``column_select``: keep (or drop) named columns of a party's own CSV table.

A local data component: it runs on each party that has data, talks to nobody, and is
what a pipeline needs before a PSI or a model to cut a table down to the columns a
partner is allowed to compute on.
"""

from __future__ import annotations

from isthmus.components.errors import ParameterError
from isthmus.components.runtime import Component, RunContext, component
from isthmus.components.spec import ComponentSpec, DataSlot, Param
from isthmus.components.tables import csv_rows, write_csv

SPEC = ComponentSpec(
    name="column_select",
    provider="isthmus",
    version="0.1.0",
    title="Column selection",
    description="Keep or drop named columns of a CSV table, rows unchanged.",
    roles=("guest", "host", "arbiter"),
    params=(
        Param(
            "columns",
            optional=False,
            validator=r"regular:'[^,]+(,[^,]+)*'",
            description="comma-separated column names",
        ),
        Param("drop", type="boolean", default=False, description="drop them instead"),
    ),
    inputs=(DataSlot("data", "dataset", ("csv",), "the table"),),
    outputs=(DataSlot("data", "dataset", ("csv",), "the table with the selected columns"),),
    results=(("0", "success"),),
)


@component
class ColumnSelect(Component):
    spec = SPEC

    async def run(self, ctx: RunContext) -> None:
        wanted = [c.strip() for c in str(ctx.params["columns"]).split(",")]
        source, target = ctx.input("data"), ctx.output("data")
        with csv_rows(ctx.storage, source) as (header, rows):
            missing = [c for c in wanted if c not in header]
            if missing:
                raise ParameterError("columns", f"not in the input: {', '.join(missing)}")
            keep = (
                [i for i, c in enumerate(header) if c not in wanted]
                if ctx.params["drop"]
                else [header.index(c) for c in wanted]
            )
            selected = ([row[i] for i in keep] for row in rows)
            count = write_csv(ctx.storage, target, [header[i] for i in keep], selected)
        ctx.report.update(rows=count, columns=len(keep))
        ctx.log.info("column_select: %d rows, %d columns kept", count, len(keep))
