"""``row_filter``: keep the rows of a party's CSV table whose ``column`` is at least
(or, with ``keep=below``, below) ``threshold``. A local step: each party filters its own
table and talks to nobody; it reports only counts, never rows."""

from __future__ import annotations

from collections.abc import Iterator

from isthmus.components import (
    Component,
    ComponentSpec,
    DataSlot,
    Param,
    ParameterError,
    RunContext,
    component,
    csv_rows,
    write_csv,
)

SPEC = ComponentSpec(
    name="row_filter",
    provider="my-bank",
    version="1.0.0",
    title="Row filter",
    description="Keep the rows whose column is at least (or below) a threshold.",
    roles=("guest", "host"),
    params=(
        Param("column", optional=False, description="the numeric column to compare"),
        Param("threshold", type="float", optional=False, validator="(-inf,inf)",
              description="the value compared with"),
        Param("keep", default="above", choices=("above", "below"),
              description="above: keep column >= threshold; below: column < threshold"),
    ),
    inputs=(DataSlot("data", "dataset", ("csv",), "the table to filter"),),
    outputs=(DataSlot("data", "dataset", ("csv",), "the rows kept, same columns"),),
    results=(("0", "success"),),
)  # fmt: skip


@component
class RowFilter(Component):
    spec = SPEC

    async def run(self, ctx: RunContext) -> None:
        column, threshold = str(ctx.params["column"]), float(ctx.params["threshold"])
        above = ctx.params["keep"] == "above"
        with csv_rows(ctx.storage, ctx.input("data")) as (header, rows):
            if column not in header:
                raise ParameterError("column", f"{column!r} is not a column of the input")
            at = header.index(column)

            def kept() -> Iterator[list[str]]:
                for line, row in enumerate(rows, start=2):
                    try:
                        value = float(row[at])
                    except ValueError:
                        # Name the line, never the value: it is a party's data.
                        raise ParameterError("column", f"line {line} is not a number") from None
                    if (value >= threshold) == above:
                        yield row

            count = write_csv(ctx.storage, ctx.output("data"), header, kept())
        ctx.report.update(rows=count)
        ctx.log.info("row_filter: %d rows kept", count)
