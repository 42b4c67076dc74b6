"""What a target lists for its partner (digest §1.4): its components
(``component/list`` → ``component/query``) and the projects shared with the partner
(``project/list`` → ``project/query``). Read-only: nothing is created.

A listed component must be describable: its ``component/query`` answers the §1.4 fields
(category, code, description, developer, engine, extension, inputs, name, outputs,
status ENABLED/DISABLED, version) for the listed ``code`` + ``version``. An unknown
component or project is refused in the envelope. The project list may be empty (the kit
shares none unless the approval path ran); its shape is checked all the same.
"""

from __future__ import annotations

from typing import Any

from isthmus.conformance.checks.common import contract_id, refusal, success
from isthmus.conformance.context import CheckContext
from isthmus.conformance.model import Part
from isthmus.conformance.registry import check
from isthmus.wire import paths

COMPONENT_RECORD = ("category", "code", "developer", "version")
COMPONENT_DETAIL = (
    "category",
    "code",
    "description",
    "developer",
    "engine",
    "extension",
    "inputs",
    "name",
    "outputs",
    "status",
    "version",
)
COMPONENT_STATUSES = frozenset({"ENABLED", "DISABLED"})
PROJECT_RECORD = ("description", "name", "project_id", "type")
PROJECT_DETAIL = (*PROJECT_RECORD, "nodes", "datasets")


async def page(ctx: CheckContext, path: str, what: str) -> list[Any]:
    """The first page of a §1.4 listing: ``{records[], total}``, records an object each."""
    params = {"contract_id": contract_id(ctx), "page_num": "1", "page_size": "20"}
    data = success(ctx, await ctx.http.signed("GET", path, params=params, label=what), what)
    ctx.expect(isinstance(data, dict), f"{what}: data is not an object")
    records, total = data.get("records"), data.get("total")
    ctx.expect(isinstance(records, list), f"{what}: no records list (§1.4)")
    ctx.expect(isinstance(total, int), f"{what}: no integer total (§1.4)")
    assert isinstance(records, list) and isinstance(total, int)
    ctx.expect(len(records) <= min(total, 20), f"{what}: {len(records)} records of {total}")
    ctx.expect(all(isinstance(r, dict) for r in records), f"{what}: a record is not an object")
    return records


def missing(record: dict[str, Any], fields: tuple[str, ...]) -> list[str]:
    return [f for f in fields if f not in record]


async def listed(ctx: CheckContext, path: str, what: str, fields: tuple[str, ...]) -> list[Any]:
    """``page``, with every record checked for ``fields``."""
    records = await page(ctx, path, what)
    for i, record in enumerate(records):
        absent = missing(record, fields)
        ctx.expect(not absent, f"{what} records[{i}]: no {', '.join(absent)} (§1.4)")
    return records


@check(
    "mgmt.component.list",
    title="component/list pages the target's components",
    part=Part.MANAGEMENT,
    section="§1.4, §2.6",
    plan=(
        f"GET {paths.COMPONENT_LIST}?contract_id=…&page_num=1&page_size=20, signed",
        "expect: {records[], total}; each record has category, code, developer, version",
    ),
)
async def component_list(ctx: CheckContext) -> None:
    records = await listed(ctx, paths.COMPONENT_LIST, "component/list", COMPONENT_RECORD)
    ctx.note(f"{len(records)} component(s) listed with category, code, developer, version")


