"""Management-plane checks (digest §1.4): node health and query, the node contract's
apply/query/terminate/confirm, public dataset metadata, and the approvals of resources
(``<dataset|project|flow|job|model>/audit/apply|query|terminate``).

Everything these checks create on the target is under the run's own ids and ends
withdrawn: the contract check applies as a *second*, throw-away identity of the kit
(the run's own contract must stay), queries and terminates that application; each
approval check applies for a resource the target need not have approved, reads it back
APPLIED, withdraws it and reads it back TERMINATED. No operator action is needed, so
they run unattended against production.
"""

from __future__ import annotations

from typing import Any

from isthmus.conformance.checks.common import (
    SUCCESS_CODES,
    contract_id,
    json_bytes,
    refusal,
    require_scheme,
    sign,
    success,
    throw_away_apply,
)
from isthmus.conformance.context import CheckContext
from isthmus.conformance.model import Part
from isthmus.conformance.registry import check
from isthmus.crypto import generate_private_key
from isthmus.peer.signing import NodeIdentity
from isthmus.wire import paths

NODE_FIELDS = ("node_id", "name", "inst_id", "institution", "address", "system")
DATASET_FIELDS = ("dataset_id", "name", "column_metas")


@check(
    "mgmt.node.health",
    title="node/health answers status ok",
    part=Part.MANAGEMENT,
    section="§1.4",
    plan=(f"GET {paths.NODE_HEALTH} (unsigned)", "expect: code 0, data.status == 'ok'"),
)
async def node_health(ctx: CheckContext) -> None:
    reply = await ctx.http.unsigned("GET", paths.NODE_HEALTH, label="node/health")
    data = success(ctx, reply, "node/health")
    status = data.get("status") if isinstance(data, dict) else None
    ctx.expect(status == "ok", f"node/health: data.status is {status!r}, not 'ok'")
    ctx.note("node/health: status ok")


@check(
    "mgmt.node.query",
    title="node/query describes the target",
    part=Part.MANAGEMENT,
    section="§1.4",
    plan=(
        f"GET {paths.NODE_QUERY}?node_id=<target> (unsigned: the spec lets a node introduce "
        "itself)",
        "expect: data.node_id is the target, with name, inst_id, institution, address, system",
    ),
)
async def node_query(ctx: CheckContext) -> None:
    reply = await ctx.http.unsigned(
        "GET", paths.NODE_QUERY, params={"node_id": ctx.target.node_id}, label="node/query"
    )
    data = success(ctx, reply, "node/query")
    ctx.expect(isinstance(data, dict), "node/query: data is not an object")
    ctx.expect(
        data.get("node_id") == ctx.target.node_id,
        f"node/query: node_id {data.get('node_id')!r}, the target is {ctx.target.node_id!r}",
    )
    missing = [f for f in NODE_FIELDS if f not in data]
    ctx.expect(not missing, f"node/query: no {', '.join(missing)} in the answer (§1.4)")
    ctx.note(f"node/query: {data.get('system')} {data.get('system_version', '')}".strip())


@check(
    "mgmt.contract.query",
    title="node/contract/query reads the run's contract as APPROVED",
    part=Part.MANAGEMENT,
    section="§1.4",
    plan=(
        f"GET {paths.NODE_CONTRACT_QUERY}?contract_id=<the run's contract>, signed",
        "expect: data.status == APPROVED",
    ),
)
async def contract_query(ctx: CheckContext) -> None:
    contract = contract_id(ctx)
    reply = await ctx.http.signed(
        "GET", paths.NODE_CONTRACT_QUERY, params={"contract_id": contract}, label="query"
    )
    data = success(ctx, reply, "node/contract/query")
    status = data.get("status") if isinstance(data, dict) else None
    ctx.expect(status == "APPROVED", f"node/contract/query: status {status!r}, not APPROVED")
    ctx.note("the run's contract reads APPROVED")


def _second_identity(ctx: CheckContext) -> NodeIdentity:
    kit = ctx.kit.identity
    return NodeIdentity(ctx.ids.new("node"), kit.inst_id, generate_private_key(kit.auth_type))


