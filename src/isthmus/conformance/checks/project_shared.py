"""A project the target's operator approved is shared (digest §1.3, §1.4): the kit asks
(``project/audit/apply`` listing a public dataset of the target's), the operator approves
(``operator.ASK``), the target's ``project/audit/confirm`` brings a ``resource_permit``
for the PROJECT, and from then on ``project/list`` lists the project and
``project/query`` describes it: both nodes, and the listed dataset under its owner.

Not applicable when nobody approves within ``approval_timeout_s``; the project audit is
terminated afterwards (the project is the run's own id).
"""

from __future__ import annotations

from typing import Any

from isthmus.conformance.checks.approved import PERMIT_FIELDS
from isthmus.conformance.checks.common import success
from isthmus.conformance.checks.listings import PROJECT_DETAIL, missing, page
from isthmus.conformance.checks.management import public_datasets
from isthmus.conformance.checks.operator import ASK, approval_id, audit_confirm
from isthmus.conformance.context import CheckContext
from isthmus.conformance.model import Part
from isthmus.conformance.registry import check
from isthmus.wire import paths


def _permit_of(ctx: CheckContext, confirm: dict[str, Any], project_id: str) -> None:
    permit = confirm.get("resource_permit")
    ctx.expect(isinstance(permit, dict), "the APPROVED confirm has no resource_permit (§1.3)")
    assert isinstance(permit, dict)
    absent = [name for name in PERMIT_FIELDS if name not in permit]
    ctx.expect(not absent, f"resource_permit: no {', '.join(absent)} (§1.3)")
    ctx.http.secret(str(permit.get("token", "")))
    ctx.expect(
        str(permit.get("resource_type")).upper() == "PROJECT"
        and permit.get("resource_id") == project_id,
        f"the permit is for {permit.get('resource_type')} {permit.get('resource_id')!r}",
    )


@check(
    "mgmt.project.approved",
    title="An approved project is listed by project/list and described by project/query",
    part=Part.MANAGEMENT,
    section="§1.3, §1.4",
    mutates=True,
    plan=(
        f"POST {paths.resource_approval('project', 'apply')} {{project_id: the kit's, type "
        f"PSI, datasets: [the first public dataset]}}; {ASK}",
        f"expect {paths.resource_approval('project', 'confirm')} APPROVED with a "
        "resource_permit for the PROJECT",
        f"GET {paths.PROJECT_LIST}: expect the project; GET {paths.PROJECT_QUERY}: expect "
        "nodes [kit, target] and the dataset under the target",
        "project/audit/terminate (cleanup)",
    ),
)
async def project_approved(ctx: CheckContext) -> None:
    records = await public_datasets(ctx)
    listed = [records[0]] if records else []
    dataset_ids = [str(r.get("dataset_id")) for r in listed]
    audit_id, project_id = approval_id(ctx), ctx.ids.new("prj")
    apply = {
        "audit_id": audit_id,
        "contract_id": ctx.contract_id,
        "project_id": project_id,
        "name": "conformance kit",
        "type": "PSI",
        "datasets": [
            {
                "dataset_id": str(r.get("dataset_id")),
                "name": str(r.get("name", "")),
                "owner": ctx.target.node_id,
            }
            for r in listed
        ],
    }
    reply = await ctx.http.signed(
        "POST", paths.resource_approval("project", "apply"), json=apply, label="apply"
    )
    success(ctx, reply, "project/audit/apply")
    end = paths.resource_approval("project", "terminate")

    async def withdraw() -> None:
        await ctx.http.signed("POST", end, json={"audit_id": audit_id}, label="cleanup: end")

    ctx.cleanup(withdraw)
    _permit_of(ctx, await audit_confirm(ctx, "project", audit_id), project_id)
    shared = await page(ctx, paths.PROJECT_LIST, "project/list")
    ctx.expect(
        any(r.get("project_id") == project_id for r in shared),
        f"project/list does not list the approved {project_id} ({len(shared)} listed)",
    )
    params = {"contract_id": ctx.contract_id, "project_id": project_id}
    data = success(
        ctx,
        await ctx.http.signed("GET", paths.PROJECT_QUERY, params=params, label="query"),
        "project/query",
    )
    ctx.expect(isinstance(data, dict), "project/query: data is not an object")
    absent = missing(data, PROJECT_DETAIL)
    ctx.expect(not absent, f"project/query: no {', '.join(absent)} (§1.4)")
    nodes = data.get("nodes")
    ctx.expect(
        isinstance(nodes, list) and {ctx.kit.node_id, ctx.target.node_id} <= set(nodes),
        f"project/query: nodes {nodes!r} lack the kit or the target",
    )
    datasets = data.get("datasets")
    if dataset_ids:
        ctx.expect(
            isinstance(datasets, dict)
            and set(dataset_ids) <= set(datasets.get(ctx.target.node_id) or []),
            f"project/query: datasets {datasets!r} lack {dataset_ids} under the target",
        )
    ctx.note(f"{project_id} approved with a PROJECT permit; listed and described")
