"""The management plane's HTTP faces (digest §1.4) beyond node contracts.

East-west (signed, approved contract): ``dataset/pub/list|query`` (metadata of public
datasets), ``<dataset|project|flow|job|model>/audit/apply|confirm|terminate|query``,
``project/list|query``. North-south (admin API): register and list datasets, ask a
partner for a resource, decide on partners' requests, end approvals, browse a
partner's datasets.

Every id these routes take, in a body, a query or a path (dataset namespace, name and
id, audit, project and node ids), is checked against the one id pattern
(``isthmus.wire.ids``) before anything looks it up; a refusal names the field. Bodies are
read by the bounded JSON reader (``node.http``).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from isthmus.management.approvals import INBOUND, OUTBOUND
from isthmus.node.auth import Caller
from isthmus.node.context import NodeContext
from isthmus.node.http import BoundedJsonRoute, request_fields
from isthmus.wire.envelope import ok
from isthmus.wire.errors import NotFound, ValidationFailed
from isthmus.wire.ids import Identifier, check_dataset_id, check_id
from isthmus.wire.management import AnyResourceId, AuditConfirm, AuditRef
from isthmus.wire.mprac import ResourceType

INTERCONN = "/v1/interconn"


def _page(items: list[Any], page_num: int, page_size: int) -> dict[str, Any]:
    if page_size < 0:
        return {"records": items, "total": len(items)}
    start = (max(page_num, 1) - 1) * page_size
    return {"records": items[start : start + page_size], "total": len(items)}


def management_router(ctx: NodeContext, require_peer: Any) -> APIRouter:
    router = APIRouter(route_class=BoundedJsonRoute)
    datasets, audits = ctx.datasets, ctx.audits

    async def pub_list(
        caller: Caller = Depends(require_peer),
        page_num: int = Query(default=1, ge=1),
        page_size: int = Query(default=20, ge=-1, le=1000),
    ) -> Any:
        rows = await run_in_threadpool(lambda: datasets.list(public_only=True))
        records = [datasets.record(r).model_dump(mode="json") for r in rows]
        return ok(_page(records, page_num, page_size))

    async def pub_query(
        dataset_id: str = Query(min_length=1, max_length=256),
        caller: Caller = Depends(require_peer),
    ) -> Any:
        check_dataset_id(dataset_id, "dataset_id")
        row = await run_in_threadpool(datasets.get, dataset_id)
        if row is None or not row.public:
            raise NotFound(f"node {ctx.node_id} offers no dataset {dataset_id}")
        return ok(datasets.record(row).model_dump(mode="json"))

    for method in ("get", "post"):
        route = getattr(router, method)
        route(f"{INTERCONN}/dataset/pub/list", operation_id=f"dataset_pub_list_{method}")(pub_list)
        route(f"{INTERCONN}/dataset/pub/query", operation_id=f"dataset_pub_query_{method}")(
            pub_query
        )

    for kind in ResourceType:
        _audit_routes(router, ctx, kind, require_peer)

    @router.get(f"{INTERCONN}/project/list")
    async def project_list(
        caller: Caller = Depends(require_peer),
        page_num: int = Query(default=1, ge=1),
        page_size: int = Query(default=20, ge=-1, le=1000),
    ) -> Any:
        rows = await run_in_threadpool(audits.approved_projects, caller.node_id)
        requests = [(r.resource_id, json.loads(r.request)) for r in rows]
        records = [
            {
                "project_id": project_id,
                "name": request.get("name", ""),
                "type": request.get("type", ""),
                "description": request.get("description", ""),
            }
            for project_id, request in requests
        ]
        return ok(_page(records, page_num, page_size))

    @router.get(f"{INTERCONN}/project/query")
    async def project_query(
        project_id: str = Query(min_length=1, max_length=128),
        caller: Caller = Depends(require_peer),
    ) -> Any:
        check_id(project_id, "project_id")
        rows = await run_in_threadpool(audits.approved_projects, caller.node_id)
        row = next((r for r in rows if r.resource_id == project_id), None)
        if row is None:
            raise NotFound(f"no project {project_id} shared with {caller.node_id}")
        request = json.loads(row.request)
        owner = ctx.node_id if row.direction == INBOUND else row.peer_node_id
        listed = [str(d.get("dataset_id")) for d in request.get("datasets", [])]
        return ok(
            {
                "project_id": project_id,
                "name": request.get("name", ""),
                "type": request.get("type", ""),
                "description": request.get("description", ""),
                "nodes": sorted({ctx.node_id, caller.node_id}),
                "datasets": {owner: listed},
            }
        )

    return router


def _audit_routes(
    router: APIRouter, ctx: NodeContext, kind: ResourceType, require_peer: Any
) -> None:
    base = f"{INTERCONN}/{kind.value.lower()}/audit"
    audits = ctx.audits
    name = kind.value.lower()

    async def apply(request: Request, caller: Caller = Depends(require_peer)) -> Any:
        body = await request_fields(request, query=False)
        await run_in_threadpool(audits.receive_apply, caller.node_id, kind, body)
        return ok()

    async def confirm(body: AuditConfirm, caller: Caller = Depends(require_peer)) -> Any:
        await run_in_threadpool(audits.receive_confirm, caller.node_id, kind, body)
        return ok()

    async def terminate(body: AuditRef, caller: Caller = Depends(require_peer)) -> Any:
        await run_in_threadpool(audits.receive_terminate, caller.node_id, kind, body.audit_id)
        return ok()

    async def query(
        audit_id: str = Query(min_length=1, max_length=128),
        caller: Caller = Depends(require_peer),
    ) -> Any:
        check_id(audit_id, "audit_id")
        return ok(await run_in_threadpool(audits.receive_query, caller.node_id, kind, audit_id))

    router.post(f"{base}/apply", operation_id=f"{name}_audit_apply")(apply)
    router.post(f"{base}/confirm", operation_id=f"{name}_audit_confirm")(confirm)
    router.post(f"{base}/terminate", operation_id=f"{name}_audit_terminate")(terminate)
    router.get(f"{base}/query", operation_id=f"{name}_audit_query")(query)


# --- north-south ------------------------------------------------------------------------


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


class AuditRequest(BaseModel):
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


def _check_audit_path(peer: str, audit_id: str) -> None:
    check_id(peer, "peer")
    check_id(audit_id, "audit_id")


def management_admin_router(ctx: NodeContext, authorised: Any, operator: Any) -> APIRouter:
    api = APIRouter(
        prefix="/admin/v1", dependencies=[Depends(authorised)], route_class=BoundedJsonRoute
    )
    datasets, audits = ctx.datasets, ctx.audits

    @api.post("/datasets")
    async def register(body: DatasetRegistration, request: Request) -> Any:
        def _register() -> dict[str, Any]:
            return datasets.register(
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
                actor=operator(request),
            )

        return ok(await run_in_threadpool(_register))

    @api.get("/datasets")
    async def list_datasets() -> Any:
        rows = await run_in_threadpool(datasets.list)
        return ok([datasets.view(r) for r in rows])

    @api.get("/datasets/one")
    async def one_dataset(dataset_id: str = Query(min_length=1, max_length=256)) -> Any:
        check_dataset_id(dataset_id, "dataset_id")
        row = await run_in_threadpool(datasets.get, dataset_id)
        if row is None:
            raise NotFound(f"no dataset {dataset_id}")
        return ok(datasets.view(row))

    @api.post("/datasets/remove")
    async def remove(request: Request, dataset_id: str = Query(min_length=1)) -> Any:
        check_dataset_id(dataset_id, "dataset_id")
        await run_in_threadpool(datasets.remove, dataset_id, operator(request))
        return ok()

    @api.get("/audits")
    async def list_audits(direction: str | None = None, status: str | None = None) -> Any:
        return ok(
            await run_in_threadpool(lambda: audits.audits(direction=direction, status=status))
        )

    @api.post("/audits/apply")
    async def apply(body: AuditRequest, request: Request) -> Any:
        actor = operator(request)
        return ok(
            await run_in_threadpool(
                audits.apply, body.resource_type, body.peer_node_id, body.fields, actor
            )
        )

    @api.post("/audits/grant")
    async def grant(body: StandingGrant, request: Request) -> Any:
        def _grant() -> dict[str, Any]:
            return audits.grant(
                body.peer_node_id,
                body.resource_type,
                body.resource_id,
                actor=operator(request),
                time_limit=body.time_limit,
                times_limit=body.times_limit,
                reason=body.reason,
            )

        return ok(await run_in_threadpool(_grant))

    @api.post("/audits/{peer}/{audit_id}/approve")
    async def approve(peer: str, audit_id: str, body: Decision, request: Request) -> Any:
        _check_audit_path(peer, audit_id)

        def _approve() -> dict[str, Any]:
            return audits.decide(
                peer,
                audit_id,
                approve=True,
                actor=operator(request),
                reason=body.reason,
                time_limit=body.time_limit,
                times_limit=body.times_limit,
            )

        return ok(await run_in_threadpool(_approve))

    @api.post("/audits/{peer}/{audit_id}/reject")
    async def reject(peer: str, audit_id: str, body: Decision, request: Request) -> Any:
        _check_audit_path(peer, audit_id)
        if not body.reason:
            raise ValidationFailed("reason: say why the request is rejected")

        def _reject() -> dict[str, Any]:
            return audits.decide(
                peer, audit_id, approve=False, actor=operator(request), reason=body.reason
            )

        return ok(await run_in_threadpool(_reject))

    @api.post("/audits/{peer}/{audit_id}/terminate")
    async def terminate(peer: str, audit_id: str, body: Ending, request: Request) -> Any:
        _check_audit_path(peer, audit_id)

        def _terminate() -> dict[str, Any]:
            return audits.terminate(
                peer, audit_id, body.direction, actor=operator(request), reason=body.reason
            )

        return ok(await run_in_threadpool(_terminate))

    @api.post("/audits/sync")
    async def sync() -> Any:
        return ok({"settled": await audits.sync_pending(older_than_ms=0)})

    @api.get("/partners/{peer}/datasets")
    async def partner_datasets(peer: str) -> Any:
        check_id(peer, "peer")
        address = await run_in_threadpool(audits.address_of, peer)
        data = await ctx.peers.call(
            "GET",
            address,
            f"{INTERCONN}/dataset/pub/list",
            target_node_id=peer,
            params={"page_size": "-1"},
        )
        return ok(data)

    return api