async def _as(
    ctx: CheckContext,
    who: NodeIdentity,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    params: dict[str, str] | None,
    label: str,
) -> Any:
    from urllib.parse import urlencode

    content = json_bytes(body) if body is not None else b""
    headers = sign(ctx, method, path, query=urlencode(params or {}), body=content, identity=who)
    if body is not None:
        headers["content-type"] = "application/json"
    return await ctx.http.raw(
        method, path, content=content, headers=headers, params=params, label=label
    )


@check(
    "mgmt.contract.lifecycle",
    title="node/contract apply, query (APPLIED), terminate, query (TERMINATED)",
    part=Part.MANAGEMENT,
    section="§1.4",
    mutates=True,
    plan=(
        f"POST {paths.NODE_CONTRACT_APPLY} as a throw-away node id of the kit (unsigned, with "
        "its fresh public key; address = the kit's listener)",
        f"GET {paths.NODE_CONTRACT_QUERY}: expect APPLIED",
        f"POST {paths.NODE_CONTRACT_TERMINATE} (the applicant withdraws): expect code 0",
        f"GET {paths.NODE_CONTRACT_QUERY}: expect TERMINATED",
    ),
)
async def contract_lifecycle(ctx: CheckContext) -> None:
    require_scheme(ctx)
    who = _second_identity(ctx)
    apply = throw_away_apply(ctx, who, "isthmus conformance kit (throw-away applicant)")
    reply = await ctx.http.unsigned(
        "POST",
        paths.NODE_CONTRACT_APPLY,
        json=apply,
        headers={"x-source-node-id": who.node_id, "x-csrf-protection": "1"},
        label="apply",
    )
    data = success(ctx, reply, "node/contract/apply")
    contract = data.get("contract_id") if isinstance(data, dict) else None
    ctx.expect(isinstance(contract, str) and contract, "node/contract/apply: no contract_id")
    assert isinstance(contract, str)

    async def withdraw() -> None:
        await _as(
            ctx,
            who,
            "POST",
            paths.NODE_CONTRACT_TERMINATE,
            {"contract_id": contract},
            None,
            "cleanup: terminate",
        )

    ctx.cleanup(withdraw)
    query = {"contract_id": contract}
    first = await _as(ctx, who, "GET", paths.NODE_CONTRACT_QUERY, None, query, "query")
    status = (success(ctx, first, "node/contract/query") or {}).get("status")
    ctx.expect(status == "APPLIED", f"a fresh application reads {status!r}, not APPLIED")
    ended = await _as(ctx, who, "POST", paths.NODE_CONTRACT_TERMINATE, query, None, "terminate")
    success(ctx, ended, "node/contract/terminate")
    last = await _as(ctx, who, "GET", paths.NODE_CONTRACT_QUERY, None, query, "query again")
    if last.code in SUCCESS_CODES:
        status = (success(ctx, last, "node/contract/query") or {}).get("status")
        ctx.expect(status == "TERMINATED", f"a withdrawn application reads {status!r}")
        ended_how = "query TERMINATED"
    else:  # a terminated contract no longer authenticates its holder: also conforming
        ended_how = (
            f"the ended contract no longer authenticates a query ({refusal(ctx, last, 'query')})"
        )
    ctx.note(f"apply gave a contract_id; query APPLIED; terminate; {ended_how}")


@check(
    "mgmt.contract.confirm-unknown",
    title="node/contract/confirm of a contract that does not exist is refused",
    part=Part.MANAGEMENT,
    section="§1.4",
    plan=(
        f"POST {paths.NODE_CONTRACT_CONFIRM} {{contract_id: <unknown>, status: REJECTED}}",
        "expect: refused in the envelope (nothing to confirm)",
    ),
)
async def contract_confirm_unknown(ctx: CheckContext) -> None:
    body = {"contract_id": ctx.ids.new("contract"), "status": "REJECTED"}
    reply = await ctx.http.unsigned(
        "POST",
        paths.NODE_CONTRACT_CONFIRM,
        json=body,
        headers={"x-csrf-protection": "1"},
        label="confirm unknown",
    )
    code = refusal(ctx, reply, "a confirm of an unknown contract")
    ctx.note(f"confirm of an unknown contract: refused, code {code}")


