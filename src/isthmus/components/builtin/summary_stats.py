"""``summary_stats``: per-column statistics of a party's own table, as a JSON report.

For every column: rows, missing (empty) values, and, when every present value is a
number, minimum, maximum, mean and standard deviation (Welford's streaming form); else
the number of distinct values, counted exactly up to ``max_distinct``. Only aggregates
leave the component: no value of any row is written.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from isthmus.components.runtime import Component, RunContext, component
from isthmus.components.spec import ComponentSpec, DataSlot, Param
from isthmus.components.storage import TableMeta
from isthmus.components.tables import csv_rows

SPEC = ComponentSpec(
    name="summary_stats",
    provider="isthmus",
    version="0.1.0",
    title="Summary statistics",
    description="Per-column counts, missing values, numeric moments or distinct counts.",
    roles=("guest", "host", "arbiter"),
    params=(Param("max_distinct", type="int", default=10_000, validator="[1,10000000]"),),
    inputs=(DataSlot("data", "dataset", ("csv",)),),
    outputs=(DataSlot("report", "report", ("json",)),),
    results=(("0", "success"),),
)


@dataclass
class ColumnStats:
    missing: int = 0
    numeric: bool = True
    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    low: float = math.inf
    high: float = -math.inf
    distinct: set[str] = field(default_factory=set)
    distinct_capped: bool = False

    def add(self, value: str, cap: int) -> None:
        if value == "":
            self.missing += 1
            return
        if not self.distinct_capped:
            self.distinct.add(value)
            if len(self.distinct) > cap:
                self.distinct_capped = True
                self.distinct.clear()
        if self.numeric:
            try:
                number = float(value)
            except ValueError:
                self.numeric = False
                return
            if not math.isfinite(number):
                self.numeric = False
                return
            self.n += 1
            delta = number - self.mean
            self.mean += delta / self.n
            self.m2 += delta * (number - self.mean)
            self.low, self.high = min(self.low, number), max(self.high, number)

    def report(self, rows: int, cap: int) -> dict[str, object]:
        described: dict[str, object] = {"count": rows - self.missing, "missing": self.missing}
        if self.numeric and self.n:
            described.update(
                type="number",
                min=self.low,
                max=self.high,
                mean=self.mean,
                std=math.sqrt(self.m2 / self.n),
            )
        else:
            described["type"] = "string"
            described["distinct"] = f">{cap}" if self.distinct_capped else len(self.distinct)
        return described


@component
class SummaryStats(Component):
    spec = SPEC

    async def run(self, ctx: RunContext) -> None:
        cap = int(ctx.params["max_distinct"])
        with csv_rows(ctx.storage, ctx.input("data")) as (header, rows):
            columns = [ColumnStats() for _ in header]
            count = 0
            for row in rows:
                count += 1
                for stats, value in zip(columns, row, strict=True):
                    stats.add(value, cap)
        report = {
            "rows": count,
            "columns": {
                name: s.report(count, cap) for name, s in zip(header, columns, strict=True)
            },
        }
        target = ctx.output("report")
        with ctx.storage.writer(target) as out:
            out.write(json.dumps(report, indent=1).encode())
        ctx.storage.write_meta(
            target,
            TableMeta(name=target.name, namespace=target.namespace, count=1, file_type="json"),
        )
        ctx.report.update(rows=count, columns=len(header))
        ctx.log.info("summary_stats: %d rows, %d columns", count, len(header))