@check(
    "mgmt.component.query",
    title="component/query describes a listed component; an unknown one is refused",
    part=Part.MANAGEMENT,
    section="§1.4, §2.6",
    plan=(
        f"GET {paths.COMPONENT_LIST}: the first listed component",
        f"GET {paths.COMPONENT_QUERY}?code=…&version=…&contract_id=…, signed: expect the same "
        "code and version with category, description, developer, engine, extension, "
        "inputs[], name, outputs[], status ENABLED|DISABLED",
        f"GET {paths.COMPONENT_QUERY} of an unknown code: expect refused",
    ),
)
async def component_query(ctx: CheckContext) -> None:
    unknown = await ctx.http.signed(
        "GET",
        paths.COMPONENT_QUERY,
        params={"contract_id": contract_id(ctx), "code": "cfk_no_such", "version": "0.0.0"},
        label="query unknown",
    )
    code = refusal(ctx, unknown, "component/query of an unknown component")
    records = await page(ctx, paths.COMPONENT_LIST, "component/list")
    if not records:
        ctx.not_applicable("the target lists no component to describe")
    first = records[0]
    params = {
        "contract_id": contract_id(ctx),
        "code": str(first.get("code")),
        "version": str(first.get("version")),
    }
    reply = await ctx.http.signed("GET", paths.COMPONENT_QUERY, params=params, label="query")
    data = success(ctx, reply, "component/query")
    ctx.expect(isinstance(data, dict), "component/query: data is not an object")
    absent = missing(data, COMPONENT_DETAIL)
    ctx.expect(not absent, f"component/query: no {', '.join(absent)} (§1.4)")
    for key in ("code", "version"):
        ctx.expect(
            str(data.get(key)) == params[key],
            f"component/query: {key} {data.get(key)!r}, asked for {params[key]!r}",
        )
    ctx.expect(
        isinstance(data.get("inputs"), list) and isinstance(data.get("outputs"), list),
        "component/query: inputs and outputs are lists (§1.4, §2.6)",
    )
    ctx.expect(
        data.get("status") in COMPONENT_STATUSES,
        f"component/query: status {data.get('status')!r} is not ENABLED or DISABLED (§1.4)",
    )
    ctx.note(f"{params['code']} {params['version']} described; an unknown one refused ({code})")


@check(
    "mgmt.project.list",
    title="project/list pages the projects shared with the kit",
    part=Part.MANAGEMENT,
    section="§1.4",
    plan=(
        f"GET {paths.PROJECT_LIST}?contract_id=…&page_num=1&page_size=20, signed",
        "expect: {records[], total}; each record has description, name, project_id, type",
    ),
)
async def project_list(ctx: CheckContext) -> None:
    records = await listed(ctx, paths.PROJECT_LIST, "project/list", PROJECT_RECORD)
    ctx.note(f"{len(records)} shared project(s) listed")


@check(
    "mgmt.project.query",
    title="project/query refuses an unknown project and describes a listed one",
    part=Part.MANAGEMENT,
    section="§1.4",
    plan=(
        f"GET {paths.PROJECT_QUERY}?project_id=<unknown>: expect refused",
        f"when {paths.PROJECT_LIST} lists one: GET {paths.PROJECT_QUERY} of it: expect the "
        "same project_id with nodes[], description, name, type, datasets",
    ),
)
async def project_query(ctx: CheckContext) -> None:
    unknown = await ctx.http.signed(
        "GET",
        paths.PROJECT_QUERY,
        params={"contract_id": contract_id(ctx), "project_id": ctx.ids.new("prj")},
        label="query unknown",
    )
    code = refusal(ctx, unknown, "project/query of an unknown project")
    records = await page(ctx, paths.PROJECT_LIST, "project/list")
    if not records:
        ctx.note(f"an unknown project is refused ({code}); no project is shared with the kit")
        return
    wanted = str(records[0].get("project_id"))
    params = {"contract_id": contract_id(ctx), "project_id": wanted}
    data = success(
        ctx,
        await ctx.http.signed("GET", paths.PROJECT_QUERY, params=params, label="query"),
        "project/query",
    )
    ctx.expect(isinstance(data, dict), "project/query: data is not an object")
    absent = missing(data, PROJECT_DETAIL)
    ctx.expect(not absent, f"project/query: no {', '.join(absent)} (§1.4)")
    ctx.expect(data.get("project_id") == wanted, f"project/query answered another than {wanted}")
    ctx.expect(isinstance(data.get("nodes"), list), "project/query: nodes is not a list")
    ctx.note(f"{wanted} described; an unknown project refused ({code})")