async def public_datasets(ctx: CheckContext) -> list[Any]:
    reply = await ctx.http.signed(
        "GET",
        paths.DATASET_PUB_LIST,
        params={"contract_id": contract_id(ctx), "page_num": "1", "page_size": "20"},
        label="dataset/pub/list",
    )
    data = success(ctx, reply, "dataset/pub/list")
    ctx.expect(isinstance(data, dict), "dataset/pub/list: data is not an object")
    records, total = data.get("records"), data.get("total")
    ctx.expect(isinstance(records, list), "dataset/pub/list: no records list (§1.4)")
    ctx.expect(isinstance(total, int), "dataset/pub/list: no integer total (§1.4)")
    assert isinstance(records, list) and isinstance(total, int)
    ctx.expect(len(records) <= min(total, 20), f"{len(records)} records of a total {total}")
    return records


@check(
    "mgmt.dataset.pub-list",
    title="dataset/pub/list pages public dataset metadata",
    part=Part.MANAGEMENT,
    section="§1.4",
    plan=(
        f"GET {paths.DATASET_PUB_LIST}?contract_id=…&page_num=1&page_size=20, signed",
        "expect: data {records[], total}; each record has dataset_id, name, column_metas",
    ),
)
async def dataset_pub_list(ctx: CheckContext) -> None:
    records = await public_datasets(ctx)
    for i, record in enumerate(records):
        missing = [f for f in DATASET_FIELDS if not isinstance(record, dict) or f not in record]
        ctx.expect(not missing, f"records[{i}]: no {', '.join(missing)} (§1.4)")
    ctx.note(f"{len(records)} public dataset(s) listed with their metadata")


@check(
    "mgmt.dataset.pub-query",
    title="dataset/pub/query answers one public dataset, refuses an unknown one",
    part=Part.MANAGEMENT,
    section="§1.4",
    plan=(
        f"GET {paths.DATASET_PUB_QUERY}?dataset_id=<the first listed>: expect the same id "
        "and column_metas",
        f"GET {paths.DATASET_PUB_QUERY}?dataset_id=<unknown>: expect refused",
    ),
)
async def dataset_pub_query(ctx: CheckContext) -> None:
    unknown = await ctx.http.signed(
        "GET",
        paths.DATASET_PUB_QUERY,
        params={"contract_id": contract_id(ctx), "dataset_id": f"{ctx.ids.new('ns')}#none"},
        label="unknown dataset",
    )
    code = refusal(ctx, unknown, "dataset/pub/query of an unknown dataset")
    records = await public_datasets(ctx)
    if not records:
        ctx.note(f"an unknown dataset is refused (code {code}); the target publishes none")
        return
    wanted = str(records[0].get("dataset_id"))
    reply = await ctx.http.signed(
        "GET",
        paths.DATASET_PUB_QUERY,
        params={"contract_id": contract_id(ctx), "dataset_id": wanted},
        label="query",
    )
    data = success(ctx, reply, "dataset/pub/query")
    ctx.expect(
        isinstance(data, dict) and data.get("dataset_id") == wanted,
        f"dataset/pub/query answers another dataset than {wanted!r}",
    )
    ctx.expect(
        isinstance(data.get("column_metas"), list),
        "dataset/pub/query: column_metas is mandatory (§1.4)",
    )
    ctx.note(f"{wanted} answered with its column_metas; an unknown one refused ({code})")


