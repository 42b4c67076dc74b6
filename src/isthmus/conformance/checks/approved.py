"""The APPROVED path of an approval (digest §1.3, §1.4): the kit asks for a dataset, the
target's operator approves, the target's ``dataset/audit/confirm`` brings the kit a
``resource_permit`` of the §1.3 shape, and that permit is what opens the dataset.

The access a permit gates is a job of the kit's reading the target's dataset
(``job/create``, the kit initiator and scheduler, the target the host). The kit first
finds a public dataset whose job the target refuses without a permit (one the operator
let the kit use without asking is no test); then applies (``times_limit`` 1, its id marked
for the operator, ``operator.ASK``), waits for the confirm, and sends the same job with a
forged token (refused) and with the permit in ``x-mprac-token-set`` (admitted). Every
job is stopped and the audit terminated afterwards; the permit's token is a secret of
the run (never in evidence). A probe job the target admits without a permit is stopped
before it starts, but it may count as one use of whatever let the kit in (a standing
grant with a use limit): the plan says so, for ``--dry-run`` readers.

The header's resource-name grammar is open in the spec (§8): the kit writes Isthmus'
``urn:bfia:<owner>:<type>:<id>``, so a target with another grammar refuses the permit
the kit presents; the failure's reason says so.
"""

from __future__ import annotations

import secrets
from typing import Any

from isthmus.conformance.checks.common import refusal, success
from isthmus.conformance.checks.management import public_datasets
from isthmus.conformance.checks.operator import ASK, approval_id, audit_confirm
from isthmus.conformance.checks.scheduling import component, create, job_document, stop_later
from isthmus.conformance.context import CheckContext
from isthmus.conformance.model import Part
from isthmus.conformance.registry import check
from isthmus.wire import headers as h
from isthmus.wire import paths
from isthmus.wire.mprac import ResourceType, TokenRef

#: §1.3: the fields of a ``resource_permit`` and the JSON type of each.
PERMIT_FIELDS: dict[str, type | tuple[type, ...]] = {
    "token": str,
    "resource_level": int,
    "resource_type": str,
    "resource_id": str,
    "resource_node_id": str,
    "resource_inst_id": str,
    "request_node_id": str,
    "request_inst_id": str,
    "time_limit": int,
    "times_limit": int,
}
PROBED = 5


async def _gated_dataset(ctx: CheckContext, comp: dict[str, Any]) -> tuple[str, int]:
    """A public dataset whose job the target refuses without a permit, and the code."""
    records = await public_datasets(ctx)
    for record in records[:PROBED]:
        dataset = str(record.get("dataset_id"))
        job_id, document = await job_document(ctx, comp, dataset)
        stop_later(ctx, job_id)
        reply = await create(ctx, document, "job/create without a permit")
        if reply.code not in (0, 200):
            return dataset, refusal(ctx, reply, "job/create without a permit")
    ctx.not_applicable(
        f"none of the {min(len(records), PROBED)} public dataset(s) needs a permit for the "
        "kit's job (the operator lets the kit use them without asking): no access to gate"
    )


def _check_permit(ctx: CheckContext, permit: Any, dataset: str) -> dict[str, Any]:
    ctx.expect(isinstance(permit, dict), "the APPROVED confirm has no resource_permit (§1.3)")
    assert isinstance(permit, dict)
    for name, kind in PERMIT_FIELDS.items():
        value = permit.get(name)
        ctx.expect(
            isinstance(value, kind) and not isinstance(value, bool),
            f"resource_permit.{name} is {type(value).__name__}, not {kind} (§1.3)",
        )
    expected = {
        "resource_type": "DATASET",
        "resource_id": dataset,
        "resource_node_id": ctx.target.node_id,
        "request_node_id": ctx.kit.node_id,
    }
    for name, value in expected.items():
        got = str(permit[name])
        ctx.expect(
            got.upper() == value.upper() if name == "resource_type" else got == value,
            f"resource_permit.{name} is {got!r}, not {value!r}",
        )
    ctx.expect(bool(permit["token"]), "resource_permit.token is empty")
    ctx.http.secret(permit["token"])
    return permit


