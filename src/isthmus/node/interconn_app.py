"""The east-west app: the BFIA ``/v1/interconn/...`` endpoints partners call.

Assembly only: each plane's routes live in its module of ``isthmus.node.api``. Every
route but the four the spec leaves unsigned (health, node query, contract apply and
confirm) and the UAS endpoint (``api.tee``: its callers hold access keys, not node
contracts) depends on ``api.deps.ApprovedPeer`` or ``KnownPeer``, which run the full
authentication of ``node.auth`` before the body is even parsed; the body limit and the
trace (which also logs and counts 413 refusals) wrap them all.
"""

from __future__ import annotations

from fastapi import FastAPI

from isthmus import __version__
from isthmus.node.api import contracts, management, operations, schedule, tee
from isthmus.node.api.transport import routes as transport_routes
from isthmus.node.context import NodeContext
from isthmus.node.http import BodyLimitMiddleware, TraceMiddleware, install_error_handlers
from isthmus.wire import paths


def create_interconn_app(ctx: NodeContext) -> FastAPI:
    app = FastAPI(
        title=f"Isthmus interconn API ({ctx.node_id})",
        version=__version__,
        description="BFIA east-west API: what partner nodes call.",
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.ctx = ctx
    install_error_handlers(app)
    app.include_router(contracts.east_west)
    app.include_router(operations.east_west)
    app.include_router(transport_routes.east_west)
    app.include_router(schedule.east_west)
    app.include_router(management.east_west)
    app.include_router(tee.east_west)
    # Added last = outermost: the trace middleware also logs and counts 413 refusals.
    # The UAS endpoint has a limit of its own (``[tee] uas_max_body_bytes``): its callers
    # are access-key holders, not contract partners.
    limits = {paths.TEE_UAS_VERIFY: ctx.config.tee.uas_max_body_bytes}
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=ctx.config.interconn.max_body_bytes, larger=limits
    )
    app.add_middleware(TraceMiddleware, app_name="interconn", metrics=ctx.metrics)
    return app