def _apply_body(ctx: CheckContext, resource: str, audit_id: str, dataset: str | None) -> Any:
    contract = contract_id(ctx)
    if resource == "dataset":
        return {
            "audit_id": audit_id,
            "contract_id": contract,
            "dataset_id": dataset,
            "auth_scope": {"NODE": [ctx.kit.node_id]},
            "time_limit": -1,
            "times_limit": 1,
        }
    if resource == "project":
        return {
            "audit_id": audit_id,
            "contract_id": contract,
            "project_id": ctx.ids.new("prj"),
            "name": "conformance kit",
            "type": "PSI",
            "datasets": [],
        }
    if resource == "flow":
        return {
            "audit_id": audit_id,
            "flow_id": ctx.ids.new("flow"),
            "name": "conformance kit",
            "dag": {},
            "config": {},
        }
    if resource == "job":
        return {
            "audit_id": audit_id,
            "job_id": ctx.ids.new("job"),
            "flow_id": "",
            "name": "conformance kit",
            "project_id": "",
            "dag": {},
            "conf": {},
        }
    return {"audit_id": audit_id, "model_id": ctx.ids.new("model"), "apply_project_id": ""}


def _approval_check(resource: str) -> None:
    apply_path = paths.resource_approval(resource, "apply")
    query_path = paths.resource_approval(resource, "query")
    end_path = paths.resource_approval(resource, "terminate")

    async def run(ctx: CheckContext) -> None:
        dataset = None
        if resource == "dataset":
            records = await public_datasets(ctx)
            if not records:
                ctx.not_applicable("the target publishes no dataset to ask for")
            dataset = str(records[0].get("dataset_id"))
        audit_id = ctx.ids.new("audit")
        reply = await ctx.http.signed(
            "POST", apply_path, json=_apply_body(ctx, resource, audit_id, dataset), label="apply"
        )
        success(ctx, reply, f"{resource}/audit/apply")

        async def withdraw() -> None:
            await ctx.http.signed(
                "POST", end_path, json={"audit_id": audit_id}, label="cleanup: terminate"
            )

        ctx.cleanup(withdraw)
        if resource == "job":  # the spec lists no job/audit/query (§1.4)
            ended = await ctx.http.signed(
                "POST", end_path, json={"audit_id": audit_id}, label="terminate"
            )
            success(ctx, ended, "job/audit/terminate")
            ctx.note("job audit: apply, terminate (the spec defines no job/audit/query)")
            return
        status = await _status(ctx, query_path, audit_id)
        ctx.expect(status == "APPLIED", f"{resource} audit just applied reads {status!r}")
        ended = await ctx.http.signed(
            "POST", end_path, json={"audit_id": audit_id}, label="terminate"
        )
        success(ctx, ended, f"{resource}/audit/terminate")
        status = await _status(ctx, query_path, audit_id)
        ctx.expect(status == "TERMINATED", f"{resource} audit withdrawn reads {status!r}")
        unknown = await ctx.http.signed(
            "GET", query_path, params={"audit_id": ctx.ids.new("audit")}, label="query unknown"
        )
        code = refusal(ctx, unknown, f"{resource}/audit/query of an unknown audit")
        ctx.note(f"apply; query APPLIED; terminate; query TERMINATED; unknown refused ({code})")

    run.__name__ = f"approval_{resource}"
    check(
        f"mgmt.approval.{resource}",
        title=f"{resource}/audit apply, query, terminate",
        part=Part.MANAGEMENT,
        section="§1.3, §1.4",
        mutates=True,
        plan=(
            f"POST {apply_path} {{audit_id: <the kit's>, …}}, signed: expect code 0",
            f"GET {query_path}?audit_id=…: expect APPLIED",
            f"POST {end_path} (the requester withdraws): expect code 0",
            f"GET {query_path}: expect TERMINATED; an unknown audit_id: expect refused",
        ),
    )(run)


async def _status(ctx: CheckContext, path: str, audit_id: str) -> Any:
    reply = await ctx.http.signed("GET", path, params={"audit_id": audit_id}, label="query")
    data = success(ctx, reply, path.rsplit("/v1/interconn/", 1)[-1])
    return data.get("status") if isinstance(data, dict) else None


for _resource in ("dataset", "project", "flow", "job", "model"):
    _approval_check(_resource)