def _token_set(ctx: CheckContext, dataset: str, level: int, token: str) -> str:
    ref = TokenRef(ctx.target.node_id, ResourceType.DATASET, dataset, level, token)
    return ref.header_item()


@check(
    "mgmt.approval.approved",
    title="An approved dataset audit sends a resource_permit that opens the dataset",
    part=Part.MANAGEMENT,
    section="§1.3, §1.4",
    mutates=True,
    plan=(
        "component/list, dataset/pub/list; a job/create reading each public dataset (up to "
        f"{PROBED}), no permit, until one is refused (an admitted job is stopped before it "
        "starts, but may count as a use of a grant the kit holds)",
        f"POST {paths.resource_approval('dataset', 'apply')} for it (times_limit 1); {ASK}",
        f"expect {paths.resource_approval('dataset', 'confirm')} on the kit's listener: "
        "APPROVED, signed, resource_permit {token, resource_level, resource_type, "
        "resource_id, resource_node_id, resource_inst_id, request_node_id, request_inst_id, "
        "time_limit, times_limit}",
        f"job/create with a forged token in {h.MPRAC_TOKEN_SET}: expect refused",
        f"job/create with the permit in {h.MPRAC_TOKEN_SET}: expect admitted",
        "job/stop every job; dataset/audit/terminate",
    ),
)
async def approval_approved(ctx: CheckContext) -> None:
    comp = await component(ctx)
    dataset, without = await _gated_dataset(ctx, comp)
    audit_id = approval_id(ctx)
    apply = {
        "audit_id": audit_id,
        "contract_id": ctx.contract_id,
        "dataset_id": dataset,
        "auth_scope": {"NODE": [ctx.kit.node_id]},
        "time_limit": -1,
        "times_limit": 1,
    }
    end = paths.resource_approval("dataset", "terminate")
    reply = await ctx.http.signed(
        "POST", paths.resource_approval("dataset", "apply"), json=apply, label="apply"
    )
    success(ctx, reply, "dataset/audit/apply")

    async def withdraw() -> None:
        await ctx.http.signed("POST", end, json={"audit_id": audit_id}, label="cleanup: end")

    ctx.cleanup(withdraw)
    confirm = await audit_confirm(ctx, "dataset", audit_id)
    permit = _check_permit(ctx, confirm.get("resource_permit"), dataset)
    level = int(permit["resource_level"])
    forged = _token_set(ctx, dataset, level, secrets.token_urlsafe(32))
    job_id, document = await job_document(ctx, comp, dataset)
    stop_later(ctx, job_id)
    refused = await ctx.http.signed(
        "POST",
        paths.JOB_CREATE,
        json=document,
        headers={h.MPRAC_TOKEN_SET: forged},
        label="job/create, forged token",
    )
    with_forged = refusal(ctx, refused, "job/create with a forged permit token")
    job_id, document = await job_document(ctx, comp, dataset)
    stop_later(ctx, job_id)
    real = _token_set(ctx, dataset, level, str(permit["token"]))
    admitted = await ctx.http.signed(
        "POST",
        paths.JOB_CREATE,
        json=document,
        headers={h.MPRAC_TOKEN_SET: real},
        label="job/create, the permit",
    )
    if admitted.code not in (0, 200):
        ctx.fail(
            f"the job with the approved permit was refused (code {admitted.code}: "
            f"{str((admitted.json or {}).get('msg', ''))[:200]}); the kit names the dataset "
            "urn:bfia:<owner>:dataset:<id>, a grammar the spec leaves open (§8)"
        )
    success(ctx, admitted, "job/create with the permit")
    ctx.note(
        f"{dataset}: refused without a permit ({without}) and with a forged token "
        f"({with_forged}); the APPROVED confirm's resource_permit (level {level}) admitted it"
    )
