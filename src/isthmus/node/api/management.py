"""The management plane's routes (digest §1.4) beyond node contracts.

East-west (``east_west``, signed, approved contract): ``dataset/pub/list|query``
(metadata of public datasets), the approvals of resources
(``<dataset|project|flow|job|model>/audit/apply|confirm|terminate|query``, the spec's
spelling), ``project/list|query``. North-south (``north_south``, admin token): register
and list datasets, ask a partner for a resource, decide on partners' requests, end
approvals, browse a partner's datasets and the components it publishes to us.

Every id these routes take, in a body, a query or a path (dataset namespace, name and
id, approval, project and node ids), is checked against the one id pattern
(``isthmus.wire.ids``) before anything looks it up; a refusal names the field. Bodies are
read by the bounded JSON reader (``node.http``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from isthmus.management.approvals import INBOUND, OUTBOUND
from isthmus.node.api.deps import Actor, ApprovedPeer, Ctx, authorised
from isthmus.node.context import NodeContext
from isthmus.node.http import BoundedJsonRoute, request_fields
from isthmus.wire import paths
from isthmus.wire.envelope import ok
from isthmus.wire.errors import NotFound, ValidationFailed
from isthmus.wire.ids import Identifier, check_dataset_id, check_id
from isthmus.wire.management import AnyResourceId, AuditConfirm, AuditRef
from isthmus.wire.mprac import ResourceType

east_west = APIRouter(route_class=BoundedJsonRoute)
north_south = APIRouter(dependencies=[Depends(authorised)], route_class=BoundedJsonRoute)


def _page(items: list[Any], page_num: int, page_size: int) -> dict[str, Any]:
    if page_size < 0:
        return {"records": items, "total": len(items)}
    start = (max(page_num, 1) - 1) * page_size
    return {"records": items[start : start + page_size], "total": len(items)}


# --- east-west: datasets and projects ----------------------------------------------------


async def pub_list(
    ctx: Ctx,
    caller: ApprovedPeer,
    page_num: int = Query(default=1, ge=1),
    page_size: int = Query(default=20, ge=-1, le=1000),
) -> Any:
    datasets = ctx.datasets
    rows = await run_in_threadpool(lambda: datasets.list(public_only=True))
    records = [datasets.record(r).model_dump(mode="json") for r in rows]
    return ok(_page(records, page_num, page_size))


async def pub_query(
    ctx: Ctx,
    caller: ApprovedPeer,
    dataset_id: str = Query(min_length=1, max_length=256),
) -> Any:
    check_dataset_id(dataset_id, "dataset_id")
    row = await run_in_threadpool(ctx.datasets.get, dataset_id)
    if row is None or not row.public:
        raise NotFound(f"node {ctx.node_id} offers no dataset {dataset_id}")
    return ok(ctx.datasets.record(row).model_dump(mode="json"))


for _method in ("get", "post"):
    _route = getattr(east_west, _method)
    _route(paths.DATASET_PUB_LIST, operation_id=f"dataset_pub_list_{_method}")(pub_list)
    _route(paths.DATASET_PUB_QUERY, operation_id=f"dataset_pub_query_{_method}")(pub_query)


def _project_summary(project_id: str, request: dict[str, Any]) -> dict[str, Any]:
    return {
        "project_id": project_id,
        "name": request.get("name", ""),
        "type": request.get("type", ""),
        "description": request.get("description", ""),
    }


# --- east-west: approvals of resources ---------------------------------------------------


def resource_of(request: Request) -> ResourceType:
    """The resource type an approval route serves: its path's ``<resource>`` segment
    (each type has its own routes, registered below)."""
    resource = request.scope["route"].path.split("/")[3]
    return ResourceType(resource.upper())


async def _resource_of(request: Request) -> ResourceType:
    # FastAPI runs a plain ``def`` dependency in the thread pool: a hop on every approval
    # call for a string split. ``async def`` runs inline (as ``deps.Ctx`` does).
    return resource_of(request)


Resource = Annotated[ResourceType, Depends(_resource_of)]


async def approval_apply(request: Request, ctx: Ctx, caller: ApprovedPeer, kind: Resource) -> Any:
    body = await request_fields(request, query=False)
    await run_in_threadpool(ctx.approvals.receive_apply, caller.node_id, kind, body)
    return ok()


async def approval_confirm(
    body: AuditConfirm, ctx: Ctx, caller: ApprovedPeer, kind: Resource
) -> Any:
    await run_in_threadpool(ctx.approvals.receive_confirm, caller.node_id, kind, body)
    return ok()


async def approval_terminate(body: AuditRef, ctx: Ctx, caller: ApprovedPeer, kind: Resource) -> Any:
    await run_in_threadpool(ctx.approvals.receive_terminate, caller.node_id, kind, body.audit_id)
    return ok()


async def approval_query(
    ctx: Ctx,
    caller: ApprovedPeer,
    kind: Resource,
    audit_id: str = Query(min_length=1, max_length=128),
) -> Any:
    check_id(audit_id, "audit_id")
    return ok(await run_in_threadpool(ctx.approvals.receive_query, caller.node_id, kind, audit_id))


for _kind in ResourceType:
    _name = _kind.value.lower()
    for _action, _method, _handler in (
        ("apply", "post", approval_apply),
        ("confirm", "post", approval_confirm),
        ("terminate", "post", approval_terminate),
        ("query", "get", approval_query),
    ):
        getattr(east_west, _method)(
            paths.resource_approval(_name, _action), operation_id=f"{_name}_audit_{_action}"
        )(_handler)


@east_west.get(paths.PROJECT_LIST)
async def project_list(
    ctx: Ctx,
    caller: ApprovedPeer,
    page_num: int = Query(default=1, ge=1),
    page_size: int = Query(default=20, ge=-1, le=1000),
) -> Any:
    rows = await run_in_threadpool(ctx.approvals.approved_projects, caller.node_id)
    records = [_project_summary(r.resource_id, json.loads(r.request)) for r in rows]
    return ok(_page(records, page_num, page_size))


@east_west.get(paths.PROJECT_QUERY)
async def project_query(
    ctx: Ctx, caller: ApprovedPeer, project_id: str = Query(min_length=1, max_length=128)
) -> Any:
    check_id(project_id, "project_id")
    rows = await run_in_threadpool(ctx.approvals.approved_projects, caller.node_id)
    row = next((r for r in rows if r.resource_id == project_id), None)
    if row is None:
        raise NotFound(f"no project {project_id} shared with {caller.node_id}")
    request = json.loads(row.request)
    owner = ctx.node_id if row.direction == INBOUND else row.peer_node_id
    listed = [str(d.get("dataset_id")) for d in request.get("datasets", [])]
    return ok(
        {
            **_project_summary(project_id, request),
            "nodes": sorted({ctx.node_id, caller.node_id}),
            "datasets": {owner: listed},
        }
    )


# --- north-south: datasets ---------------------------------------------------------------


class DatasetRegistration(BaseModel):
    namespace: Identifier
    name: Identifier
    source: str = Field(pattern="^(csv|parquet|sql)$")
    location: str = Field(min_length=1, max_length=4096)
    table: str = Field(default="", max_length=256)
    description: str = Field(default="", max_length=2048)
    category: str = Field(default="", max_length=64)
    join_columns: list[str] = Field(default_factory=list)
    label_columns: list[str] = Field(default_factory=list)
    column_descriptions: dict[str, str] = Field(default_factory=dict)
    public: bool = True


def register_from(ctx: NodeContext, body: DatasetRegistration, actor: str) -> dict[str, Any]:
    """Register what an operator asked for, the one path both the admin API and the
    console take (worker thread: it inspects the source)."""
    return ctx.datasets.register(
        namespace=body.namespace,
        name=body.name,
        source=body.source,
        location=body.location,
        table_name=body.table,
        description=body.description,
        category=body.category,
        join_columns=body.join_columns,
        label_columns=body.label_columns,
        descriptions=body.column_descriptions,
        public=body.public,
        actor=actor,
    )


@north_south.post(paths.ADMIN_DATASETS)
async def register_dataset(body: DatasetRegistration, ctx: Ctx, actor: Actor) -> Any:
    return ok(await run_in_threadpool(register_from, ctx, body, actor))


@north_south.get(paths.ADMIN_DATASETS)
async def list_datasets(ctx: Ctx) -> Any:
    rows = await run_in_threadpool(ctx.datasets.list)
    return ok([ctx.datasets.view(r) for r in rows])


@north_south.get(paths.ADMIN_DATASET_ONE)
async def one_dataset(ctx: Ctx, dataset_id: str = Query(min_length=1, max_length=256)) -> Any:
    check_dataset_id(dataset_id, "dataset_id")
    row = await run_in_threadpool(ctx.datasets.get, dataset_id)
    if row is None:
        raise NotFound(f"no dataset {dataset_id}")
    return ok(ctx.datasets.view(row))


@north_south.post(paths.ADMIN_DATASET_REMOVE)
async def remove_dataset(ctx: Ctx, actor: Actor, dataset_id: str = Query(min_length=1)) -> Any:
    check_dataset_id(dataset_id, "dataset_id")
    await run_in_threadpool(ctx.datasets.remove, dataset_id, actor)
    return ok()


# --- north-south: approvals --------------------------------------------------------------


class ApprovalRequest(BaseModel):
    resource_type: ResourceType
    peer_node_id: Identifier
    #: The apply's own fields (``dataset_id``, ``times_limit``, ``project_id``…).
    fields: dict[str, Any] = Field(default_factory=dict)


class Decision(BaseModel):
    reason: str = Field(default="", max_length=1024)
    time_limit: int | None = Field(default=None, ge=-1)
    times_limit: int | None = Field(default=None, ge=-1)


class StandingGrant(BaseModel):
    peer_node_id: Identifier
    resource_type: ResourceType
    resource_id: AnyResourceId
    time_limit: int = Field(default=-1, ge=-1)
    times_limit: int = Field(default=-1, ge=-1)
    reason: str = Field(default="", max_length=1024)


class Ending(BaseModel):
    direction: str = Field(default=INBOUND, pattern=f"^({INBOUND}|{OUTBOUND})$")
    reason: str = Field(default="", max_length=1024)


def _check_approval_path(peer: str, audit_id: str) -> None:
    check_id(peer, "peer")
    check_id(audit_id, "audit_id")


@north_south.get(paths.ADMIN_APPROVALS)
async def list_approvals(ctx: Ctx, direction: str | None = None, status: str | None = None) -> Any:
    return ok(
        await run_in_threadpool(lambda: ctx.approvals.approvals(direction=direction, status=status))
    )


@north_south.post(paths.ADMIN_APPROVAL_APPLY)
async def apply_for_resource(body: ApprovalRequest, ctx: Ctx, actor: Actor) -> Any:
    return ok(
        await run_in_threadpool(
            ctx.approvals.apply, body.resource_type, body.peer_node_id, body.fields, actor
        )
    )


@north_south.post(paths.ADMIN_APPROVAL_GRANT)
async def grant(body: StandingGrant, ctx: Ctx, actor: Actor) -> Any:
    def _grant() -> dict[str, Any]:
        return ctx.approvals.grant(
            body.peer_node_id,
            body.resource_type,
            body.resource_id,
            actor=actor,
            time_limit=body.time_limit,
            times_limit=body.times_limit,
            reason=body.reason,
        )

    return ok(await run_in_threadpool(_grant))


@north_south.post(paths.ADMIN_APPROVAL_APPROVE)
async def approve(peer: str, audit_id: str, body: Decision, ctx: Ctx, actor: Actor) -> Any:
    _check_approval_path(peer, audit_id)

    def _approve() -> dict[str, Any]:
        return ctx.approvals.decide(
            peer,
            audit_id,
            approve=True,
            actor=actor,
            reason=body.reason,
            time_limit=body.time_limit,
            times_limit=body.times_limit,
        )

    return ok(await run_in_threadpool(_approve))


@north_south.post(paths.ADMIN_APPROVAL_REJECT)
async def reject(peer: str, audit_id: str, body: Decision, ctx: Ctx, actor: Actor) -> Any:
    _check_approval_path(peer, audit_id)
    if not body.reason:
        raise ValidationFailed("reason: say why the request is rejected")
    return ok(
        await run_in_threadpool(
            lambda: ctx.approvals.decide(
                peer, audit_id, approve=False, actor=actor, reason=body.reason
            )
        )
    )


@north_south.post(paths.ADMIN_APPROVAL_TERMINATE)
async def terminate(peer: str, audit_id: str, body: Ending, ctx: Ctx, actor: Actor) -> Any:
    _check_approval_path(peer, audit_id)
    return ok(
        await run_in_threadpool(
            lambda: ctx.approvals.terminate(
                peer, audit_id, body.direction, actor=actor, reason=body.reason
            )
        )
    )


@north_south.post(paths.ADMIN_APPROVAL_SYNC)
async def sync(ctx: Ctx) -> Any:
    return ok({"settled": await ctx.approvals.sync_pending(older_than_ms=0)})


async def partner_list(ctx: NodeContext, peer: str, path: str) -> Any:
    """A partner's east-west list at ``path`` (every page), called over our approved
    contract: what the partner routes below answer, and what the console shows."""
    check_id(peer, "peer")
    address = await run_in_threadpool(ctx.approvals.address_of, peer)
    return await ctx.peers.call(
        "GET", address, path, target_node_id=peer, params={"page_size": "-1"}
    )


@north_south.get(paths.ADMIN_PARTNER_DATASETS)
async def partner_datasets(peer: str, ctx: Ctx) -> Any:
    return ok(await partner_list(ctx, peer, paths.DATASET_PUB_LIST))


@north_south.get(paths.ADMIN_PARTNER_COMPONENTS)
async def partner_components(peer: str, ctx: Ctx) -> Any:
    """The ENABLED components ``peer`` lets us use in jobs with it (its
    ``component/list``)."""
    return ok(await partner_list(ctx, peer, paths.COMPONENT_LIST))
